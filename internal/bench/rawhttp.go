package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"
)

// rawConn is one worker's HTTP/1.1 client over a plain TCP connection:
// it writes each request with one syscall and parses only what it needs of
// the response (status, length, chunking, Connection: close). It costs a
// fraction of net/http's client, which on a 2-core machine shares the CPU
// with the servers measured: the lighter the load generator, the more of
// the machine the system under test gets, as with wrk.
type rawConn struct {
	host    string // host:port to dial and send as Host
	timeout time.Duration
	conn    net.Conn
	r       *bufio.Reader
	req     []byte // reused request buffer
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
	if c, ok := rc.conns[w]; ok && c.host == host {
		return c
	}
	if rc.conns == nil {
		rc.conns = map[int]*rawConn{}
	}
	c := &rawConn{host: host, timeout: timeout}
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
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

var errMalformed = errors.New("malformed HTTP response")

// do sends one request and reads the whole response, returning its status.
// A request on a reused connection that the server had closed is retried
// once on a fresh one, as net/http does.
func (c *rawConn) do(method, path string, body []byte) (int, error) {
	reused := c.conn != nil
	st, err := c.try(method, path, body)
	if err != nil && reused && st == 0 && (errors.Is(err, io.EOF) || errors.Is(err, errStale)) {
		st, err = c.try(method, path, body)
	}
	return st, err
}

var errStale = errors.New("connection closed by the server before answering")

func (c *rawConn) try(method, path string, body []byte) (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.host, 5*time.Second)
		if err != nil {
			return 0, err
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c.conn = conn
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
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, err
	}
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return 0, errors.Join(errStale, err)
	}
	st, keep, err := c.readResponse(method == "HEAD")
	if err != nil || !keep {
		c.close()
	}
	return st, err
}

// readResponse reads a response's head and discards its body.
func (c *rawConn) readResponse(head bool) (status int, keep bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return 0, false, errStale
		}
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
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
			keep = !bytes.EqualFold(value, []byte("close"))
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
