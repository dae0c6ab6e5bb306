package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// maxConnAttempts bounds how often one call looks for a usable connection
// when connections close under it before its request is queued.
const maxConnAttempts = 3

var errIdle = errors.New("connection idle")

// Call sends msg to the peer listening at addr over the one shared
// connection to addr (dialing it if needed) and waits for the answer, ctx's
// end, or the connection's loss. It follows the package's error contract.
// Safe for concurrent use; it blocks the calling goroutine only.
func (t *TCP) Call(ctx context.Context, addr string, msg wire.Message) (Envelope, error) {
	// The body is copied into the connection's write buffer when queued,
	// so its buffer is reused by later calls.
	buf := encodeBufs.Get().(*[]byte)
	body, err := appendRequest((*buf)[:0], msg, t.cfg.MaxFrame)
	defer func() { putEncodeBuf(buf, body) }()
	if err != nil {
		return Envelope{}, fmt.Errorf("transport: call %s: %w", addr, err)
	}
	ctx, cancel := withDefaultTimeout(ctx, t.cfg.CallTimeout)
	defer cancel()
	p, err := t.peer(addr)
	if err != nil {
		return Envelope{}, err
	}
	for attempt := 1; ; attempt++ {
		cc, err := p.conn(ctx)
		if err != nil {
			return Envelope{}, err
		}
		env, retry, err := cc.call(ctx, msg.WireType(), body)
		if !retry || attempt == maxConnAttempts {
			return env, err
		}
	}
}

// encodeBufs holds the buffers requests and answers are encoded into
// before being copied into a connection's write buffer.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledEncodeBuf is the largest encoding buffer kept for reuse.
const maxPooledEncodeBuf = 64 << 10

// putEncodeBuf returns buf, last grown to body, to encodeBufs.
func putEncodeBuf(buf *[]byte, body []byte) {
	if cap(body) <= maxPooledEncodeBuf {
		*buf = body[:0]
		encodeBufs.Put(buf)
	}
}

// peer returns the client state for addr, creating it on first use.
func (t *TCP) peer(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, unreachable(addr, errTransportClosed)
	}
	p := t.peers[addr]
	if p == nil {
		p = &peer{t: t, addr: addr}
		t.peers[addr] = p
	}
	return p, nil
}

// peer is the client side of one remote address: at most one open
// connection and at most one dial in progress.
type peer struct {
	t    *TCP
	addr string

	mu       sync.Mutex
	cc       *clientConn   // the current connection; nil or closed if none
	dialing  chan struct{} // closed when the dial in progress ends; nil if none
	failedAt time.Time     // when the last dial failed; zero after a success
	dialErr  error
}

// conn returns an open connection to p.addr, waiting for a dial started by
// itself or another call. Within t.backoff of a failed dial it fails at once
// with wire.ErrUnreachable. If ctx ends first it fails with
// wire.ErrUnreachable wrapping ctx.Err(): nothing has been sent yet.
func (p *peer) conn(ctx context.Context) (*clientConn, error) {
	for range maxConnAttempts {
		p.mu.Lock()
		if cc := p.cc; cc != nil && !cc.closed.Load() {
			p.mu.Unlock()
			return cc, nil
		}
		if p.dialing == nil {
			if !p.failedAt.IsZero() && time.Since(p.failedAt) < p.t.backoff {
				err := p.dialErr
				p.mu.Unlock()
				return nil, unreachable(p.addr, err)
			}
			done := make(chan struct{})
			if !p.t.register(nil, func() { p.dial(done) }) {
				p.mu.Unlock()
				return nil, unreachable(p.addr, errTransportClosed)
			}
			p.dialing = done
		}
		wait := p.dialing
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, unreachable(p.addr, ctx.Err())
		}
	}
	return nil, unreachable(p.addr, errors.New("connections keep closing right after dial"))
}

// dial opens a connection to p.addr and publishes the outcome, then closes
// done. It runs on its own goroutine, bounded by DialTimeout and by Close,
// so callers waiting for it can give up on their own ctx.
func (p *peer) dial(done chan struct{}) {
	cc, err := p.t.dialConn(p)
	p.mu.Lock()
	if err != nil {
		p.failedAt, p.dialErr = time.Now(), err
	} else {
		p.cc, p.failedAt, p.dialErr = cc, time.Time{}, nil
	}
	p.dialing = nil
	close(done)
	p.mu.Unlock()
	if err != nil && !p.t.isClosed() {
		p.t.log.Debug("transport: dial failed", "remote", p.addr, "err", err)
	}
}

// detach forgets cc if it is p's current connection.
func (p *peer) detach(cc *clientConn) {
	p.mu.Lock()
	if p.cc == cc {
		p.cc = nil
	}
	p.mu.Unlock()
}

// dialConn dials p.addr, runs the handshake, and starts the connection's
// reader and writer goroutines.
func (t *TCP) dialConn(p *peer) (*clientConn, error) {
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	nc, err := d.DialContext(t.ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if err := t.handshake(nc, true); err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	cc := &clientConn{
		t:       t,
		p:       p,
		nc:      nc,
		w:       newFrameWriter(nc, t.cfg.WriteTimeout, t.writeLimit()).counting(&t.writes),
		pending: make(map[uint64]chan<- reply),
	}
	if !t.register(cc, cc.readLoop, cc.writeLoop) {
		nc.Close()
		return nil, errTransportClosed
	}
	return cc, nil
}

// handshake runs cfg.Handshake, if any, under a DialTimeout deadline.
func (t *TCP) handshake(nc net.Conn, dialer bool) error {
	if t.cfg.Handshake == nil {
		return nil
	}
	if err := nc.SetDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil {
		return err
	}
	if err := t.cfg.Handshake(nc, dialer); err != nil {
		return err
	}
	return nc.SetDeadline(time.Time{})
}

// reply is what a pending call receives: a response frame or the error
// that ended its connection.
type reply struct {
	h    wire.Header
	body []byte
	err  error
}

// clientConn is one multiplexed connection to a peer. Calls register a
// waiter under a fresh request ID and queue their frame on the writer; the
// reader goroutine hands each response to the waiter with its ID.
type clientConn struct {
	t  *TCP
	p  *peer
	nc net.Conn
	w  *frameWriter

	closed  atomic.Bool // no new calls; set under mu
	mu      sync.Mutex
	pending map[uint64]chan<- reply
	nextID  uint64
	err     error // why the connection shut down; nil while open
}

// call sends one request and waits for its answer. retry reports that the
// connection closed before the request was queued, so nothing was sent and
// another connection may be tried.
func (cc *clientConn) call(ctx context.Context, typ wire.Type, body []byte) (env Envelope, retry bool, err error) {
	addr := cc.p.addr
	if ctx.Err() != nil {
		return Envelope{}, false, unreachable(addr, ctx.Err())
	}
	ch := replyChans.Get().(chan reply)
	cc.mu.Lock()
	if cc.closed.Load() {
		cc.mu.Unlock()
		replyChans.Put(ch)
		return Envelope{}, true, unreachable(addr, errors.New("connection closed"))
	}
	cc.nextID++
	id := cc.nextID
	cc.pending[id] = ch
	cc.mu.Unlock()

	from, term := cc.t.cfg.Stamp()
	h := wire.Header{Type: typ, ID: id, From: from, Term: term}
	if err := cc.w.enqueue(ctx, h, body); err != nil {
		if cc.forget(id) {
			replyChans.Put(ch)
		}
		if ctx.Err() != nil {
			return Envelope{}, false, unreachable(addr, ctx.Err())
		}
		return Envelope{}, true, unreachable(addr, err)
	}
	select {
	case r := <-ch:
		// Whoever sent r took ch out of pending first: nothing else will.
		replyChans.Put(ch)
		if r.err != nil {
			return Envelope{}, false, r.err
		}
		env, err := decodeReply(r.h, r.body)
		return env, false, err
	case <-ctx.Done():
		if cc.forget(id) {
			replyChans.Put(ch)
		}
		return Envelope{}, false, timedOut(ctx, addr)
	}
}

// forget drops the waiter for id; a late response for it is discarded. It
// reports whether the waiter was still registered: if not, an answer or
// error was or is being sent to it.
func (cc *clientConn) forget(id uint64) bool {
	cc.mu.Lock()
	_, ok := cc.pending[id]
	delete(cc.pending, id)
	cc.mu.Unlock()
	return ok
}

// replyChans holds the channels calls wait on, each empty, and no one
// will send on it again.
var replyChans = sync.Pool{New: func() any { return make(chan reply, 1) }}

// closeIfIdle marks the connection closed if no call is pending, and
// reports whether it did.
func (cc *clientConn) closeIfIdle() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.pending) > 0 {
		return false
	}
	cc.closed.Store(true)
	return true
}

// shutdown closes the connection once: later calls go to a new connection,
// pending calls fail with wire.ErrConnLost. Safe from any goroutine.
func (cc *clientConn) shutdown(cause error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	cc.err = cause
	cc.closed.Store(true)
	pending := cc.pending
	cc.pending = nil
	cc.mu.Unlock()

	cc.w.shutdown()
	cc.nc.Close()
	cc.p.detach(cc)
	cc.t.unregister(cc)
	if len(pending) > 0 {
		err := connLost(cc.p.addr, cause)
		for _, ch := range pending {
			ch <- reply{err: err}
		}
	}
	if cause != errTransportClosed && cause != errIdle {
		cc.t.log.Debug("transport: connection lost", "remote", cc.p.addr, "pending", len(pending), "err", cause)
	}
}

// writeLoop runs the connection's writer until it stops or fails.
func (cc *clientConn) writeLoop() {
	cc.shutdown(cc.w.run())
}

// readLoop is the connection's reader goroutine: it hands responses to
// their waiters until the connection fails, a malformed frame arrives, or
// it has been idle (no call pending) for half the IdleTimeout.
func (cc *clientConn) readLoop() {
	br := bufio.NewReaderSize(cc.nc, 32<<10)
	idle := cc.t.cfg.IdleTimeout / 2
	for {
		if br.Buffered() == 0 {
			if err := cc.awaitData(br, idle); err != nil {
				cc.shutdown(err)
				return
			}
		}
		if err := cc.nc.SetReadDeadline(time.Now().Add(cc.t.cfg.IdleTimeout)); err != nil {
			cc.shutdown(err)
			return
		}
		h, body, err := wire.ReadFrameIn(br, cc.t.cfg.MaxFrame, cc.t.frames)
		if err == nil && h.Flags&wire.FlagResponse == 0 {
			err = fmt.Errorf("%w: request frame (type %d, id %d) on a client connection", wire.ErrBadFrame, h.Type, h.ID)
		}
		if err != nil {
			if errors.Is(err, wire.ErrBadFrame) {
				cc.t.log.Warn("transport: closing connection after malformed frame", "remote", cc.p.addr, "err", err)
			}
			cc.shutdown(err)
			return
		}
		cc.mu.Lock()
		ch := cc.pending[h.ID]
		delete(cc.pending, h.ID)
		cc.mu.Unlock()
		if ch != nil {
			ch <- reply{h: h, body: body}
		}
	}
}

// awaitData blocks until the connection has bytes to read. Each time idle
// passes without any, it returns errIdle if no call is pending and
// otherwise keeps waiting.
func (cc *clientConn) awaitData(br *bufio.Reader, idle time.Duration) error {
	for {
		if err := cc.nc.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		_, err := br.Peek(1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if cc.closeIfIdle() {
			return errIdle
		}
	}
}
