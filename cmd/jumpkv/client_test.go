package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestClientCommands runs get, put, del and ls against a node: values from
// the argument and from stdin, the content type, listings across pages,
// and the server's words with exit 1 on an error.
func TestClientCommands(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1})
	n := c.WaitLeader(30 * time.Second)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	cli := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var stdout, stderr bytes.Buffer
		code := runClient(ctx, args[0], append([]string{"--addr", srv.URL}, args[1:]...), nil, strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := cli("", "put", "cli/a b", "from the argument"); code != 0 || !strings.HasPrefix(out, "ok, version ") {
		t.Fatalf("put: %d %q %q", code, out, errs)
	}
	if code, out, errs := cli("from stdin\n", "put", "--content-type", "text/plain", "cli/b"); code != 0 || !strings.HasPrefix(out, "ok, version ") {
		t.Fatalf("put from stdin: %d %q %q", code, out, errs)
	}
	if r := n.Do(http.MethodGet, "/v1/kv/cli/b", nil); string(r.Body) != "from stdin\n" || r.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("the value put from stdin: %v %v", r, r.Header)
	}
	if code, out, _ := cli("", "get", "cli/a b"); code != 0 || out != "from the argument" {
		t.Fatalf("get: %d %q", code, out)
	}
	if code, out, _ := cli("", "ls", "cli/"); code != 0 || out != "cli/a b\ncli/b\n" {
		t.Fatalf("ls: %d %q", code, out)
	}
	if code, _, errs := cli("", "del", "cli/b"); code != 0 {
		t.Fatalf("del: %d %q", code, errs)
	}
	code, out, errs := cli("", "get", "cli/b")
	if code != 1 || out != "" || !strings.Contains(errs, "jumpkv get: ") || !strings.Contains(errs, "(HTTP 404, not_found)") {
		t.Fatalf("get of a deleted key: %d %q %q, want exit 1 and the server's words", code, out, errs)
	}
	if code, _, errs := cli("", "del", "cli/b"); code != 1 || !strings.Contains(errs, "HTTP 404") {
		t.Fatalf("del of a missing key: %d %q", code, errs)
	}
	if code, _, errs := cli("", "get"); code != 2 || !strings.Contains(errs, "want KEY") {
		t.Fatalf("get without a key: %d %q", code, errs)
	}
	var stderr bytes.Buffer
	if code := runClient(t.Context(), "get", []string{"--addr", "ftp://x", "k"}, nil, nil, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "http://") {
		t.Fatalf("a bad --addr: %d %q", code, stderr.String())
	}
	// Listings span pages (the CLI asks for 1,000 keys a page).
	var want strings.Builder
	for i := range 1005 {
		key := fmt.Sprintf("many/%04d", i)
		if r := n.Do(http.MethodPut, "/v1/kv/"+key, []byte("v")); r.Status != 200 {
			t.Fatalf("preload: %v", r)
		}
		want.WriteString(key + "\n")
	}
	if code, out, _ := cli("", "ls", "many/"); code != 0 || out != want.String() {
		t.Fatalf("ls over pages: %d, %d lines, want 1005 in order", code, strings.Count(out, "\n"))
	}
}
