package ftp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// maxCommandBytes bounds what a client may send before the server answers
// (a command line, or a few pipelined ones): past it the connection is
// closed, so a line with no end costs nothing.
const maxCommandBytes = 16 << 10

// errCommandTooLong ends a connection whose command never ends.
var errCommandTooLong = errors.New("ftp: command line too long")

// listener hands goftp the control connections, at most Config.MaxConns
// at once, each wrapped in a ctrlConn.
type listener struct {
	net.Listener
	s *Server
}

// Accept returns the next connection under the limit; one past it is
// told so and closed here.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc, ok := l.s.register(c)
		if !ok {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = fmt.Fprintf(c, "421 Too many connections (%d): try again later\r\n", l.s.cfg.MaxConns)
			_ = c.Close()
			continue
		}
		return cc, nil
	}
}

// ctrlConn is one control connection: every Read waits at most
// IdleTimeout, the bytes read between two answers are capped, and AUTH TLS
// switches it to TLS underneath goftp's reader and writer.
type ctrlConn struct {
	net.Conn // the TCP connection
	s        *Server
	st       *session

	mu      sync.Mutex
	tls     *tls.Conn // after AUTH TLS
	unread  int       // bytes read since the last answer
	closed  bool
	onClose func()
}

func (c *ctrlConn) conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tls != nil {
		return c.tls
	}
	return c.Conn
}

func (c *ctrlConn) Read(p []byte) (int, error) {
	nc := c.conn()
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	n, err := nc.Read(p)
	c.mu.Lock()
	c.unread += n
	over := c.unread > maxCommandBytes
	c.mu.Unlock()
	if over {
		return 0, errCommandTooLong
	}
	return n, err
}

func (c *ctrlConn) Write(p []byte) (int, error) {
	nc := c.conn()
	c.mu.Lock()
	c.unread = 0
	c.mu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.s.cfg.DataTimeout))
	return nc.Write(p)
}

// startTLS makes the next reads and writes go through TLS (AUTH TLS).
func (c *ctrlConn) startTLS(cfg *tls.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tls = tls.Server(c.Conn, cfg)
}

// Close closes the connection and ends its session. Safe to call twice.
func (c *ctrlConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	f := c.onClose
	c.mu.Unlock()
	err := c.Conn.Close()
	if f != nil {
		f()
	}
	return err
}
