package ftp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/files"
)

// FuzzCommandLines sends arbitrary lines to a logged-in session of a live
// server: whatever they are, the session answers NOOP afterwards (or was
// closed by QUIT or an endless line) and the server takes new sessions.
func FuzzCommandLines(f *testing.F) {
	for _, seed := range []string{
		"PORT 127,0,0,1,0,1", "EPRT |1|127.0.0.1|1|", "EPRT |", "EPRT ||||||", "PORT ,,,,,", "LPRT 4",
		"REST 99999999999999999999", "REST 5", "RETR x", "STOR ../../x", "APPE \x00", "LIST -la /", "NLST ../..",
		"MLSD f", "MLST /", "SIZE /", "MDTM nope", "RNFR f", "RNTO g", "DELE /", "MKD a/b", "RMD /", "CWD \xff",
		"STAT f", "STAT", "AUTH TLS", "PBSZ 0", "PROT P", "OPTS UTF8 ON", "OPTS", "FEAT", "TYPE I", "MODE Z",
		"PASV", "EPSV ALL", "ABOR", "CDUP", "PWD", "USER x", "PASS y", "", " ", "\r", "RETR a\rb",
	} {
		f.Add(seed)
	}
	s, addr, _ := startServerTB(f)
	if _, err := s.fs.Put(context.Background(), "f", strings.NewReader("content"), files.PutOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > 4096 {
			line = line[:4096]
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "USER anonymous\r\nPASS x\r\n%s\r\nNOOP\r\n", line)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				if strings.Contains(strings.ToUpper(line), "QUIT") {
					break // closed as asked
				}
				t.Fatalf("the session ended after %q: %v", line, err)
			}
			if strings.HasPrefix(l, "200 OK") {
				break // NOOP answered
			}
		}
		// The server still takes sessions.
		k := &ctrl{t: t, c: nil}
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		k.c, k.r = nc, bufio.NewReader(nc)
		k.expect("220")
	})
}
