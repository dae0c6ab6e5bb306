package bench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// cannedServer answers each request read on a connection with the next of
// replies (cycling), and closes the connection after a reply when
// closeAfter says so. It records the requests' first lines.
type cannedServer struct {
	ln         net.Listener
	replies    []string
	closeAfter func(i int) bool
	mu         sync.Mutex
	lines      []string
	conns      int
	wg         sync.WaitGroup
}

func startCanned(t *testing.T, closeAfter func(int) bool, replies ...string) *cannedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &cannedServer{ln: ln, replies: replies, closeAfter: closeAfter}
	s.wg.Go(func() {
		for i := 0; ; {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			r := bufio.NewReader(conn)
			for {
				req, err := http.ReadRequest(r)
				if err != nil {
					break
				}
				io.Copy(io.Discard, req.Body)
				s.mu.Lock()
				s.lines = append(s.lines, req.Method+" "+req.URL.Path+" "+req.Host)
				s.mu.Unlock()
				io.WriteString(conn, s.replies[i%len(s.replies)])
				i++
				if s.closeAfter != nil && s.closeAfter(i) {
					break
				}
			}
			conn.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func TestRawClientResponses(t *testing.T) {
	cases := []struct {
		name  string
		reply string
		want  int
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200},
		{"chunked", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", 201},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\n", 204},
		{"error status", "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nRetry-After: 1\r\n\r\n{}", 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startCanned(t, nil, tc.reply)
			c := &rawConn{host: s.ln.Addr().String(), timeout: 5 * time.Second}
			defer c.close()
			// Three requests on one connection: each response was read whole.
			for i := range 3 {
				st, err := c.do("PUT", "/v1/kv/k", []byte("value"))
				if err != nil || st != tc.want {
					t.Fatalf("request %d: %d, %v; want %d", i, st, err, tc.want)
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.conns != 1 {
				t.Fatalf("%d connections for 3 requests: the connection was not kept", s.conns)
			}
			if s.lines[0] != "PUT /v1/kv/k "+s.ln.Addr().String() {
				t.Fatalf("the server read %q", s.lines[0])
			}
		})
	}
}

func TestRawClientConnectionEnds(t *testing.T) {
	// The server closes after every response: Connection: close, an
	// HTTP/1.0 body ended by the close, and a silent close of an idle
	// keep-alive connection (retried on a fresh one).
	for _, tc := range []struct{ name, reply string }{
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
		{"http/1.0 to the end", "HTTP/1.0 200 OK\r\n\r\nuntil the end"},
		{"idle keep-alive closed", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startCanned(t, func(int) bool { return true }, tc.reply)
			c := &rawConn{host: s.ln.Addr().String(), timeout: 5 * time.Second}
			defer c.close()
			for i := range 3 {
				if st, err := c.do("GET", "/v1/kv/k", nil); err != nil || st != 200 {
					t.Fatalf("request %d: %d, %v", i, st, err)
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.lines) != 3 {
				t.Fatalf("the server saw %d requests, want 3", len(s.lines))
			}
		})
	}
}

func TestRawClientFailures(t *testing.T) {
	s := startCanned(t, nil, "garbage\r\n\r\n")
	c := &rawConn{host: s.ln.Addr().String(), timeout: 5 * time.Second}
	if _, err := c.do("GET", "/x", nil); !errors.Is(err, errMalformed) {
		t.Fatalf("a garbage status line: %v, want errMalformed", err)
	}
	if c.conn != nil {
		t.Fatal("the connection was kept after a malformed response")
	}

	// A server that never answers: the deadline ends the request.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	slow := &rawConn{host: ln.Addr().String(), timeout: 100 * time.Millisecond}
	_, err = slow.do("GET", "/x", nil)
	if errorKind(0, err) != "timeout" {
		t.Fatalf("a silent server: %v (%s), want a timeout", err, errorKind(0, err))
	}
	if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout error %q does not say so", err)
	}
}
