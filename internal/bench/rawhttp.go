package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rawConn is one worker's HTTP/1.1 client over a plain TCP connection:
// it writes each request with one syscall and parses only what it needs of
// the response (status, length, chunking, Connection: close). It costs a
// fraction of net/http's client, which on a 2-core machine shares the CPU
// with the servers measured: the lighter the load generator, the more of
// the machine the system under test gets, as with wrk. One goroutine uses
// a rawConn at a time; interrupt may be called from any.
type rawConn struct {
	host    string // host[:port] sent as Host
	dial    string // host:port dialled (port 80 when host has none)
	timeout time.Duration
	r       *bufio.Reader
	req     []byte // reused request buffer

	// conn is written only by the worker, under mu; interrupt reads it
	// under mu from another goroutine.
	mu   sync.Mutex
	conn net.Conn
}

func newRawConn(host string, timeout time.Duration) *rawConn {
	dial := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		dial = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	return &rawConn{host: host, dial: dial, timeout: timeout}
}

// rawConns holds a Doer's raw connections by worker, so that successive
// runs (preload, rounds) reuse them, and closes them at the end.
type rawConns struct {
	mu    sync.Mutex
	conns map[int]*rawConn
}

// get returns worker w's connection to host.
func (rc *rawConns) get(w int, host string, timeout time.Duration) *rawConn {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if c, ok := rc.conns[w]; ok {
		if c.host == host {
			return c
		}
		c.close()
	}
	if rc.conns == nil {
		rc.conns = map[int]*rawConn{}
	}
	c := newRawConn(host, timeout)
	rc.conns[w] = c
	return c
}

func (rc *rawConns) closeAll() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, c := range rc.conns {
		c.close()
	}
	rc.conns = nil
}

func (c *rawConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// interrupt ends the request in flight, if any, at once.
func (c *rawConn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

var (
	errMalformed = errors.New("malformed HTTP response")
	// errNotSent: writing the request failed, so the server cannot
	// have a whole request to act on.
	errNotSent = errors.New("connection closed before the request was sent")
	// errClosedIdle: the server closed the connection without sending a
	// byte of response: typically a keep-alive connection it had closed
	// as idle, but possibly a server that acted and then died.
	errClosedIdle = errors.New("connection closed by the server before answering")
)

// do sends one request and reads the whole response, returning its status.
// On a reused connection the server may have closed meanwhile, a request
// is retried once on a fresh connection when it surely was not sent, or
// when it is a GET (safe to repeat) and the server closed without a byte
// of response. ctx ending interrupts the request.
func (c *rawConn) do(ctx context.Context, method, path string, body []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	reused := c.conn != nil
	st, err := c.try(ctx, method, path, body)
	if err != nil && reused && (errors.Is(err, errNotSent) || (method == "GET" && errors.Is(err, errClosedIdle))) {
		st, err = c.try(ctx, method, path, body)
	}
	return st, err
}

func (c *rawConn) try(ctx context.Context, method, path string, body []byte) (int, error) {
	conn := c.conn
	if conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", c.dial)
		if err != nil {
			return 0, err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conn = nc
		c.mu.Lock()
		c.conn = conn
		c.mu.Unlock()
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.r.Reset(conn)
		}
	}
	b := append(c.req[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	if method != "GET" && method != "HEAD" {
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.req = b
	err := conn.SetDeadline(time.Now().Add(c.timeout))
	if err == nil {
		err = ctx.Err() // an interrupt that came before this deadline
	}
	if err != nil {
		c.close()
		return 0, err
	}
	if _, err := conn.Write(b); err != nil {
		c.close()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, errors.Join(errNotSent, err)
	}
	st, keep, err := c.readResponse(method == "HEAD")
	if err != nil || !keep {
		c.close()
	}
	if err != nil && ctx.Err() != nil {
		return st, ctx.Err()
	}
	return st, err
}

// readResponse reads a response's head and discards its body.
func (c *rawConn) readResponse(head bool) (status int, keep bool, err error) {
	var line []byte
	for first := true; ; first = false {
		line, err = c.r.ReadSlice('\n')
		switch {
		case err != nil && first && len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
			// A reset rather than an EOF when the request reached the
			// closed socket first.
			return 0, false, errClosedIdle
		case errors.Is(err, io.EOF):
			return 0, false, io.ErrUnexpectedEOF // part of a response
		case err != nil:
			return 0, false, err
		}
		// "HTTP/1.1 200 OK\r\n"
		if len(line) < 13 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || line[12] != ' ' && line[12] != '\r' {
			return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = 0
		for _, d := range line[9:12] {
			if d < '0' || d > '9' {
				return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
			}
			status = status*10 + int(d-'0')
		}
		if status < 100 || status >= 200 || status == 101 {
			break
		}
		// An interim response (100 Continue, 103 Early Hints): its
		// headers, then the final response follows.
		for {
			h, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			if len(h) <= 2 {
				break
			}
		}
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection by default
	length, chunked := int64(-1), false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		if len(h) <= 2 { // the blank line
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("%w: header %q", errMalformed, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("close")) {
					keep = false
				}
			}
		}
	}
	switch {
	case head || status/100 == 1 || status == 204 || status == 304:
	case chunked:
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(c.r)); err != nil {
			return status, false, err
		}
		// The trailer section ends with a blank line.
		for {
			t, err := c.r.ReadSlice('\n')
			if err != nil {
				return status, false, err
			}
			if len(t) <= 2 {
				break
			}
		}
	case length >= 0:
		if _, err := c.r.Discard(int(length)); err != nil {
			return status, false, err
		}
	default: // delimited by the end of the connection
		if _, err := io.Copy(io.Discard, c.r); err != nil {
			return status, false, err
		}
		keep = false
	}
	return status, keep, nil
}
