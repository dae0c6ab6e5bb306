package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

const watchUsage = `Usage: jumpkv watch [flags] [PREFIX]

Prints every change under PREFIX as one JSON object per line, as the node
streams it: {"type":"put","key":...,"value":<base64>,"version":...},
{"type":"delete",...}, or {"type":"reset"} when changes may have been
missed (re-read what you mirror). It reconnects by itself, resuming after
the last version it printed. Stop it with Ctrl-C.

Flags:
`

// runWatch runs `jumpkv watch` until ctx ends.
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
	u, err := watchURL(*addr, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv watch: %v\n", err)
		return 2
	}
	tlsCfg, err := tlsFlags()
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv watch: %v\n", err)
		return 2
	}
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}
	last := *since
	for attempt := 0; ; attempt++ {
		err := watchOnce(ctx, dialer, u, &last, stdout)
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(stderr, "jumpkv watch: %v; reconnecting\n", err)
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Duration(min(attempt+1, 5)) * time.Second):
		}
	}
}

// watchURL turns a node's base URL and a prefix into the watch URL.
func watchURL(base, prefix string) (string, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/v1/watch")
	if err != nil {
		return "", fmt.Errorf("--addr %q: %v", base, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("--addr %q: want http:// or https://", base)
	}
	u.RawQuery = url.Values{"prefix": {prefix}}.Encode()
	return u.String(), nil
}

// watchOnce streams until the connection ends, remembering the last
// version printed in *last.
func watchOnce(ctx context.Context, dialer *websocket.Dialer, u string, last *string, out io.Writer) error {
	if *last != "" {
		u += "&since=" + url.QueryEscape(*last)
	}
	conn, resp, err := dialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%v (HTTP %d)", err, resp.StatusCode)
		}
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var ev struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(msg, &ev) == nil && ev.Version != "" {
			*last = ev.Version
		}
		if _, err := fmt.Fprintf(out, "%s\n", msg); err != nil {
			return err
		}
	}
}
