package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/jumpkv/jumpkv/node"
)

// Loopback by default: a node started with none of --http, --peer,
// --join and --advertise is a cluster of one that nobody else could join
// anyway, so it listens on 127.0.0.1 only, where no other host can read or
// change its keys. Any of those flags says the node is meant to be
// reached, and the listen addresses are then taken as given (":8080" and
// ":7070" by default: every interface), with a warning at start when the
// client API is open to other hosts without --users.
const (
	loopbackHTTP = "127.0.0.1:8080"
	loopbackPeer = "127.0.0.1:7070"
)

// parse parses the node's flags (anywhere, then the environment) and
// applies the loopback default.
func (f *nodeFlags) parse(fs *flag.FlagSet, args, env []string) error {
	rest, err := parseFlags(fs, args, env)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected arguments %q (flags only; jumpkv node --help lists them)", rest)
	}
	if f.secretFile != "" {
		if f.secret != "" {
			return usagef("--cluster-secret and --cluster-secret-file (or JUMPKV_CLUSTER_SECRET and JUMPKV_CLUSTER_SECRET_FILE) both given: give one")
		}
		if f.secret, err = readSecretFile(f.secretFile); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["http"] && !set["peer"] && !set["join"] && !set["advertise"] {
		f.http, f.peer = loopbackHTTP, loopbackPeer
	}
	return nil
}

// maxSecretFile bounds what --cluster-secret-file reads.
const maxSecretFile = 4 << 10

// readSecretFile returns the secret held in path, without surrounding
// whitespace (a file written with echo ends in a newline).
func readSecretFile(path string) (string, error) {
	// A regular file only (following symlinks, as Kubernetes mounts
	// secrets): opening a FIFO with no writer would hang the start with
	// nothing said, and a device is no secret.
	if st, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %v", err)
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("--cluster-secret-file %s is not a regular file (%v); want a file holding the secret", path, st.Mode().Type())
	}
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %v", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("--cluster-secret-file %s: %v", path, err)
	case len(b) > maxSecretFile:
		return "", fmt.Errorf("--cluster-secret-file %s: more than %d bytes; want the secret alone", path, maxSecretFile)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("--cluster-secret-file %s is empty", path)
	}
	return secret, nil
}

// openAPIWarning returns the warning a node prints at start when its
// client API listens beyond loopback with no authentication, or "".
func openAPIWarning(httpAddr string, users bool) string {
	host, _, err := net.SplitHostPort(httpAddr)
	if users || err != nil || host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ""
	}
	where := httpAddr
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		where += " (every interface)"
	}
	return fmt.Sprintf("the client API on %s answers any host that reaches it, without authentication: "+
		"anyone there can read and change every key (require credentials with --users, or listen on 127.0.0.1)", where)
}

// advertisedHTTP returns the HTTP address /v1/cluster lists for this node:
// --advertise-http (with the --http port when it has none); else the
// --http address when it names a host, since that is the one address it
// serves; else the advertised peer host with the --http port.
func advertisedHTTP(advertiseHTTP, httpFlag, peerHost, httpPort string) (string, error) {
	if advertiseHTTP != "" {
		if strings.ContainsAny(advertiseHTTP, "/ ") {
			return "", fmt.Errorf("--advertise-http %q: want host or host:port, without a scheme", advertiseHTTP)
		}
		if h, p, err := net.SplitHostPort(advertiseHTTP); err == nil {
			if h == "" || p == "" {
				return "", fmt.Errorf("--advertise-http %q: want host or host:port", advertiseHTTP)
			}
			return advertiseHTTP, nil
		}
		return net.JoinHostPort(strings.Trim(advertiseHTTP, "[]"), httpPort), nil
	}
	if h, _, err := net.SplitHostPort(httpFlag); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			return net.JoinHostPort(h, httpPort), nil
		}
	}
	return net.JoinHostPort(peerHost, httpPort), nil
}

// defaultName is a node's name without --name: this host's name, cut to
// what a name may hold ("" when there is none).
func defaultName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, h)
	if len(h) > node.MaxNameBytes {
		h = h[:node.MaxNameBytes]
	}
	return h
}
