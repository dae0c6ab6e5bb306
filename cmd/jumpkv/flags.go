package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
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
			err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
		}
	})
	return err
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
