package ftp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/auth"
)

// portPool hands out the passive ports of Config's range, each to one
// session at a time.
type portPool struct {
	lo, hi int
	mu     sync.Mutex
	used   map[int]bool
}

// errNoPassivePort: every port of the range is held by a session.
var errNoPassivePort = errors.New("no passive port free")

// listen opens a passive listener on host: a free port of the range (or
// any port when there is no range).
func (p *portPool) listen(host string) (net.Listener, int, error) {
	if p.lo == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, 0, err
		}
		return ln, ln.Addr().(*net.TCPAddr).Port, nil
	}
	n := p.hi - p.lo + 1
	start := rand.IntN(n)
	for i := range n {
		port := p.lo + (start+i)%n
		p.mu.Lock()
		if p.used[port] {
			p.mu.Unlock()
			continue
		}
		p.used[port] = true
		p.mu.Unlock()
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return ln, port, nil
		}
		p.release(port) // taken by another process: try the next
	}
	return nil, 0, fmt.Errorf("%w: all %d ports of %d-%d are in use", errNoPassivePort, n, p.lo, p.hi)
}

func (p *portPool) release(port int) {
	if p.lo == 0 {
		return
	}
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}

// session is this package's state of one control connection, beside
// goftp's: the user, TLS, the data connection being prepared and a REST
// offset. Only the session's own goroutine (goftp's) touches it, but
// Server.Close, which takes mu to close what it holds.
type session struct {
	ctrl   *ctrlConn
	client net.IP // the client's address: data connections come from it and go to it only

	user *auth.User // nil without a guard (everyone trusted) or before login
	tls  bool       // after AUTH TLS
	prot bool       // PROT P: data connections in TLS too
	rest int64      // REST offset for the next transfer

	mu      sync.Mutex // guards the fields below
	pasv    net.Listener
	pasvPrt int
	active  string   // PORT/EPRT address
	data    net.Conn // the transfer's connection, while open
	ended   bool
}

// setPassive replaces the prepared data connection with a listener.
func (s *session) setPassive(ln net.Listener, port int, pool *portPool) {
	s.closeData(pool)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		_ = ln.Close()
		pool.release(port)
		return
	}
	s.pasv, s.pasvPrt = ln, port
}

// setActive replaces the prepared data connection with an address to dial.
func (s *session) setActive(addr string, pool *portPool) {
	s.closeData(pool)
	s.mu.Lock()
	s.active = addr
	s.mu.Unlock()
}

// closeData closes the prepared or open data connection, if any.
func (s *session) closeData(pool *portPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pasv != nil {
		_ = s.pasv.Close()
		pool.release(s.pasvPrt)
		s.pasv, s.pasvPrt = nil, 0
	}
	if s.data != nil {
		_ = s.data.Close()
		s.data = nil
	}
	s.active = ""
}

// end closes everything of a session that is over.
func (s *session) end(pool *portPool) {
	s.closeData(pool)
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

// errNoDataConn: a transfer without PASV/EPSV/PORT/EPRT before it.
var errNoDataConn = errors.New("use PASV, EPSV, PORT or EPRT first")

// openData opens the transfer's data connection: accepts on the passive
// listener (only from the client's address, within timeout) or dials the
// PORT address. The listener or address is used up. The connection is in
// TLS after PROT P, and every read or write on it waits at most timeout.
func (s *session) openData(pool *portPool, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	ln, port, active := s.pasv, s.pasvPrt, s.active
	s.pasv, s.pasvPrt, s.active = nil, 0, ""
	s.mu.Unlock()
	var c net.Conn
	switch {
	case ln != nil:
		defer pool.release(port)
		defer ln.Close()
		deadline := time.Now().Add(timeout)
		if tl, ok := ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(deadline)
		}
		for {
			nc, err := ln.Accept()
			if err != nil {
				return nil, fmt.Errorf("no data connection within %v: %w", timeout, err)
			}
			if ip := remoteIP(nc); ip != nil && ip.Equal(s.client) {
				c = nc
				break
			}
			_ = nc.Close() // another host: refused, keep waiting for the client
		}
	case active != "":
		d := net.Dialer{Timeout: timeout}
		nc, err := d.Dial("tcp", active)
		if err != nil {
			return nil, fmt.Errorf("cannot reach %s: %w", active, err)
		}
		c = nc
	default:
		return nil, errNoDataConn
	}
	if s.prot && cfg != nil {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("TLS on the data connection: %w", err)
		}
		c = tc
	}
	dc := &deadlineConn{Conn: c, timeout: timeout}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		_ = c.Close()
		return nil, errors.New("session ended")
	}
	s.data = dc
	return dc, nil
}

// doneData closes the transfer's connection.
func (s *session) doneData(c net.Conn) {
	s.mu.Lock()
	if s.data == c {
		s.data = nil
	}
	s.mu.Unlock()
	if tc, ok := c.(*deadlineConn); ok {
		if t, ok := tc.Conn.(*tls.Conn); ok {
			_ = t.CloseWrite()
		}
	}
	_ = c.Close()
}

func remoteIP(c net.Conn) net.IP {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}

// deadlineConn gives every read and write its own deadline: a transfer
// ends when it stalls, however long it runs.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// ReadFrom keeps io.Copy from bypassing the deadlines.
func (c *deadlineConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c}, r)
}
