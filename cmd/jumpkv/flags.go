package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// envName returns the environment variable of a flag: --dead-after is
// JUMPKV_DEAD_AFTER.
func envName(flagName string) string {
	return "JUMPKV_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseWithEnv parses args into fs, then takes every flag not given on the
// command line from its JUMPKV_* variable in env, if set: a flag beats the
// environment.
func parseWithEnv(fs *flag.FlagSet, args, env []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return fromEnv(fs, env)
}

// sizeFlag is a byte size such as 1MiB, 512KiB, 64KB or 1048576.
type sizeFlag int

func (s *sizeFlag) String() string { return formatSize(int(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10}, {"B", 1},
}

// parseSize parses a byte count with an optional unit.
func parseSize(v string) (int, error) {
	v = strings.TrimSpace(v)
	mult := 1
	for _, u := range sizeUnits {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<40 {
		return 0, fmt.Errorf("not a size: want a byte count like 1MiB, 512KiB or 65536")
	}
	return int(n * float64(mult)), nil
}

func formatSize(n int) string {
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.Itoa(n/u.mult) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

// replicasFlag is a copy count or "auto" (0).
type replicasFlag int

func (r *replicasFlag) String() string {
	if *r == 0 {
		return "auto"
	}
	return strconv.Itoa(int(*r))
}

func (r *replicasFlag) Set(v string) error {
	if v == "auto" {
		*r = 0
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("want a positive number of copies or auto")
	}
	*r = replicasFlag(n)
	return nil
}

// idFlag is --id: a node ID, or ordinal:NAME for a StatefulSet pod.
type idFlag uint64

func (v *idFlag) String() string { return strconv.FormatUint(uint64(*v), 10) }

func (v *idFlag) Set(s string) error {
	id, err := parseNodeID(s)
	if err != nil {
		return err
	}
	*v = idFlag(id)
	return nil
}

// ordinalPrefix marks an --id taken from a name's trailing ordinal.
const ordinalPrefix = "ordinal:"

// parseNodeID parses an --id value: a whole number, or ordinal:NAME, where
// NAME ends in -<n> (a StatefulSet pod's name, jumpkv-0, jumpkv-1, ...),
// which gives n+1, so that every pod has a nonzero ID that stays the same
// across its restarts. Kubernetes expands ordinal:$(POD_NAME) in a
// container's args; there is no shell in the image to compute it.
func parseNodeID(s string) (uint64, error) {
	name, ok := strings.CutPrefix(s, ordinalPrefix)
	if !ok {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, or %sNAME for a name ending in -<number>", ordinalPrefix)
		}
		return id, nil
	}
	if strings.Contains(name, "$(") {
		return 0, fmt.Errorf("%s is not expanded: define the variable in the container's env (e.g. POD_NAME from metadata.name)", name)
	}
	i := strings.LastIndexByte(name, '-')
	n, err := strconv.ParseUint(name[i+1:], 10, 31) // a StatefulSet ordinal is an int32
	if i < 1 || err != nil {
		return 0, fmt.Errorf("%q does not end in -<number> as a StatefulSet pod's name does (jumpkv-0)", name)
	}
	return n + 1, nil
}

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseFlags parses args into fs, accepting flags anywhere among the
// arguments (`get KEY --addr X` as `get --addr X KEY`), then fills every
// flag not given from its JUMPKV_* variable in env. It returns the
// arguments that are not flags, in order; everything after "--" is
// returned as is. Nothing is printed: a mistake comes back as an error
// worded for the command line (see flagError), and --help as
// flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args, env []string) ([]string, error) {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...) // "--" ends the flags
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if err := fromEnv(fs, env); err != nil {
		return nil, err
	}
	return positional, nil
}

// fromEnv sets every flag of fs not given on the command line from its
// JUMPKV_* variable in env, if set.
func fromEnv(fs *flag.FlagSet, env []string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := vars[envName(f.Name)]
		if given[f.Name] || !ok || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %s", envName(f.Name), v, want(f, e))
		}
	})
	return err
}

// usageError is a command-line mistake: the command exits 2 with its
// message and no usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

var (
	badValue   = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	noValue    = regexp.MustCompile(`^flag needs an argument: -(\S+)$`)
	undefined  = regexp.MustCompile(`^flag provided but not defined: -(\S+)$`)
	boolSyntax = regexp.MustCompile(`^invalid boolean flag (\S+): (.*)$`)
)

// flagError words an error of the flag package in one line that says what
// was expected: `--dead-after banana: want a duration such as 2s or 500ms`.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			return usagef("--%s %q: %s", m[2], m[1], want(f, errors.New(m[3])))
		}
	}
	if m := noValue.FindStringSubmatch(msg); m != nil {
		return usagef("--%s needs a value", m[1])
	}
	if m := undefined.FindStringSubmatch(msg); m != nil {
		if _, err := strconv.ParseFloat(m[1], 64); err == nil {
			return usagef("unknown flag -%s: a value that starts with - goes after --, as in %s KEY -- -%s", m[1], fs.Name(), m[1])
		}
		return usagef("unknown flag --%s (%s --help lists the flags)", m[1], fs.Name())
	}
	if m := boolSyntax.FindStringSubmatch(msg); m != nil {
		return usagef("--%s: want true or false", m[1])
	}
	return usagef("%s", msg)
}

// want says what a flag's value should look like, from its type; a flag
// of this package's own types says it in err already.
func want(f *flag.Flag, err error) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return strings.TrimPrefix(err.Error(), "parse error: ")
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration such as 2s, 500ms or 1m30s"
	case bool:
		return "want true or false"
	case int, int64, uint, uint64:
		if errors.Is(err, strconv.ErrRange) || strings.Contains(err.Error(), "out of range") {
			return "out of range"
		}
		return "want a whole number"
	case float64:
		return "want a number such as 0.5"
	}
	return err.Error()
}

// hoistFlags moves flags given before the command (`jumpkv --addr X get
// k`) to after it, where the command parses them. isBool tells the flags
// that take no value. It returns args unchanged when they do not start
// with a flag, or when no command follows.
func hoistFlags(args []string, isBool func(name string) bool) []string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--" {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		i++
		if !hasValue && !isBool(name) && i < len(args) {
			i++ // the flag's value
		}
	}
	if i == 0 || i >= len(args) || strings.HasPrefix(args[i], "-") {
		return args
	}
	out := append([]string{args[i]}, args[:i]...)
	return append(out, args[i+1:]...)
}
