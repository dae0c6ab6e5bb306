package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jumpkv/jumpkv/client"
)

const watchUsage = `Usage: jumpkv watch [flags] [PREFIX]

Prints every change under PREFIX as one JSON object per line, as the node
streams it: {"type":"put","key":...,"value":<base64>,"version":...},
{"type":"delete",...}, or {"type":"reset"} when changes may have been
missed (re-read what you mirror). It reconnects by itself, resuming after
the last version it printed. Stop it with Ctrl-C.

Flags:
`

// runWatch runs `jumpkv watch` until ctx ends, through the client
// package's Watch (which resumes after a drop from the last version it
// delivered).
func runWatch(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jumpkv watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, watchUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "http://127.0.0.1:8080", "base URL of any node")
	since := fs.String("since", "", "resume after this version (from an earlier event)")
	tlsFlags := addClientTLSFlags(fs)
	if err := parseWithEnv(fs, args, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "jumpkv watch: at most one PREFIX")
		return 2
	}
	tlsCfg, err := tlsFlags()
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv watch: %v\n", err)
		return 2
	}
	c, err := client.New([]string{*addr}, client.WithTLS(tlsCfg))
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv watch: --addr: %v\n", strings.TrimPrefix(err.Error(), "jumpkv client: "))
		return 2
	}
	defer c.Close()
	onDrop := client.OnDrop(func(err error) {
		fmt.Fprintf(stderr, "jumpkv watch: %s%s; reconnecting\n", cliError(err), tlsHint(err))
	})
	out := json.NewEncoder(stdout)
	for ev, err := range c.Watch(ctx, fs.Arg(0), *since, onDrop) {
		if err != nil {
			fmt.Fprintf(stderr, "jumpkv watch: %s%s\n", cliError(err), tlsHint(err))
			return 1
		}
		if err := out.Encode(ev); err != nil {
			fmt.Fprintf(stderr, "jumpkv watch: %v\n", err)
			return 1
		}
	}
	return 0
}
