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
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
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

// runClient runs a client command against one node's HTTP API.
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
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.TLSClientConfig = tlsCfg
	c := &client{base: strings.TrimRight(*addr, "/"), http: &http.Client{Timeout: *timeout, Transport: rt}}
	if !strings.Contains(c.base, "://") {
		c.base = "http://" + c.base
	}
	rest := fs.Args()
	need := map[string][2]int{"get": {1, 1}, "put": {1, 2}, "del": {1, 1}, "ls": {0, 1}, "health": {0, 0}}[cmd]
	if len(rest) < need[0] || len(rest) > need[1] {
		fmt.Fprintf(stderr, "jumpkv %s: wrong number of arguments\n\n", cmd)
		fs.Usage()
		return 2
	}
	switch cmd {
	case "get":
		err = c.get(ctx, rest[0], stdout)
	case "put":
		var value io.Reader = stdin
		if len(rest) == 2 {
			value = strings.NewReader(rest[1])
		}
		err = c.put(ctx, rest[0], value, *contentType, stdout)
	case "del":
		err = c.del(ctx, rest[0])
	case "ls":
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		err = c.ls(ctx, prefix, stdout)
	case "health":
		err = c.health(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv %s: %v%s\n", cmd, err, tlsHint(err))
		return 1
	}
	return 0
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

// client speaks the HTTP API.
type client struct {
	base string
	http *http.Client
}

// keyURL returns the URL of key, escaping what a path cannot hold but
// keeping "/" so folder-style keys read naturally.
func (c *client) keyURL(key string) string {
	return c.base + "/v1/kv/" + strings.TrimPrefix((&url.URL{Path: "/" + key}).EscapedPath(), "/")
}

func (c *client) do(ctx context.Context, method, u string, body io.Reader, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	return c.http.Do(req)
}

// failure turns a non-2xx answer into an error with the server's words.
func failure(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s (HTTP %d, %s)", e.Error, resp.StatusCode, e.Code)
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

func (c *client) get(ctx context.Context, key string, out io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, c.keyURL(key), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failure(resp)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}

func (c *client) put(ctx context.Context, key string, value io.Reader, ct string, out io.Writer) error {
	resp, err := c.do(ctx, http.MethodPut, c.keyURL(key), value, "Content-Type", ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failure(resp)
	}
	var r struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "ok, version %s\n", r.Version)
	return err
}

func (c *client) del(ctx context.Context, key string) error {
	resp, err := c.do(ctx, http.MethodDelete, c.keyURL(key), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return failure(resp)
	}
	return nil
}

func (c *client) ls(ctx context.Context, prefix string, out io.Writer) error {
	after := ""
	for {
		q := url.Values{"prefix": {prefix}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := c.do(ctx, http.MethodGet, c.base+"/v1/kv?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var page struct {
			Keys []string `json:"keys"`
			Next string   `json:"next"`
		}
		if resp.StatusCode != http.StatusOK {
			err = failure(resp)
		} else {
			err = json.NewDecoder(resp.Body).Decode(&page)
		}
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, k := range page.Keys {
			if _, err := fmt.Fprintln(out, k); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}

func (c *client) health(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return failure(resp)
	}
	return nil
}
