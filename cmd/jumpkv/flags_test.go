package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFlagBeatsEnvironment(t *testing.T) {
	fs, f := newNodeFlags(io.Discard)
	env := []string{"JUMPKV_DEAD_AFTER=5s", "JUMPKV_BUCKETS=64", "JUMPKV_JOIN=a:1,b:2", "JUMPKV_REPLICAS=3", "JUMPKV_MAX_VALUE=2MiB", "OTHER=1"}
	if err := parseWithEnv(fs, []string{"--dead-after", "3s", "--replicas", "auto"}, env); err != nil {
		t.Fatal(err)
	}
	if f.deadAfter != 3*time.Second {
		t.Errorf("dead-after %v: the flag should beat the environment", f.deadAfter)
	}
	if f.replicas != 0 {
		t.Errorf("replicas %v: the flag (auto) should beat JUMPKV_REPLICAS", f.replicas)
	}
	if f.buckets != 64 || f.maxValue != 2<<20 || strings.Join(f.join, " ") != "a:1 b:2" {
		t.Errorf("from the environment: buckets %d, max-value %d, join %v", f.buckets, f.maxValue, f.join)
	}
}

func TestBadEnvironmentIsReported(t *testing.T) {
	fs, _ := newNodeFlags(io.Discard)
	err := parseWithEnv(fs, nil, []string{"JUMPKV_DEAD_AFTER=soon"})
	if err == nil || !strings.Contains(err.Error(), "JUMPKV_DEAD_AFTER") {
		t.Fatalf("want an error naming the variable, got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int{"1MiB": 1 << 20, "512KiB": 512 << 10, "64KB": 64000, "1048576": 1 << 20, "2M": 2 << 20, "1.5MiB": 3 << 19}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "lots", "1TiBB", "9999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestNodeConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string // the message names what to change
	}{
		{args: []string{"--buckets", "0"}, want: "--buckets"},
		{args: []string{"--max-value", "0"}, want: "--max-value"},
		{args: []string{"--dead-after", "1ms"}, want: "--dead-after"},
		{args: []string{"--dead-after", "0"}, want: "--dead-after"},
		{args: []string{"--dead-after", "-2s"}, want: "--dead-after"},
		{env: []string{"JUMPKV_DEAD_AFTER=0s"}, want: "--dead-after"},
		{args: []string{"--sync-interval", "0s"}, want: "--sync-interval"},
		{args: []string{"--peer", "nonsense"}, want: "--peer"},
		{args: []string{"--log-format", "xml"}, want: "--log-format"},
		{args: []string{"--replicas", "-2"}, want: "replicas"},
		{args: []string{"stray-argument"}, want: "unexpected arguments"},
	} {
		var stderr bytes.Buffer
		code := run(t.Context(), append([]string{"node"}, tc.args...), tc.env, io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("jumpkv node %v (env %v): exit %d, stderr %q; want 2 and a message naming %s", tc.args, tc.env, code, stderr.String(), tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"help"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "jumpkv cluster") {
		t.Fatalf("help: exit %d, %q", code, out.String())
	}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"node", "--help"}, nil, io.Discard, &stderr); code != 0 || !strings.Contains(stderr.String(), "--dead-after") || !strings.Contains(stderr.String(), "JUMPKV_") {
		t.Fatalf("node --help: exit %d, %q", code, stderr.String())
	}
	if code := run(t.Context(), []string{"frobnicate"}, nil, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

func TestResolveAdvertise(t *testing.T) {
	if h, err := resolveAdvertise("10.1.2.3", ":7070"); err != nil || h != "10.1.2.3" {
		t.Fatalf("a host is taken as given: %q %v", h, err)
	}
	if h, err := resolveAdvertise("127.0.0.0/8", ":7070"); err != nil || h != "127.0.0.1" {
		t.Fatalf("CIDR 127.0.0.0/8: %q %v, want this host's loopback address", h, err)
	}
	if _, err := resolveAdvertise("203.0.113.0/24", ":7070"); err == nil {
		t.Fatal("a network this host is not on must be an error")
	}
	if h, err := resolveAdvertise("", "127.0.0.1:7070"); err != nil || h == "" {
		t.Fatalf("default: %q %v", h, err)
	}
}

func TestAllowOriginFlag(t *testing.T) {
	fs, f := newNodeFlags(io.Discard)
	if err := parseWithEnv(fs, nil, []string{"JUMPKV_ALLOW_ORIGIN=https://a.example, https://b.example"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.allowOrigin, " ") != "https://a.example https://b.example" {
		t.Fatalf("allow-origin from the environment = %q", f.allowOrigin)
	}
	fs, f = newNodeFlags(io.Discard)
	if err := parseWithEnv(fs, []string{"--allow-origin", "*"}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.allowOrigin, " ") != "*" {
		t.Fatalf("allow-origin from the flag = %q", f.allowOrigin)
	}
}

// TestPprofServes checks that --pprof's listener serves the profiler index
// and stops when asked.
func TestPprofServes(t *testing.T) {
	addr, stop, err := servePprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof answered %d: %.200s", resp.StatusCode, body)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("the profiler still answers after stop")
	}
	if _, _, err := servePprof("256.0.0.1:1", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

// fakeConn is a net.Conn with a chosen remote address.
type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

// TestProtectedModeAcceptsOnlyLoopbackPeers checks the handshake a node
// without a cluster secret puts on its peer port: loopback peers pass,
// any other address is refused (and logged once a minute), and the node's
// own dials are never held back.
func TestProtectedModeAcceptsOnlyLoopbackPeers(t *testing.T) {
	var logs bytes.Buffer
	hs := loopbackPeersOnly(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, tc := range []struct {
		remote string
		dialer bool
		ok     bool
	}{
		{"127.0.0.1:5000", false, true},
		{"[::1]:5000", false, true},
		{"127.9.9.9:5000", false, true},
		{"10.1.2.3:5000", false, false},
		{"192.168.0.7:5000", false, false},
		{"[2001:db8::1]:5000", false, false},
		{"10.1.2.3:5000", true, true}, // this node dialling out
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.remote)
		if err != nil {
			t.Fatal(err)
		}
		err = hs(fakeConn{remote: addr}, tc.dialer)
		if (err == nil) != tc.ok {
			t.Errorf("remote %s (dialer %v): %v, want ok=%v", tc.remote, tc.dialer, err, tc.ok)
		}
	}
	if n := strings.Count(logs.String(), "refusing a peer connection from beyond loopback"); n != 3 {
		t.Errorf("logged %d refusals for 3 refused addresses:\n%s", n, logs.String())
	}
}

func TestIDFlag(t *testing.T) {
	good := map[string]uint64{
		"7": 7, "0": 0, "18446744073709551615": 1<<64 - 1,
		"ordinal:jumpkv-0": 1, "ordinal:jumpkv-2": 3, "ordinal:my-kv-store-10": 11, "ordinal:a-2147483646": 2147483647,
	}
	for in, want := range good {
		fs, f := newNodeFlags(io.Discard)
		if err := f.parse(fs, []string{"--id", in}, nil); err != nil || uint64(f.id) != want {
			t.Errorf("--id %s: %d, %v; want %d", in, f.id, err, want)
		}
	}
	bad := map[string]string{
		"-1":                   "want a whole number",
		"jumpkv-2":             "want a whole number, or ordinal:NAME",
		"ordinal:jumpkv":       "does not end in -<number>",
		"ordinal:jumpkv-":      "does not end in -<number>",
		"ordinal:-3":           "does not end in -<number>",
		"ordinal:jumpkv-x":     "does not end in -<number>",
		"ordinal:jumpkv-+2":    "does not end in -<number>",
		"ordinal:a-2147483648": "does not end in -<number>",
		"ordinal:":             "does not end in -<number>",
		"ordinal:$(POD_NAME)":  "not expanded",
	}
	for in, want := range bad {
		fs, f := newNodeFlags(io.Discard)
		err := f.parse(fs, []string{"--id", in}, nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--id") {
			t.Errorf("--id %s: %v; want an error naming --id that says %q", in, err, want)
		}
	}
	// From the environment, as JUMPKV_ID.
	fs, f := newNodeFlags(io.Discard)
	if err := f.parse(fs, nil, []string{"JUMPKV_ID=ordinal:jumpkv-4"}); err != nil || f.id != 5 {
		t.Errorf("JUMPKV_ID=ordinal:jumpkv-4: %d, %v; want 5", f.id, err)
	}
}

// TestClusterSecretFile: the secret comes from a file (a Docker or
// Kubernetes secret) without its trailing newline; giving it both ways,
// an empty file, a missing one or an oversized one is an error that says
// so.
func TestClusterSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o400); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  0123456789abcdef0123456789abcdef\n")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		args, env  []string
		wantSecret string
		wantErr    string
	}{
		{"flag", []string{"--cluster-secret-file", good}, nil, "0123456789abcdef0123456789abcdef", ""},
		{"environment", nil, []string{"JUMPKV_CLUSTER_SECRET_FILE=" + good}, "0123456789abcdef0123456789abcdef", ""},
		{"both", []string{"--cluster-secret-file", good}, []string{"JUMPKV_CLUSTER_SECRET=x"}, "", "both given"},
		{"empty", []string{"--cluster-secret-file", write("empty", " \n")}, nil, "", "is empty"},
		{"missing", []string{"--cluster-secret-file", filepath.Join(dir, "none")}, nil, "", "no such file"},
		{"too large", []string{"--cluster-secret-file", write("large", strings.Repeat("s", maxSecretFile+1))}, nil, "", "more than"},
		{"a directory", []string{"--cluster-secret-file", dir}, nil, "", "not a regular file"},
		{"a device", []string{"--cluster-secret-file", "/dev/zero"}, nil, "", "not a regular file"},
		{"a FIFO with no writer (used to hang)", []string{"--cluster-secret-file", fifo}, nil, "", "not a regular file"},
	} {
		fs, f := newNodeFlags(io.Discard)
		err := f.parse(fs, c.args, c.env)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.wantErr)
		case c.wantErr == "" && f.secret != c.wantSecret:
			t.Errorf("%s: secret %q, want %q", c.name, f.secret, c.wantSecret)
		}
	}
}
