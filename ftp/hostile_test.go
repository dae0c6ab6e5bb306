package ftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/files"
)

// pasvAddr sends PASV and returns the address to dial.
func (k *ctrl) pasvAddr() string {
	k.t.Helper()
	r := k.cmd("PASV", "227")
	m := regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`).FindStringSubmatch(r)
	if m == nil {
		k.t.Fatalf("PASV reply %q", r)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	return net.JoinHostPort(strings.Join(m[1:5], "."), strconv.Itoa(p1*256+p2))
}

func TestBounceAndBadNamesAreRefused(t *testing.T) {
	_, addr, _ := startServer(t, nil)
	k := dial(t, addr)
	k.login()
	k.cmd("PORT 10,1,2,3,0,80", "504")
	k.cmd("EPRT |1|10.1.2.3|80|", "504")
	k.cmd("EPRT |2|::1|80|", "504")
	k.cmd("PORT 1,2,3", "501")
	k.cmd("EPRT garbage", "522")
	k.cmd("LPRT 4,4,127,0,0,1,2,0,80", "502")
	k.cmd("RETR a\x00b", "553")
	k.cmd("DELE a\rb", "553")
	k.cmd("MKD "+strings.Repeat("x", 2000), "553")
	// ../ cannot climb out of the root: it names an ordinary key.
	k.cmd("RETR ../../../etc/passwd", "550")
	k.cmd("CWD ../../..", "250")
	k.cmd("PWD", `257 "/"`)
	k.cmd("RETR", "553") // a required argument missing (goftp's answer)
	k.cmd("REST -5", "501")
	k.cmd("STOR x", "150") // no PASV/PORT first
	k.expect("425")
	k.cmd("PROT P", "503")
	k.cmd("AUTH TLS", "502") // no certificate configured
	k.cmd("NOSUCH", "500")
}

func TestEndlessCommandLineClosesTheConnection(t *testing.T) {
	s, addr, _ := startServer(t, nil)
	k := dial(t, addr)
	junk := bytes.Repeat([]byte("A"), 4096)
	var werr error
	for i := 0; i < 256 && werr == nil; i++ { // 1 MiB at most
		_ = k.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, werr = k.c.Write(junk)
	}
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(k.r); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server kept reading an endless command line")
		}
	}
	waitFor(t, "the session to end", func() bool { return s.Sessions() == 0 })
}

func TestIdleConnectionsAreClosedAndConnectionsLimited(t *testing.T) {
	s, addr, _ := startServer(t, func(c *Config) {
		c.MaxConns = 3
		c.IdleTimeout = 300 * time.Millisecond
	})
	var ks []*ctrl
	for range 3 {
		ks = append(ks, dial(t, addr))
	}
	// The fourth is told and closed at once.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "421 ") {
		t.Fatalf("past the limit: %q, want 421", b)
	}
	// Idle ones are closed.
	for _, k := range ks {
		_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(k.r); err != nil {
			t.Fatalf("an idle connection was not closed: %v", err)
		}
	}
	waitFor(t, "the sessions to end", func() bool { return s.Sessions() == 0 })
	dial(t, addr).login() // room again
}

func TestPassivePortRangeExhausted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, addr, _ := startServer(t, func(c *Config) { c.PassiveLow, c.PassiveHigh = port, port })
	a, b := dial(t, addr), dial(t, addr)
	a.login()
	b.login()
	if got := a.pasvAddr(); !strings.HasSuffix(got, ":"+strconv.Itoa(port)) {
		t.Fatalf("PASV gave %s, want port %d", got, port)
	}
	r := b.cmd("EPSV", "425")
	if !strings.Contains(r, "no passive port free") {
		t.Fatalf("exhausted range: %q", r)
	}
	a.cmd("QUIT", "221")
	waitFor(t, "the port to be free again", func() bool {
		fmt.Fprintf(b.c, "EPSV\r\n")
		return strings.HasPrefix(b.read(), "229")
	})
}

func TestStalledDownloadEndsAndDataFromAnotherHostIsRefused(t *testing.T) {
	s, addr, _ := startServer(t, func(c *Config) { c.DataTimeout = 500 * time.Millisecond })
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	if _, err := s.fs.Put(context.Background(), "big", bytes.NewReader(data), files.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	k := dial(t, addr)
	k.login()
	pa := k.pasvAddr()
	// A connection from another address (127.0.0.2 is loopback too) is
	// closed; the client's own is taken.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	intruder, err := d.Dial("tcp", pa)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	fmt.Fprintf(k.c, "RETR big\r\n")
	k.expect("150")
	_ = intruder.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := io.Copy(io.Discard, intruder); n != 0 {
		t.Fatalf("a data connection from another host got %d bytes", n)
	}
	dc, err := net.Dial("tcp", pa)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	// Read a little, then stop reading: the server gives up.
	if _, err := io.ReadFull(dc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	k.expect("426")
	// The session goes on.
	k.cmd("SIZE big", "213 "+strconv.Itoa(len(data)))
}

func TestLongListingStreams(t *testing.T) {
	s, addr, st := startServer(t, nil)
	ctx := context.Background()
	for i := range 1200 {
		if _, err := s.fs.Put(ctx, fmt.Sprintf("many/f%05d", i), strings.NewReader("x"), files.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = st
	k := dial(t, addr)
	k.login()
	pa := k.pasvAddr()
	fmt.Fprintf(k.c, "NLST many\r\n")
	dc, err := net.Dial("tcp", pa)
	if err != nil {
		t.Fatal(err)
	}
	k.expect("150")
	b, err := io.ReadAll(dc)
	dc.Close()
	if err != nil {
		t.Fatal(err)
	}
	k.expect("226")
	lines := strings.Split(strings.TrimSpace(string(b)), "\r\n")
	if len(lines) != 1200 || lines[0] != "f00000" || lines[1199] != "f01199" {
		t.Fatalf("%d names, first %q", len(lines), lines[0])
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
