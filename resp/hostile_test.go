package resp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"
)

// rawConn dials addr and returns the connection and a reader of replies.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

// exchange sends in on nc and checks that the answer read from rd is want.
func exchange(t *testing.T, nc net.Conn, rd *bufio.Reader, in, want string) {
	t.Helper()
	if _, err := nc.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rd, got); err != nil || string(got) != want {
		t.Fatalf("%q: got %q (%v), want %q", in, got, err, want)
	}
}

// readAll reads what the server sends until it closes the connection.
func readAll(t *testing.T, rd *bufio.Reader) string {
	t.Helper()
	b, err := io.ReadAll(rd)
	if err != nil && !isReset(err) {
		t.Fatalf("reading until close: %v (got %q)", err, b)
	}
	return string(b)
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset by peer") }

// TestHostileInputIsRefused sends malformed and oversized requests: each
// gets Redis's protocol error and a closed connection, before the server
// buffers anything the request announces.
func TestHostileInputIsRefused(t *testing.T) {
	cfg := Config{MaxValue: 1 << 20}
	_, addr := startServer(t, newFake(t), cfg)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"512 MiB bulk header", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n", "-ERR Protocol error: invalid bulk length: 536870912 bytes, the limit is 1048576 (value too large)\r\n"},
		{"100k-element array", "*100000\r\n", "-ERR Protocol error: invalid multibulk length: at most 65536 arguments\r\n"},
		{"negative bulk length", "*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk length not a number", "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"array count not a number", "*a\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"zero-length array", "*0\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"simple string in an array", "*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"no CRLF after an argument", "*1\r\n$4\r\nPINGxx", "-ERR Protocol error: invalid bulk format: an argument must end with CRLF\r\n"},
		{"Tile38 framing", "$4 PING\r\n", "-ERR Protocol error: expected '*', got '$'\r\n"},
		{"huge count digits", "*99999999999999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"inline line past 64 KiB", strings.Repeat("a", 70<<10), "-ERR Protocol error: too big inline request\r\n"},
		{"good then bad", "PING\r\n*1\r\n$-1\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"},
		{"unbalanced quotes", "SET \"k v\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, rd := rawConn(t, addr)
			if _, err := nc.Write([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, rd); got != tc.want {
				t.Fatalf("got %q, want %q and a closed connection", got, tc.want)
			}
		})
	}
}

// TestBadCommandsKeepTheConnection checks Redis's wordings for mistakes
// that do not break the protocol: the connection stays usable.
func TestBadCommandsKeepTheConnection(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{})
	nc, rd := rawConn(t, addr)
	for _, tc := range []struct{ in, want string }{
		{"GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"SET k\r\n", "-ERR wrong number of arguments for 'set' command\r\n"},
		{"FLUSHALL\r\n", "-ERR unknown command 'FLUSHALL'\r\n"},
		{"*2\r\n$5\r\nLPUSH\r\n$1\r\nx\r\n", "-ERR unknown command 'LPUSH'\r\n"},
		{"SET k v BOGUS\r\n", "-ERR syntax error\r\n"},
		{"SET k v NX XX\r\n", "-ERR syntax error\r\n"},
		{"INCRBY k 1.5\r\n", "-ERR value is not an integer or out of range\r\n"},
		{"SELECT 1\r\n", "-ERR DB index is out of range (jumpkv has one database: 0)\r\n"},
		{"SELECT 0\r\n", "+OK\r\n"},
		{"CLIENT NOPE\r\n", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"},
		{"CLIENT SETNAME\r\n", "-ERR wrong number of arguments for 'client|setname' command\r\n"},
		{"HELLO 4\r\n", "-NOPROTO unsupported protocol version\r\n"},
		{"\r\n", ""}, // an empty line is no command
		{"SCAN 12345\r\n", "-ERR invalid cursor\r\n"},
		{"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", "-ERR bad request: empty key\r\n"},
		{"PING\r\n", "+PONG\r\n"},
	} {
		if _, err := nc.Write([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		if tc.want == "" {
			continue
		}
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != tc.want {
			t.Fatalf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestClientThatNeverReads pipelines GETs of a large value without
// reading the replies: the server's writes block, it gives up after
// WriteTimeout and closes the connection, holding at most MaxPending plus
// one reply meanwhile.
func TestClientThatNeverReads(t *testing.T) {
	fake := newFake(t)
	s, addr := startServer(t, fake, Config{WriteTimeout: 300 * time.Millisecond})
	c := newClient(t, addr, 2)
	if err := c.Set(t.Context(), "big", strings.Repeat("x", 512<<10), 0).Err(); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// 2,000 GETs ask for 1 GiB of replies.
	cmds := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"), 2000)
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = nc.Write(cmds) // may fail once the server gives up
	waitFor(t, 10*time.Second, "the server to drop the client that does not read", func() bool { return s.Clients() <= 1 })
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Fatalf("the heap grew by %d MiB for a client that reads nothing", grown>>20)
	}
}

// TestMaxClients refuses connections past the bound with Redis's error.
func TestMaxClients(t *testing.T) {
	s, addr := startServer(t, newFake(t), Config{MaxClients: 2})
	for range 2 {
		nc, rd := rawConn(t, addr)
		nc.Write([]byte("PING\r\n"))
		if l, _ := rd.ReadString('\n'); l != "+PONG\r\n" {
			t.Fatalf("PING: %q", l)
		}
	}
	_, rd := rawConn(t, addr)
	if got := readAll(t, rd); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("third client: %q", got)
	}
	if n := s.Clients(); n != 2 {
		t.Fatalf("Clients() = %d, want 2", n)
	}
}

// TestLargeButValidCommands: a value of exactly MaxValue and an MGET of
// 60,000 keys are served.
func TestLargeButValidCommands(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{MaxValue: 1 << 20})
	c := newClient(t, addr, 2)
	v := strings.Repeat("v", 1<<20)
	if err := c.Set(t.Context(), "max", v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(t.Context(), "max").Result(); err != nil || got != v {
		t.Fatalf("GET of a MaxValue value: %d bytes, %v", len(got), err)
	}
	keys := make([]string, 60_000)
	for i := range keys {
		keys[i] = "max"
	}
	if n, err := c.Exists(t.Context(), keys...).Result(); err != nil || n != 60_000 {
		t.Fatalf("EXISTS of 60,000 keys = %d, %v", n, err)
	}
}

// FuzzFramer feeds arbitrary bytes through the framer: whatever it passes
// as a complete command, redcon's parser must read whole without panicking
// (it would panic on "$-2", which the framer refuses).
func FuzzFramer(f *testing.F) {
	for _, seed := range []string{"*1\r\n$4\r\nPING\r\n", "PING\r\n", "*1\r\n$-2\r\n\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"SET \"a b\" 'c'\r\n", "\r\n\n", "*3\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := framer{lim: limits{maxArgs: 100, maxBulk: 1000, maxQuery: 4000, maxInline: 1000}}
		start := 0
		for pos := 0; pos < len(in); {
			n, end, err := fr.advance(in[pos:])
			pos += n
			if err != nil {
				return
			}
			if end {
				complete, _, _, _, perr := redcon.ReadNextCommand(in[start:pos], nil)
				if perr == nil && !complete {
					t.Fatalf("the framer ended a command redcon finds incomplete: %q", in[start:pos])
				}
				start = pos
			}
		}
	})
}
