package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

const clientUsage = `Usage:
  jumpkv get KEY [-v]                   print the value of KEY (-v: with its version and content type)
  jumpkv put KEY [VALUE]                set KEY to VALUE (read from stdin when VALUE is omitted)
        [--content-type T] [--if-match VERSION | --if-absent] [--ttl 1h]
  jumpkv del KEY [--if-match VERSION]   delete KEY
  jumpkv del --prefix PREFIX [--yes]    delete every key under PREFIX (asks first when there are more than 10)
  jumpkv ls [PREFIX]                    list keys (all pages), optionally under PREFIX
  jumpkv status                         the cluster as a table: leader, term, mode, each node (also: members)
  jumpkv member remove ID|NAME          take a dead node that will not come back out of the cluster
  jumpkv watch [PREFIX] [--since V]     print changes under PREFIX as they happen
  jumpkv health                         exit 0 when a node answers /healthz

Flags go anywhere on the line. --addr takes a comma-separated list of node
URLs (default http://127.0.0.1:8080, or $JUMPKV_ADDR); a request that cannot
reach one goes to the next. A node serving HTTPS (--tls-cert) takes --addr
https://...; add --cacert FILE to verify its certificate with your CA, or
--insecure to skip the check. -o json prints JSON instead of text.

Flags:
`

// clientCommands are the commands runClient serves, with the number of
// arguments each takes (at least, at most).
var clientCommands = map[string][2]int{
	"get": {1, 1}, "put": {1, 2}, "del": {0, 1}, "ls": {0, 1}, "health": {0, 0},
	"status": {0, 0}, "members": {0, 0}, "member": {2, 2}, "watch": {0, 1},
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	addr     listFlag
	timeout  time.Duration
	output   string
	user     string
	password string
	tls      func() (*tls.Config, error)
}

// addClientFlags adds the flags every client command takes to fs.
func addClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{addr: listFlag{"http://127.0.0.1:8080"}}
	fs.Var(&cf.addr, "addr", "comma-separated base URLs of nodes, tried in order ($JUMPKV_ADDR)")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "how long to wait for each answer")
	fs.StringVar(&cf.output, "o", "text", "output: text or json")
	fs.StringVar(&cf.output, "output", "text", "output: text or json (as -o)")
	fs.StringVar(&cf.user, "user", "", "user name for a node with --users (HTTP Basic; use https://)")
	fs.StringVar(&cf.password, "password", "", "password of --user (prefer $JUMPKV_PASSWORD: a flag shows in the process list)")
	cf.tls = addClientTLSFlags(fs)
	return cf
}

// newClient checks the flags and returns the client they describe.
func (cf *clientFlags) newClient(opts ...client.Option) (*client.Client, error) {
	if cf.output != "text" && cf.output != "json" {
		return nil, usagef("-o %q: want text or json", cf.output)
	}
	if len(cf.addr) == 0 {
		return nil, usagef("--addr: no URL given")
	}
	tlsCfg, err := cf.tls()
	if err != nil {
		return nil, usagef("%v", err)
	}
	opts = append(opts, client.WithTLS(tlsCfg), client.WithTimeout(cf.timeout))
	if cf.user != "" {
		opts = append(opts, client.WithBasicAuth(cf.user, cf.password))
	}
	c, err := client.New(cf.addr, opts...)
	if err != nil {
		return nil, usagef("--addr: %s", strings.TrimPrefix(err.Error(), "jumpkv client: "))
	}
	return c, nil
}

// cmdFlags are the flags of one client command besides the common ones.
type cmdFlags struct {
	contentType string
	ifMatch     string
	ifAbsent    bool
	ttl         time.Duration
	verbose     bool
	prefix      optionalString
	yes         bool
	since       string
}

// runClient runs a client command through the client package (which
// retries 503s, fails over across --addr's endpoints and reports unknown
// outcomes). Exit codes: 0 done, 1 failed, 2 a usage mistake.
func runClient(ctx context.Context, cmd string, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jumpkv "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clientUsage); fs.PrintDefaults() }
	cf := addClientFlags(fs)
	var f cmdFlags
	switch cmd {
	case "get":
		fs.BoolVar(&f.verbose, "v", false, "also print the version, content type, size and expiry")
	case "put":
		fs.StringVar(&f.contentType, "content-type", "", "Content-Type stored with the value")
		fs.StringVar(&f.ifMatch, "if-match", "", "write only while the key's version is this one (from get -v or an earlier put)")
		fs.BoolVar(&f.ifAbsent, "if-absent", false, "write only if the key does not exist")
		fs.DurationVar(&f.ttl, "ttl", 0, "expire the key this long after the write (at least 1s)")
	case "del":
		fs.StringVar(&f.ifMatch, "if-match", "", "delete only while the key's version is this one")
		fs.Var(&f.prefix, "prefix", "delete every key under this prefix (\"\" is every key)")
		fs.BoolVar(&f.yes, "yes", false, "with --prefix, do not ask before deleting")
	case "watch":
		fs.StringVar(&f.since, "since", "", "resume after this version (from an earlier event)")
	}
	rest, err := parseFlags(fs, args, env)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return 0
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "jumpkv %s: %s\n", cmd, cliError(err))
		return code
	}
	if err != nil {
		return fail(2, err)
	}
	if need := clientCommands[cmd]; len(rest) < need[0] || len(rest) > need[1] {
		return fail(2, usagef("%s (jumpkv %s --help)", arityMessage(cmd, rest), cmd))
	}
	switch {
	case cmd == "put" && f.ifMatch != "" && f.ifAbsent:
		return fail(2, usagef("--if-match and --if-absent can never both hold: give one"))
	case cmd == "put" && f.ttl != 0 && f.ttl < time.Second:
		return fail(2, usagef("--ttl %v: want at least 1s", f.ttl))
	case cmd == "del" && f.prefix.set && f.ifMatch != "":
		return fail(2, usagef("--if-match applies to one key, not to --prefix"))
	case cmd == "del" && f.prefix.set && len(rest) != 0:
		return fail(2, usagef("want KEY or --prefix PREFIX, not both"))
	case cmd == "del" && !f.prefix.set && len(rest) != 1:
		return fail(2, usagef("want KEY, or --prefix PREFIX (jumpkv del --help)"))
	case cmd == "member" && rest[0] != "remove" && rest[0] != "rm":
		return fail(2, usagef("unknown subcommand %q: want member remove ID|NAME", rest[0]))
	}
	var opts []client.Option
	if cmd == "watch" {
		opts = append(opts, client.WithWatchKeepalive(watchKeepalive))
	}
	c, err := cf.newClient(opts...)
	if err != nil {
		return fail(2, err)
	}
	defer c.Close()
	out := &output{w: stdout, json: cf.output == "json", terminal: isTerminal(stdout)}
	switch cmd {
	case "get":
		err = cmdGet(ctx, c, rest[0], f.verbose, out)
	case "put":
		err = cmdPut(ctx, c, rest, f, stdin, out)
	case "del":
		if f.prefix.set {
			err = cmdDelPrefix(ctx, c, f.prefix.v, f.yes, stdin, stderr, out)
		} else {
			err = cmdDel(ctx, c, rest[0], f.ifMatch, out)
		}
	case "ls":
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		err = cmdList(ctx, c, prefix, out)
	case "health":
		if err = c.Health(ctx); err == nil && out.json {
			err = out.encode(map[string]string{"status": "ok"})
		}
	case "status", "members":
		err = cmdStatus(ctx, c, out)
	case "member":
		err = cmdMemberRemove(ctx, c, rest[1], out)
	case "watch":
		err = cmdWatch(ctx, c, rest, f.since, out, stderr)
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return fail(2, err)
		}
		return fail(1, err)
	}
	return 0
}

// optionalString is a string flag that knows whether it was given (so
// that --prefix "" is told apart from no --prefix).
type optionalString struct {
	v   string
	set bool
}

func (o *optionalString) String() string { return o.v }

func (o *optionalString) Set(v string) error {
	o.v, o.set = v, true
	return nil
}

// arityMessage says what is wrong with a command's arguments.
func arityMessage(cmd string, rest []string) string {
	want := map[string]string{
		"get": "KEY", "put": "KEY [VALUE]", "del": "KEY", "ls": "[PREFIX]", "health": "no argument",
		"status": "no argument", "members": "no argument", "member": "remove ID|NAME", "watch": "[PREFIX]",
	}[cmd]
	if len(rest) == 0 {
		return "want " + want
	}
	args := "arguments"
	if len(rest) == 1 {
		args = "argument"
	}
	msg := fmt.Sprintf("want %s, got %d %s %q", want, len(rest), args, rest)
	if cmd == "put" {
		msg += "; quote a value with spaces"
	}
	return msg
}

// output writes a command's results as text or JSON.
type output struct {
	w        io.Writer
	json     bool
	terminal bool // w is a terminal: values end with a newline
}

// encode writes v as one line of JSON.
func (o *output) encode(v any) error { return json.NewEncoder(o.w).Encode(v) }

// isTerminal reports whether w is a terminal (a character device), where
// a value printed without a trailing newline would run into the prompt.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal() // tests
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// isTerminalReader reports whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// valueJSON is a value in -o json output; Value is base64, as in watch
// events.
type valueJSON struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	Version     string `json:"version"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	Expires     string `json:"expires,omitempty"`
}

func cmdGet(ctx context.Context, c *client.Client, key string, verbose bool, out *output) error {
	if out.json {
		v, err := c.Get(ctx, key)
		if err != nil {
			return err
		}
		j := valueJSON{Key: v.Key, Value: v.Data, Version: v.Version, ContentType: v.ContentType, Size: len(v.Data)}
		if !v.Expires.IsZero() {
			j.Expires = v.Expires.UTC().Format(time.RFC3339)
		}
		return out.encode(j)
	}
	r, err := c.GetReader(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if verbose {
		expires := "never"
		if !r.Expires.IsZero() {
			expires = fmt.Sprintf("%s (in %s)", r.Expires.UTC().Format(time.RFC3339), time.Until(r.Expires).Round(time.Second))
		}
		size := "unknown"
		if r.Size >= 0 {
			size = fmt.Sprintf("%d bytes", r.Size)
		}
		fmt.Fprintf(out.w, "key:          %s\nversion:      %s\ncontent-type: %s\nsize:         %s\nexpires:      %s\n\n",
			r.Key, r.Version, r.ContentType, size, expires)
	}
	last := &lastByte{w: out.w}
	if _, err := io.Copy(last, r); err != nil {
		return fmt.Errorf("reading the value: %w", err)
	}
	if (out.terminal || verbose) && last.n > 0 && last.b != '\n' {
		_, err = fmt.Fprintln(out.w) // keep the prompt off the value's line
	}
	return err
}

// lastByte passes writes on, remembering the last byte written.
type lastByte struct {
	w io.Writer
	b byte
	n int64
}

func (l *lastByte) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.b, l.n = p[n-1], l.n+int64(n)
	}
	return n, err
}

func cmdPut(ctx context.Context, c *client.Client, rest []string, f cmdFlags, stdin io.Reader, out *output) error {
	var value []byte
	if len(rest) == 2 {
		value = []byte(rest[1])
	} else {
		var err error
		if value, err = io.ReadAll(io.LimitReader(stdin, 64<<20+1)); err != nil {
			return fmt.Errorf("reading the value from stdin: %w", err)
		}
		if len(value) > 64<<20 {
			return errors.New("the value on stdin is larger than 64MiB, more than any node accepts")
		}
	}
	var opts []client.WriteOption
	if f.contentType != "" {
		opts = append(opts, client.ContentType(f.contentType))
	}
	if f.ifMatch != "" {
		opts = append(opts, client.IfMatch(f.ifMatch))
	}
	if f.ifAbsent {
		opts = append(opts, client.IfNoneMatch())
	}
	if f.ttl != 0 {
		opts = append(opts, client.TTL(f.ttl))
	}
	version, err := c.Put(ctx, rest[0], value, opts...)
	switch {
	case errors.Is(err, client.ErrPrecondition) && f.ifAbsent:
		return fmt.Errorf("%s exists: not written (--if-absent)", rest[0])
	case errors.Is(err, client.ErrPrecondition):
		return fmt.Errorf("%s is not at version %s (or is absent): not written (--if-match)", rest[0], f.ifMatch)
	case err != nil:
		return err
	case out.json:
		return out.encode(map[string]string{"key": rest[0], "version": version})
	}
	_, err = fmt.Fprintf(out.w, "ok, version %s\n", version)
	return err
}

func cmdDel(ctx context.Context, c *client.Client, key, ifMatch string, out *output) error {
	var opts []client.WriteOption
	if ifMatch != "" {
		opts = append(opts, client.IfMatch(ifMatch))
	}
	err := c.Delete(ctx, key, opts...)
	switch {
	case errors.Is(err, client.ErrPrecondition):
		return fmt.Errorf("%s is not at version %s: not deleted (--if-match)", key, ifMatch)
	case err != nil:
		return err
	case out.json:
		return out.encode(map[string]any{"key": key, "deleted": true})
	}
	return nil
}

// askAbove is how many keys del --prefix deletes without asking.
const askAbove = 10

// maxDeletePrefix bounds the keys del --prefix holds in memory.
const maxDeletePrefix = 1_000_000

// cmdDelPrefix deletes every key under prefix, asking on stdin first when
// there are more than askAbove (unless yes).
func cmdDelPrefix(ctx context.Context, c *client.Client, prefix string, yes bool, stdin io.Reader, stderr io.Writer, out *output) error {
	var keys []string
	for key, err := range c.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if len(keys) == maxDeletePrefix {
			return fmt.Errorf("more than %d keys under %q: delete a narrower prefix first", maxDeletePrefix, prefix)
		}
		keys = append(keys, key)
	}
	if len(keys) > askAbove && !yes {
		fmt.Fprintf(stderr, "delete %d keys under %q (%s, ...)? [y/N] ", len(keys), prefix, strings.Join(keys[:3], ", "))
		answer, _ := readLine(stdin)
		if !isTerminalReader(stdin) {
			fmt.Fprintln(stderr) // the answer came from a pipe: end the prompt's line
		}
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return fmt.Errorf("nothing deleted: %d keys under %q need a yes (or --yes)", len(keys), prefix)
		}
	}
	deleted := 0
	for _, key := range keys {
		err := c.Delete(ctx, key)
		if errors.Is(err, client.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("after deleting %d of %d keys: %w", deleted, len(keys), err)
		}
		deleted++
	}
	if out.json {
		return out.encode(map[string]any{"prefix": prefix, "deleted": deleted})
	}
	_, err := fmt.Fprintf(out.w, "deleted %d keys under %q\n", deleted, prefix)
	return err
}

// readLine reads one line from r, a byte at a time (so that nothing after
// it is consumed), up to 1KiB.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 1024 {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

func cmdList(ctx context.Context, c *client.Client, prefix string, out *output) error {
	n := 0
	for key, err := range c.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if out.json {
			sep := ","
			if n == 0 {
				sep = "["
			}
			k, _ := json.Marshal(key)
			if _, err := fmt.Fprintf(out.w, "%s%s", sep, k); err != nil {
				return err
			}
		} else if _, err := fmt.Fprintln(out.w, key); err != nil {
			return err
		}
		n++
	}
	if out.json {
		if n == 0 {
			_, err := fmt.Fprintln(out.w, "[]")
			return err
		}
		_, err := fmt.Fprintln(out.w, "]")
		return err
	}
	return nil
}

// cliError words an error for the command line, in one line: the
// server's message with its status and code, what could not be reached
// and what to try, or the mistake in the command.
func cliError(err error) string {
	var e *client.Error
	if !errors.As(err, &e) {
		return strings.TrimPrefix(err.Error(), "jumpkv: ")
	}
	hint := tlsHint(err)
	switch {
	case e.Status != 0 && e.Message != "":
		return fmt.Sprintf("%s (HTTP %d, %s)%s", e.Message, e.Status, e.Code, hint)
	case errors.Is(err, client.ErrNoEndpoint):
		return fmt.Sprintf("cannot reach %s (%s): is a node running there? Set --addr or JUMPKV_ADDR to nodes that are",
			hostOf(e.Endpoint), rootCause(e.Err))
	case e.Status == 0 && errors.Is(err, client.ErrUnknownOutcome):
		return fmt.Sprintf("no answer from %s (%s): the write may or may not have taken effect; read the key to know",
			hostOf(e.Endpoint), rootCause(e.Err))
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("cannot reach %s (%s)%s", hostOf(e.Endpoint), rootCause(e.Err), hint)
	}
	return strings.TrimPrefix(err.Error(), "jumpkv: ") + hint
}

// hostOf returns an endpoint's host:port, or the endpoint.
func hostOf(ep string) string {
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		return u.Host
	}
	return ep
}

// rootCause returns the innermost words of a transport error ("connection
// refused" rather than the whole chain of dial and syscall).
func rootCause(err error) string {
	if err == nil {
		return "no answer"
	}
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if all := u.Unwrap(); len(all) > 0 {
				err = all[len(all)-1] // "kind: cause" wraps the cause last
				continue
			}
		}
		return err.Error()
	}
}

// addClientTLSFlags adds --insecure and --cacert to fs; the returned
// function gives their TLS settings once fs is parsed.
func addClientTLSFlags(fs *flag.FlagSet) func() (*tls.Config, error) {
	insecure := fs.Bool("insecure", false, "with an https:// --addr, skip verifying the node's certificate")
	cacert := fs.String("cacert", "", "with an https:// --addr, PEM file of the CA certificate(s) to verify the node's certificate with (default: the system's)")
	return func() (*tls.Config, error) { return clientTLS(*insecure, *cacert) }
}

// clientTLS returns the TLS settings of --insecure and --cacert.
func clientTLS(insecure bool, cacert string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case insecure && cacert != "":
		return nil, errors.New("--insecure skips verification and --cacert verifies: give one of them")
	case insecure:
		cfg.InsecureSkipVerify = true
	case cacert != "":
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in the file", cacert)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// tlsHint suggests the flags that fix a failed certificate check.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) {
		return " (verify the node's certificate with --cacert FILE, or skip the check with --insecure)"
	}
	return ""
}
