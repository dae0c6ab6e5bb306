package main

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/jumpkv/jumpkv/auth"
)

// checkNodeFlags validates the node flags `jumpkv cluster` passes every
// node (those after --), as the nodes would, so that a mistake is said
// once, before any node starts, rather than by every node at once.
func checkNodeFlags(args, env []string) error {
	f, err := parseChildFlags(args, env)
	if err != nil {
		return err
	}
	if _, err := newLogger(io.Discard, f.logFormat, f.logLevel); err != nil {
		return err
	}
	if _, err := f.config(slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	if _, err := f.tlsConfig(); err != nil {
		return err
	}
	if f.users != "" {
		if _, err := auth.Load(f.users, auth.DefaultConfig()); err != nil {
			return fmt.Errorf("--users: %v", err)
		}
	}
	return nil
}

var unknownFlag = regexp.MustCompile(`^unknown flag --(\S+) `)

// nodeFlagHint says where a node flag given to `jumpkv cluster` before --
// belongs.
func nodeFlagHint(err error) string {
	m := unknownFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	fs, _ := newNodeFlags(io.Discard)
	name, _, _ := strings.Cut(m[1], "=")
	if fs.Lookup(name) == nil {
		return ""
	}
	return fmt.Sprintf("; node flags go after --: jumpkv cluster -- --%s ...", m[1])
}

// parseChildFlags parses the flags a node started by jumpkv cluster or
// bench gets: what startChild gives it, then args, which come later and
// win, as they do on the node's command line.
func parseChildFlags(args, env []string) (*nodeFlags, error) {
	fs, f := newNodeFlags(io.Discard)
	base := []string{"--http", "127.0.0.1:8080", "--peer", "127.0.0.1:7070", "--advertise", "127.0.0.1",
		"--join", "127.0.0.1:7070", "--name", "node-1"}
	if err := f.parse(fs, append(base, args...), env); err != nil {
		return nil, err
	}
	return f, nil
}

// waitsForDisk reports whether nodes started with args (after the flags
// jumpkv cluster or bench gives them) and env acknowledge a write only
// once it is fsynced: --data-dir with --fsync always. Arguments that do
// not parse count as not (checkNodeFlags reports them).
func waitsForDisk(args, env []string) bool {
	f, err := parseChildFlags(args, env)
	return err == nil && f.dataDir != "" && f.fsync == "always"
}
