package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// acceptLoop accepts connections until Close, starting one serve goroutine
// per connection. It runs on its own goroutine; temporary accept errors
// (such as running out of file descriptors) are retried with a backoff.
func (t *TCP) acceptLoop() {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("transport: accept failed", "addr", t.Addr(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		sc := newServerConn(t, nc)
		if !t.register(sc, sc.serve) {
			nc.Close()
			return
		}
	}
}

// serverConn is the server side of one accepted connection: a reader
// goroutine that answers quick requests itself and hands the others to
// handler goroutines (workers.go), and a writer goroutine that sends the
// responses, coalescing them into few writes.
type serverConn struct {
	t      *TCP
	nc     net.Conn
	remote string
	w      *frameWriter

	ctx      context.Context // handlers' context; ends when the connection shuts down
	inline   context.Context // ctx, marked for quick requests served on the reader
	cancel   context.CancelFunc
	inflight atomic.Int64 // requests whose handler has not finished
	born     time.Time    // accept time; the origin of active
	active   atomic.Int64 // time since born of the last frame read or answer queued
	once     sync.Once

	// The quick request the reader is serving, for the stall watchdog
	// (watchQuick): inlineSince is 1 + the time since born its frame was
	// read, 0 while the reader serves none; inlineType is its type.
	inlineSince atomic.Int64
	inlineType  atomic.Uint32
	// stallSeen is the inlineSince last reported as a stall. Only the
	// watchdog goroutine uses it.
	stallSeen int64
}

func newServerConn(t *TCP, nc net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(t.ctx)
	return &serverConn{
		t:      t,
		nc:     nc,
		remote: nc.RemoteAddr().String(),
		w:      newFrameWriter(nc, t.cfg.WriteTimeout, t.writeLimit()).counting(&t.writes),
		ctx:    ctx,
		inline: WithInline(ctx),
		cancel: cancel,
		born:   time.Now(),
	}
}

// touch records activity now and returns the time since born it stored.
func (sc *serverConn) touch() int64 {
	now := int64(time.Since(sc.born))
	sc.active.Store(now)
	return now
}

// idleFor returns how long the connection has been without activity.
func (sc *serverConn) idleFor() time.Duration {
	return time.Since(sc.born) - time.Duration(sc.active.Load())
}

// shutdown closes the connection once: the writer stops first (so answers
// of handlers returning on cancellation are dropped), then the handlers'
// context is cancelled. Safe from any goroutine.
func (sc *serverConn) shutdown(cause error) {
	sc.once.Do(func() {
		sc.w.shutdown()
		sc.nc.Close()
		sc.cancel()
		sc.t.unregister(sc)
	})
}

// serve runs the handshake, starts the writer and reads requests until the
// connection ends. It runs on the connection's reader goroutine.
func (sc *serverConn) serve() {
	if err := sc.t.handshake(sc.nc, false); err != nil {
		if !sc.t.isClosed() && !errors.Is(err, ErrAuth) { // the handshake logs its own, rate-limited
			sc.t.log.Warn("transport: handshake failed", "remote", sc.remote, "err", err)
		}
		sc.shutdown(err)
		return
	}
	sc.t.wg.Add(1) // this goroutine is counted, so Add cannot race Close's Wait
	go func() {
		defer sc.t.wg.Done()
		sc.shutdown(sc.w.run())
	}()
	err := sc.readLoop()
	sc.shutdown(err)
}

// readLoop reads request frames and hands each to a handler goroutine
// (workers.go) or, for a QuickHandler's quick requests, runs the handler
// itself.
// It returns when the connection fails, closes, sends a malformed frame
// (logged once at Warn), or sends nothing for IdleTimeout while no request
// is in flight.
func (sc *serverConn) readLoop() error {
	br := bufio.NewReaderSize(sc.nc, 32<<10)
	idle := sc.t.cfg.IdleTimeout
	for {
		if !frameBuffered(br) {
			// Reading on may block: the answers held meanwhile go out
			// now, in one write.
			if err := sc.w.flush(); err != nil {
				return err
			}
		}
		if br.Buffered() == 0 {
			if err := sc.awaitData(br, idle); err != nil {
				return err
			}
		}
		if err := sc.nc.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		h, body, err := wire.ReadFrameIn(br, sc.t.cfg.MaxFrame, sc.t.frames)
		if err != nil {
			if errors.Is(err, wire.ErrBadFrame) {
				return sc.malformed(err)
			}
			return err
		}
		readAt := sc.touch()
		if h.Flags&wire.FlagResponse != 0 {
			return sc.malformed(fmt.Errorf("%w: response frame (type %d, id %d) sent to a server", wire.ErrBadFrame, h.Type, h.ID))
		}
		msg, err := wire.Decode(h.Type, body)
		if err != nil {
			return sc.malformed(err)
		}
		sc.inflight.Add(1)
		sc.t.wg.Add(1) // this goroutine is counted, so Add cannot race Close's Wait
		if sc.t.quick != nil && sc.t.quick.Quick(msg) {
			if served, held := sc.serveQuick(h, msg, readAt); served {
				if held >= maxHeldAnswers {
					if err := sc.w.flush(); err != nil {
						return err
					}
				}
				continue
			}
		}
		sc.t.workers.serve(request{sc, h, msg})
	}
}

// frameBuffered reports whether br holds the whole of the next frame, so
// that reading it will not block.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 4 {
		return false
	}
	p, _ := br.Peek(4)
	return br.Buffered()-4 >= int(binary.BigEndian.Uint32(p))
}

// awaitData blocks until the connection has bytes to read. It returns an
// error once the connection has been idle for idle: no frame read, no
// request in flight and no answer queued for that long.
func (sc *serverConn) awaitData(br *bufio.Reader, idle time.Duration) error {
	for {
		wait := idle
		if sc.inflight.Load() == 0 {
			wait = idle - sc.idleFor()
		}
		if err := sc.nc.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		_, err := br.Peek(1)
		if err == nil {
			return nil
		}
		// Load inflight before active: a handler marks activity before it
		// leaves the in-flight count, so an answer just queued is seen.
		if !errors.Is(err, os.ErrDeadlineExceeded) || sc.inflight.Load() == 0 && sc.idleFor() >= idle {
			return err
		}
	}
}

// malformed logs, once per connection, why the connection is being
// closed. It runs on the reader.
func (sc *serverConn) malformed(err error) error {
	// The answers held for the well-formed requests before it still go
	// out: those requests took effect.
	_ = sc.w.flush()
	sc.t.log.Warn("transport: closing connection after malformed frame",
		"remote", sc.remote, "local", sc.t.Addr(), "err", err)
	return err
}

// handle runs the handler for one request and queues the answer on the
// connection's writer. The answer is dropped if the
// connection has shut down meanwhile.
func (sc *serverConn) handle(h wire.Header, msg wire.Message) {
	resp, herr := sc.t.h.ServePeer(sc.ctx, Envelope{From: h.From, Term: h.Term, Msg: msg})
	sc.answer(h, resp, herr)
}

// serveQuick runs the handler for a quick request, whose frame was read at
// readAt (time since born), on the reader and holds its answer for the
// reader's next flush, returning the bytes then held, unless the handler
// declines with ErrWouldBlock: then served is false and the request is
// still to be served. The stall watchdog sees the handler running.
func (sc *serverConn) serveQuick(h wire.Header, msg wire.Message, readAt int64) (served bool, held int) {
	sc.inlineType.Store(uint32(h.Type))
	sc.inlineSince.Store(readAt + 1)
	resp, herr := sc.t.h.ServePeer(sc.inline, Envelope{From: h.From, Term: h.Term, Msg: msg})
	sc.inlineSince.Store(0)
	if errors.Is(herr, ErrWouldBlock) {
		return false, 0
	}
	sc.t.servedQuick.Add(1)
	return true, sc.answerAs(h, resp, herr, true)
}

// maxHeldAnswers is how many bytes of quick answers the reader holds
// before it writes them, though more requests wait in its input.
const maxHeldAnswers = 64 << 10

// answer queues the answer to request h and ends its accounting.
func (sc *serverConn) answer(h wire.Header, resp wire.Message, herr error) {
	sc.answerAs(h, resp, herr, false)
}

// answerAs is answer; a held answer waits for the reader's next flush,
// and the bytes then held are returned.
func (sc *serverConn) answerAs(h wire.Header, resp wire.Message, herr error, held bool) (queued int) {
	defer sc.t.wg.Done()
	defer sc.inflight.Add(-1)
	// The body is copied into the connection's write buffer when queued,
	// so its buffer goes back to the pool right after.
	buf := encodeBufs.Get().(*[]byte)
	typ, body := appendResponse(*buf, resp, herr, sc.t.cfg.MaxFrame)
	from, term := sc.t.cfg.Stamp()
	rh := wire.Header{Type: typ, Flags: wire.FlagResponse, ID: h.ID, From: from, Term: term}
	// Either fails only when the connection is gone.
	if held {
		queued, _ = sc.w.hold(sc.ctx, rh, body)
	} else {
		_ = sc.w.enqueue(sc.ctx, rh, body)
	}
	putEncodeBuf(buf, body)
	sc.touch()
	return queued
}

// watchQuick is the stall watchdog of quick requests (QuickHandler): a few
// times per QuickStall it looks at every accepted connection and reports,
// once per request, a reader whose inline handler has run for QuickStall
// or longer. It runs on its own goroutine until Close.
func (t *TCP) watchQuick() {
	defer t.wg.Done()
	bound := t.cfg.QuickStall
	tick := time.NewTicker(max(bound/4, time.Millisecond))
	defer tick.Stop()
	var conns []*serverConn
	for {
		select {
		case <-tick.C:
		case <-t.ctx.Done():
			return
		}
		conns = conns[:0]
		t.mu.Lock()
		for c := range t.live {
			if sc, ok := c.(*serverConn); ok {
				conns = append(conns, sc)
			}
		}
		t.mu.Unlock()
		for _, sc := range conns {
			since := sc.inlineSince.Load()
			if since == 0 || since == sc.stallSeen {
				continue
			}
			typ := wire.Type(sc.inlineType.Load())
			held := time.Since(sc.born) - time.Duration(since-1)
			if held < bound || sc.inlineSince.Load() != since {
				continue // not yet, or that request has finished meanwhile
			}
			sc.stallSeen = since
			t.reportStall(QuickStall{Local: t.Addr(), Remote: sc.remote, Type: typ, Held: held})
		}
		clear(conns) // don't pin closed connections until the next tick
	}
}

// reportStall counts a stall and hands it to OnQuickStall, or logs it.
func (t *TCP) reportStall(s QuickStall) {
	t.quickStalls.Add(1)
	if t.cfg.OnQuickStall != nil {
		t.cfg.OnQuickStall(s)
		return
	}
	t.log.Warn("transport: a quick request's handler is blocking its connection's reader; every later request of that peer waits",
		"local", s.Local, "remote", s.Remote, "type", s.Type, "held", s.Held)
}
