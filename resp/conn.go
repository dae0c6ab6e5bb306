package resp

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// Input buffer sizes: a connection starts with readBuf bytes, grows only
// for a command that does not fit (up to Config.MaxQuery) and shrinks back
// once such a command is done.
const (
	readBuf    = 16 << 10
	shrinkOver = 64 << 10
)

// conn is one client connection. The read loop owns the session state;
// the output is shared with the pub/sub goroutine under wmu.
type conn struct {
	s   *Server
	nc  net.Conn
	id  int64
	ctx context.Context

	// Session state, owned by the read loop.
	name       string
	libName    string
	libVer     string
	user       string
	principal  Principal // nil: not authenticated (or no authentication)
	authed     bool
	r          reply // the reply being built
	argsBuf    [][]byte
	ps         *pubsub // nil until the first SUBSCRIBE
	quit       bool
	currentCmd string

	resp3 atomic.Bool // after HELLO 3; read by the pub/sub goroutine

	wmu  sync.Mutex
	out  []byte // replies not yet written
	werr error  // the first write error: the connection is done
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, id: s.nextID.Add(1), ctx: s.ctx}
	c.authed = s.cfg.Auth == nil
	return c
}

// serve reads commands, runs them in order and writes their replies in
// order, until the client leaves, sends QUIT or breaks the protocol.
func (c *conn) serve() {
	defer c.nc.Close()
	defer c.stopPubsub()
	var fr = framer{lim: limits{maxArgs: c.s.cfg.MaxArgs, maxBulk: max(c.s.cfg.MaxValue, c.s.cfg.MaxKey),
		maxQuery: c.s.cfg.MaxQuery, maxInline: c.s.cfg.MaxInline}}
	buf := make([]byte, 0, readBuf)
	scanned, start := 0, 0 // bytes the framer has seen; start of the first unrun command
	for {
		// Run every complete command in the buffer, in order.
		var perr error
		for scanned < len(buf) && perr == nil {
			n, end, err := fr.advance(buf[scanned:])
			scanned += n
			if err != nil {
				perr = err
				break
			}
			if end {
				c.run(buf[start:scanned])
				start = scanned
				if c.quit || c.failed() {
					c.flush()
					return
				}
			}
		}
		if perr != nil {
			c.r.b = c.r.b[:0]
			c.r.err("ERR " + perr.Error())
			c.emit()
			c.flush()
			return
		}
		if c.flush() != nil {
			return
		}
		// Keep the unfinished command at the front; shrink after a big one.
		rest := len(buf) - start
		if cap(buf) > shrinkOver && rest <= readBuf {
			buf = append(make([]byte, 0, readBuf), buf[start:]...)
		} else {
			buf = buf[:copy(buf, buf[start:])]
		}
		scanned -= start
		start = 0
		if len(buf) == cap(buf) {
			// One command bigger than the buffer: the framer has checked it
			// is within MaxQuery.
			grown := make([]byte, len(buf), min(2*cap(buf), c.s.cfg.MaxQuery+readBuf))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return
		}
	}
}

// run parses and runs one complete command and queues its reply.
func (c *conn) run(raw []byte) {
	complete, args, _, _, err := redcon.ReadNextCommand(raw, c.argsBuf)
	switch {
	case err != nil:
		// Inline commands' quoting errors: a protocol error, as in Redis.
		c.r.err("ERR " + err.Error())
		c.quit = true
	case !complete:
		c.r.err("ERR Protocol error: incomplete command") // cannot happen: the framer found its end
	case len(args) == 0:
		return // an empty inline line
	default:
		c.argsBuf = args[:0]
		c.s.commands.Add(1)
		c.dispatch(args)
		clear(args) // drop references into the input buffer
	}
	c.emit()
}

// dispatch runs a command, turning a panic into an error reply.
func (c *conn) dispatch(args [][]byte) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("redis command panic", "command", c.currentCmd, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.r.b = c.r.b[:0]
			c.r.err("ERR internal error")
		}
	}()
	c.r.resp3 = c.resp3.Load()
	cmd := lookup(args[0])
	if cmd == nil {
		c.currentCmd = string(args[0])
		c.r.err(errUnknownCommand(string(args[0])))
		return
	}
	c.currentCmd = cmd.name
	// Redis's order: unknown command, arity, then authentication.
	switch {
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		c.r.err(errWrongArity(cmd.name))
		return
	case !c.authed && !cmd.noAuth:
		c.r.err(errNoAuth)
		return
	case c.ps != nil && c.ps.count() > 0 && !c.resp3.Load() && !cmd.inPubsub:
		c.r.err(fmt.Sprintf("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", cmd.name))
		return
	}
	cmd.run(c, args)
}

const errNoAuth = "NOAUTH Authentication required."

// fail answers err in Redis's form; write says whether the command
// writes (an unknown outcome concerns writes only).
func (c *conn) fail(err error, write bool) { c.r.err(errorText(err, write)) }

// emit moves the reply built so far to the output, writing it out when
// enough is pending. Commands with large replies call it as they go.
func (c *conn) emit() {
	if len(c.r.b) == 0 {
		return
	}
	c.wmu.Lock()
	c.out = append(c.out, c.r.b...)
	if len(c.out) >= c.s.cfg.MaxPending {
		c.flushLocked()
	}
	c.wmu.Unlock()
	if cap(c.r.b) > shrinkOver {
		c.r.b = nil
	} else {
		c.r.b = c.r.b[:0]
	}
}

// flush writes the pending output.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *conn) flushLocked() error {
	if c.werr != nil || len(c.out) == 0 {
		c.out = c.out[:0]
		return c.werr
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(c.out)
	if err != nil {
		// A client that does not read its replies is disconnected, so
		// its replies never pile up.
		c.werr = err
		c.nc.Close()
	}
	if cap(c.out) > shrinkOver {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// failed reports whether writing to the client has failed.
func (c *conn) failed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr != nil
}

// emitWith runs f, which builds on the reply, and emits it, all under the
// output lock: nothing the pub/sub forwarder writes comes between.
func (c *conn) emitWith(f func()) {
	c.wmu.Lock()
	f()
	c.out = append(c.out, c.r.b...)
	c.r.b = c.r.b[:0]
	if len(c.out) >= c.s.cfg.MaxPending {
		c.flushLocked()
	}
	c.wmu.Unlock()
}
