package ftp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/internal/memstore"
)

// startServer serves an FTP server over an in-memory store on a free
// loopback port.
func startServer(t *testing.T, tweak func(*Config)) (*Server, string, *memstore.Store) {
	t.Helper()
	return startServerWith(t, tweak)
}

// startServerTB is startServer for fuzz targets.
func startServerTB(f *testing.F) (*Server, string, *memstore.Store) {
	f.Helper()
	return startServerWith(f, nil)
}

func startServerWith(t testing.TB, tweak func(*Config)) (*Server, string, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	fcfg := files.DefaultConfig(1 << 20)
	fcfg.RetryFor = 0
	fs, err := files.New(st, fcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(fs)
	cfg.DataTimeout = 5 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String(), st
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s): skipping the real-client test", name, name)
	}
	return p
}

func TestPythonFtplibSession(t *testing.T) {
	py := needTool(t, "python3")
	_, addr, _ := startServer(t, nil)
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/session.py", host, port, "anonymous", "x@example.com").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("ftplib session: %v\n%s", err, out)
	}
}

// ctrl is a raw control connection for hostile-input tests.
type ctrl struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *ctrl {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	k := &ctrl{t: t, c: c, r: bufio.NewReader(c)}
	k.expect("220")
	return k
}

// read returns the next reply (its last line for a multi-line one).
func (k *ctrl) read() string {
	k.t.Helper()
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := k.r.ReadString('\n')
		if err != nil {
			k.t.Fatalf("reading a reply: %v (got %q)", err, line)
		}
		if len(line) >= 4 && line[3] == ' ' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (k *ctrl) expect(prefix string) string {
	k.t.Helper()
	r := k.read()
	if !strings.HasPrefix(r, prefix) {
		k.t.Fatalf("reply %q, want %s", r, prefix)
	}
	return r
}

func (k *ctrl) cmd(line, want string) string {
	k.t.Helper()
	if _, err := fmt.Fprintf(k.c, "%s\r\n", line); err != nil {
		k.t.Fatal(err)
	}
	return k.expect(want)
}

func (k *ctrl) login() {
	k.cmd("USER anonymous", "331")
	k.cmd("PASS x", "230")
}
