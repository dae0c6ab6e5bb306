package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
			c := newRawConn(s.ln.Addr().String(), 5*time.Second)
			defer c.close()
			// Three requests on one connection: each response was read whole.
			for i := range 3 {
				st, err := c.do(t.Context(), "PUT", "/v1/kv/k", []byte("value"))
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
			c := newRawConn(s.ln.Addr().String(), 5*time.Second)
			defer c.close()
			for i := range 3 {
				if st, err := c.do(t.Context(), "GET", "/v1/kv/k", nil); err != nil || st != 200 {
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
	c := newRawConn(s.ln.Addr().String(), 5*time.Second)
	if _, err := c.do(t.Context(), "GET", "/x", nil); !errors.Is(err, errMalformed) {
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
	slow := newRawConn(ln.Addr().String(), 100*time.Millisecond)
	_, err = slow.do(t.Context(), "GET", "/x", nil)
	if errorKind(0, err) != "timeout" {
		t.Fatalf("a silent server: %v (%s), want a timeout", err, errorKind(0, err))
	}
	if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout error %q does not say so", err)
	}
}

// TestRawClientRetries checks which requests are repeated after the server
// closed a kept connection: a GET that got no byte of answer is; a PUT is
// not (the server may have acted on it), nor anything after part of a
// response arrived.
func TestRawClientRetries(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name    string
		method  string
		reply2  string // the second reply, after which the server closes
		wantErr bool
		wantReq int // requests the server reads in all
	}{
		{"GET after an idle close", "GET", ok, false, 3},
		{"PUT after an idle close", "PUT", ok, true, 2},
		{"GET after part of a status line", "GET", "HTTP/1.1 20", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first connection answers once, then closes without a word
			// (reply "" for the second request) or after a partial answer.
			s := startCanned(t, func(i int) bool { return i >= 2 }, ok, tc.reply2, ok)
			if tc.reply2 == ok {
				s.replies = []string{ok, "", ok}
			}
			c := newRawConn(s.ln.Addr().String(), 5*time.Second)
			defer c.close()
			if st, err := c.do(t.Context(), tc.method, "/k", []byte("v")); err != nil || st != 200 {
				t.Fatalf("first request: %d, %v", st, err)
			}
			_, err := c.do(t.Context(), tc.method, "/k", []byte("v"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("second request: %v, want error %v", err, tc.wantErr)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.lines) != tc.wantReq {
				t.Fatalf("the server read %d requests, want %d: %q", len(s.lines), tc.wantReq, s.lines)
			}
		})
	}
}

func TestRawClientInterimAndHost(t *testing.T) {
	s := startCanned(t, nil, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
	c := newRawConn(s.ln.Addr().String(), 5*time.Second)
	defer c.close()
	for i := range 3 {
		if st, err := c.do(t.Context(), "GET", "/k", nil); err != nil || st != 200 {
			t.Fatalf("request %d after an interim response: %d, %v", i, st, err)
		}
	}
	for host, dial := range map[string]string{"localhost": "localhost:80", "10.0.0.1:8080": "10.0.0.1:8080", "[::1]": "[::1]:80"} {
		if got := newRawConn(host, time.Second).dial; got != dial {
			t.Errorf("host %q dials %q, want %q", host, got, dial)
		}
	}
}

// TestRawClientContextInterrupts checks that ending the worker's context
// ends a request in flight at once, not after the timeout.
func TestRawClientContextInterrupts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			accepted <- conn // never answers
		}
	}()
	defer func() {
		if conn := <-accepted; conn != nil {
			conn.Close()
		}
	}()
	d, err := NewHTTP(HTTPOptions{Targets: []string{"http://" + ln.Addr().String()}, Conns: 1, Keys: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(t.Context())
	do := d.Worker(ctx, 0)
	done := make(chan error, 1)
	go func() { _, err := do(Op{Kind: OpGet}); done <- err }()
	conn := <-accepted
	accepted <- conn // for the deferred close
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted request: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the request outlived its context by 30s (its timeout is a minute)")
	}
}

// TestRawClientRetriesGETAfterReset checks that a GET on a kept connection
// the server has closed is retried when the close shows as a reset (the
// request reached the closed socket) rather than an EOF. The server
// answers one request per connection, then resets it when the next
// arrives, unread.
func TestRawClientRetriesGETAfterReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	var answered atomic.Int64
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			if _, err := http.ReadRequest(r); err == nil {
				// Counted before the answer goes out: the client may check
				// the count as soon as it has the answer.
				answered.Add(1)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				r.Peek(1) // the next request is here
			}
			conn.(*net.TCPConn).SetLinger(0) // close with a reset
			conn.Close()
		}
	})
	c := newRawConn(ln.Addr().String(), 5*time.Second)
	defer c.close()
	for i := range 3 {
		if st, err := c.do(t.Context(), "GET", "/v1/kv/k", nil); err != nil || st != 200 {
			t.Fatalf("request %d: %d, %v", i, st, err)
		}
	}
	if got := answered.Load(); got != 3 {
		t.Fatalf("the server answered %d requests, want 3", got)
	}
}
