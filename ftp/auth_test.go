package ftp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/files"
)

func guard(t *testing.T, lines ...string) *auth.Guard {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		name, rest, _ := strings.Cut(l, ":")
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+name), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(name + ":" + string(h) + ":" + rest + "\n")
	}
	users, err := auth.Parse(strings.NewReader(b.String()), "test", auth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(users, nil)
}

func TestLoginsUseTheUsersFile(t *testing.T) {
	s, addr, _ := startServer(t, func(c *Config) {
		c.Guard = guard(t, "rw:readwrite", "ro:read", "alice:readwrite:alice/")
	})
	ctx := context.Background()
	for _, k := range []string{"alice/a.txt", "bob/b.txt", "top.txt"} {
		if _, err := s.fs.Put(ctx, k, strings.NewReader(k), files.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bad := dial(t, addr)
	bad.cmd("USER rw", "331")
	bad.cmd("PASS wrong", "530")
	bad.cmd("PWD", "530") // not logged in

	ro := dial(t, addr)
	ro.cmd("USER ro", "331")
	ro.cmd("PASS pw-ro", "230")
	ro.cmd("SIZE top.txt", "213 7")
	ro.cmd("STOR new.txt", "550 Permission denied")
	ro.cmd("DELE top.txt", "550 Permission denied")
	ro.cmd("MKD d", "550 Permission denied")
	ro.cmd("RNFR top.txt", "350")
	ro.cmd("RNTO moved.txt", "550")

	al := dial(t, addr)
	al.cmd("USER alice", "331")
	al.cmd("PASS pw-alice", "230")
	al.cmd("SIZE /bob/b.txt", "550 Permission denied")
	al.cmd("CWD /alice", "250")
	al.cmd("SIZE a.txt", "213 11")
	al.cmd("RETR ../bob/b.txt", "550 Permission denied")
	al.cmd("STOR ../top.txt", "550 Permission denied")
	al.cmd("CWD /bob", "550")
	// Listing the root shows only alice's folder.
	pa := al.pasvAddr()
	al.c.Write([]byte("NLST /\r\n"))
	dc, err := net.Dial("tcp", pa)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	al.expect("150")
	n, _ := readAllConn(dc, buf)
	al.expect("226")
	if got := strings.TrimSpace(string(buf[:n])); got != "alice" {
		t.Fatalf("alice lists the root as %q", got)
	}
}

func readAllConn(c net.Conn, buf []byte) (int, error) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, nil
		}
	}
	return n, nil
}

// selfSigned returns a TLS config with a fresh certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jumpkv test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestFTPSWithPythonFtplib(t *testing.T) {
	py := needTool(t, "python3")
	_, addr, _ := startServer(t, func(c *Config) { c.TLS = selfSigned(t) })
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/session.py", host, port, "anonymous", "x", "tls").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("ftplib FTPS session: %v\n%s", err, out)
	}
}
