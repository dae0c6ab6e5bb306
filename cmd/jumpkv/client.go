package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

const clientUsage = `Usage:
  jumpkv get KEY            print the value of KEY
  jumpkv put KEY [VALUE]    set KEY to VALUE (read from stdin when VALUE is omitted)
  jumpkv del KEY            delete KEY
  jumpkv ls [PREFIX]        list keys (all pages), optionally under PREFIX
  jumpkv health             exit 0 when the node answers /healthz

A node serving HTTPS (--tls-cert) takes --addr https://...; add --cacert FILE
to verify its certificate with your CA, or --insecure to skip the check.

Flags:
`

// runClient runs a client command against one node's HTTP API, through
// the client package (which retries 503s and reports unknown outcomes).
func runClient(ctx context.Context, cmd string, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jumpkv "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clientUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "http://127.0.0.1:8080", "base URL of any node")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for an answer")
	contentType := fs.String("content-type", "", "Content-Type stored with the value (put)")
	tlsFlags := addClientTLSFlags(fs)
	if err := parseWithEnv(fs, args, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	tlsCfg, err := tlsFlags()
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv %s: %v\n", cmd, err)
		return 2
	}
	rest := fs.Args()
	need := map[string][2]int{"get": {1, 1}, "put": {1, 2}, "del": {1, 1}, "ls": {0, 1}, "health": {0, 0}}[cmd]
	if len(rest) < need[0] || len(rest) > need[1] {
		fmt.Fprintf(stderr, "jumpkv %s: wrong number of arguments\n\n", cmd)
		fs.Usage()
		return 2
	}
	c, err := client.New([]string{*addr}, client.WithTLS(tlsCfg), client.WithTimeout(*timeout))
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv %s: --addr: %v\n", cmd, strings.TrimPrefix(err.Error(), "jumpkv client: "))
		return 2
	}
	defer c.Close()
	switch cmd {
	case "get":
		var r *client.Reader
		if r, err = c.GetReader(ctx, rest[0]); err == nil {
			_, err = io.Copy(stdout, r)
			r.Close()
		}
	case "put":
		var value []byte
		if len(rest) == 2 {
			value = []byte(rest[1])
		} else if value, err = io.ReadAll(stdin); err != nil {
			err = fmt.Errorf("reading the value from stdin: %w", err)
			break
		}
		var opts []client.WriteOption
		if *contentType != "" {
			opts = append(opts, client.ContentType(*contentType))
		}
		var version string
		if version, err = c.Put(ctx, rest[0], value, opts...); err == nil {
			_, err = fmt.Fprintf(stdout, "ok, version %s\n", version)
		}
	case "del":
		err = c.Delete(ctx, rest[0])
	case "ls":
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		for key, lerr := range c.List(ctx, prefix) {
			if err = lerr; err != nil {
				break
			}
			if _, err = fmt.Fprintln(stdout, key); err != nil {
				break
			}
		}
	case "health":
		err = c.Health(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv %s: %s%s\n", cmd, cliError(err), tlsHint(err))
		return 1
	}
	return 0
}

// cliError words a client error for the command line: the server's
// message with its status and code, or what went wrong on the way.
func cliError(err error) string {
	var e *client.Error
	if errors.As(err, &e) && e.Status != 0 && e.Message != "" {
		return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
	}
	return strings.TrimPrefix(err.Error(), "jumpkv: ")
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
