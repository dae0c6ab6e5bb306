package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/errors.golden from what the commands print")

// TestErrorFirstLines holds, in testdata/errors.golden, the exit code and
// the first line of stderr of each command-line mistake and common
// failure: one line that says what was expected, never a page of usage.
// Rewrite the file with go test ./cmd/jumpkv -run ErrorFirstLines
// -update-golden after a deliberate change.
func TestErrorFirstLines(t *testing.T) {
	cc := startCLICluster(t, 1)
	live, dead := cc.urls[0], deadAddr(t)
	cases := [][]string{
		{"node", "--dead-after", "banana"},
		{"node", "--dead-after", "1ms"},
		{"node", "--buckets", "0"},
		{"node", "--buckets", "many"},
		{"node", "--max-value", "lots"},
		{"node", "--replicas", "0"},
		{"node", "--fsync", "sometimes"},
		{"node", "--log-level", "loud"},
		{"node", "--name", "my node"},
		{"node", "--advertise-http", "http://x"},
		{"node", "--insecure-peers=maybe"},
		{"node", "--bogus"},
		{"node", "--http"},
		{"node", "stray"},
		{"cluster", "--", "--replicas", "0"},
		{"cluster", "--", "--dead-after", "banana"},
		{"cluster", "--replicas", "3"},
		{"cluster", "--nodes", "100"},
		{"frobnicate"},
		{"--addr", "x"},
		{"get"},
		{"get", "a", "b"},
		{"get", "k", "--timeout", "banana"},
		{"get", "k", "--addr", "ftp://x"},
		{"get", "k", "-o", "yaml"},
		{"get", "k", "--insecure", "--cacert", "x.pem"},
		{"put", "a", "b", "c"},
		{"put", "k", "v", "--if-match", "1.1", "--if-absent"},
		{"put", "k", "v", "--ttl", "10ms"},
		{"put", "k", "v", "--ttl", "soon"},
		{"put", "k", "-5"},
		{"del"},
		{"del", "k", "--prefix", "p"},
		{"del", "--prefix", "p", "--if-match", "1.1"},
		{"member", "frob", "x"},
		{"member", "remove"},
		{"watch", "a", "b"},
		{"status", "extra"},
		{"bench", "--conns", "lots"},
		{"get", "k", "--addr", dead},
		{"get", "missing", "--addr", live},
		{"del", "missing", "--addr", live},
		{"member", "remove", "nobody", "--addr", live},
		{"member", "remove", "node-1", "--addr", live},
	}
	var got bytes.Buffer
	for _, args := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var stdout, stderr bytes.Buffer
		code := runWithStdin(ctx, args, nil, strings.NewReader(""), &stdout, &stderr)
		cancel()
		first, _, _ := strings.Cut(stderr.String(), "\n")
		line := fmt.Sprintf("$ jumpkv %s\nexit %d: %s\n", strings.Join(args, " "), code, first)
		line = strings.ReplaceAll(line, live, "LIVE")
		line = strings.ReplaceAll(line, strings.TrimPrefix(live, "http://"), "LIVE")
		line = strings.ReplaceAll(line, dead, "DEAD")
		line = strings.ReplaceAll(line, strings.TrimPrefix(dead, "http://"), "DEAD")
		got.WriteString(line)
		if code == 0 {
			t.Errorf("%q succeeded; every case here is a mistake or a failure", args)
		}
		if strings.Count(stderr.String(), "\n") > 2 {
			t.Errorf("%q printed %d lines to stderr; want one:\n%s", args, strings.Count(stderr.String(), "\n"), stderr.String())
		}
	}
	path := filepath.Join("testdata", "errors.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with -update-golden)", err)
	}
	if got.String() != string(want) {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := at(gl, i), at(wl, i)
			if g != w {
				t.Errorf("line %d:\n got: %s\nwant: %s", i+1, g, w)
			}
		}
		t.Fatalf("the first lines of the errors differ from %s (rewrite it with -update-golden if the change is meant)", path)
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<none>"
}
