package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// dialBackoff is how long after a failed dial calls to that address fail
// at once with wire.ErrUnreachable instead of dialing again.
const dialBackoff = 100 * time.Millisecond

// TCPConfig configures a TCP transport.
type TCPConfig struct {
	// Stamp gives the node ID and term stamped on every outgoing frame.
	Stamp Stamp
	// MaxFrame limits a frame's length (header and body), both ways.
	MaxFrame int
	// DialTimeout bounds a dial, handshake included.
	DialTimeout time.Duration
	// CallTimeout is the default call timeout when ctx has no deadline.
	CallTimeout time.Duration
	// IdleTimeout closes a server connection after this long without a
	// frame read, a request in flight or an answer queued; a client
	// connection closes after half of it without a frame read or a call
	// in flight, so that the client side normally closes first. It also
	// bounds the reading of each frame.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write of a batch of frames.
	WriteTimeout time.Duration
	// Logger receives connection-level events (never per-request ones).
	// Nil means slog.Default().
	Logger *slog.Logger
	// Handshake, when set, runs on every new connection right after dial
	// (dialer true) or accept (dialer false), before any frame flows; an
	// error closes the connection (a failed dial for the dialer). It runs
	// under a deadline of DialTimeout on the connection's own goroutine,
	// and is the hook for a later authentication step.
	Handshake func(conn net.Conn, dialer bool) error
	// FrameBudget bounds the bytes that partly read large frames hold
	// across all of this transport's connections (wire.Budget): a
	// connection whose frame would go over it is closed. It keeps many
	// peers that each send part of a large frame and stall from exhausting
	// memory together; each connection alone is bounded by MaxFrame.
	FrameBudget int64
	// QuickStall is how long a quick request's handler may hold its
	// connection's reader before the transport reports it (QuickHandler):
	// a watchdog looks a few times per QuickStall.
	QuickStall time.Duration
	// OnQuickStall, when set, receives each stall report, on the
	// watchdog's goroutine (it must return promptly). Nil logs them at
	// Warn. Stats counts them either way.
	OnQuickStall func(QuickStall)
}

// DefaultTCPConfig returns the defaults: MaxFrame wire.DefaultMaxFrame,
// DialTimeout 1s, CallTimeout 5s, IdleTimeout 30s, WriteTimeout 5s,
// QuickStall 250ms (quick handlers take microseconds; a quarter second is
// far beyond a scheduling delay). Stamp is left nil and must be set.
func DefaultTCPConfig() TCPConfig {
	return TCPConfig{
		MaxFrame:     wire.DefaultMaxFrame,
		DialTimeout:  time.Second,
		CallTimeout:  5 * time.Second,
		IdleTimeout:  30 * time.Second,
		WriteTimeout: 5 * time.Second,
		QuickStall:   250 * time.Millisecond,
		FrameBudget:  256 << 20,
	}
}

// Validate reports the first unusable setting.
func (c TCPConfig) Validate() error {
	switch {
	case c.Stamp == nil:
		return errors.New("transport: TCPConfig.Stamp is nil; it must return this node's ID and term")
	case c.MaxFrame < wire.HeaderLen+1:
		return fmt.Errorf("transport: TCPConfig.MaxFrame %d is below the minimum %d", c.MaxFrame, wire.HeaderLen+1)
	case uint64(c.MaxFrame) > math.MaxUint32:
		return fmt.Errorf("transport: TCPConfig.MaxFrame %d is above the maximum %d", c.MaxFrame, uint64(math.MaxUint32))
	case c.FrameBudget < int64(c.MaxFrame):
		return fmt.Errorf("transport: TCPConfig.FrameBudget %d is below MaxFrame %d: one largest frame must fit", c.FrameBudget, c.MaxFrame)
	case c.DialTimeout <= 0:
		return fmt.Errorf("transport: TCPConfig.DialTimeout %v must be positive", c.DialTimeout)
	case c.CallTimeout <= 0:
		return fmt.Errorf("transport: TCPConfig.CallTimeout %v must be positive", c.CallTimeout)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("transport: TCPConfig.IdleTimeout %v must be positive", c.IdleTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("transport: TCPConfig.WriteTimeout %v must be positive", c.WriteTimeout)
	case c.QuickStall <= 0:
		return fmt.Errorf("transport: TCPConfig.QuickStall %v must be positive", c.QuickStall)
	}
	return nil
}

// TCP is a Transport over TCP: one persistent multiplexed client connection
// per remote address, and a server that reads each connection on one
// goroutine, which answers a QuickHandler's quick requests itself, in
// arrival order, and hands every other request to a handler goroutine
// (workers.go), reused from request to request.
type TCP struct {
	cfg     TCPConfig
	h       Handler
	quick   QuickHandler // h, when it is one
	workers *workers     // run the handlers of other requests
	ln      net.Listener
	log     *slog.Logger
	backoff time.Duration // dialBackoff; tests may change it before use

	frames *wire.Budget // cfg.FrameBudget, shared by every connection's reader

	ctx    context.Context // ends at Close; parent of dials and handler contexts
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	peers  map[string]*peer      // client side, by remote address
	live   map[liveConn]struct{} // open connections, both sides
	wg     sync.WaitGroup        // every goroutine the transport starts

	servedQuick atomic.Uint64 // requests served on their connection's reader
	quickStalls atomic.Uint64 // quick requests reported for holding their reader too long
	writes      writeCounts   // of every connection's frameWriter
}

// Stats counts what the transport has done since it started.
type Stats struct {
	FramesSent   uint64 // frames queued to peers (requests and answers)
	Writes       uint64 // write calls that carried them: FramesSent/Writes is the batching
	ReaderWrites uint64 // of Writes, made by a connection's reader for its held answers
	SlowWrites   uint64 // writes that took long enough to send answers back through the writer goroutine
	ServedQuick  uint64 // requests served on their connection's reader
	QuickStalls  uint64 // of those, the ones that held their reader longer than QuickStall
}

// writeCounts are the counters every frameWriter of a transport adds to.
type writeCounts struct {
	frames, writes, readerWrites, slowWrites atomic.Uint64
}

// Stats returns the transport's counters.
func (t *TCP) Stats() Stats {
	return Stats{
		FramesSent:   t.writes.frames.Load(),
		Writes:       t.writes.writes.Load(),
		ReaderWrites: t.writes.readerWrites.Load(),
		SlowWrites:   t.writes.slowWrites.Load(),
		ServedQuick:  t.servedQuick.Load(),
		QuickStalls:  t.quickStalls.Load(),
	}
}

// liveConn is an open connection that Close must shut down.
type liveConn interface {
	shutdown(cause error)
}

// ListenTCP listens on addr (such as "127.0.0.1:0") and serves peers' requests
// with h. Addr returns the address actually bound.
func ListenTCP(addr string, cfg TCPConfig, h Handler) (*TCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("transport: ListenTCP: nil Handler")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", addr, err)
	}
	t := &TCP{
		cfg:     cfg,
		h:       h,
		ln:      ln,
		log:     cfg.Logger,
		backoff: dialBackoff,
		peers:   make(map[string]*peer),
		live:    make(map[liveConn]struct{}),
		frames:  wire.NewBudget(cfg.FrameBudget),
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	t.quick, _ = h.(QuickHandler)
	t.workers = newWorkers(t)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(1)
	go t.acceptLoop()
	if t.quick != nil {
		t.wg.Add(1)
		go t.watchQuick()
	}
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *TCP) Addr() string { return t.ln.Addr().String() }

// Close stops accepting, closes every connection (pending calls fail with
// wire.ErrConnLost wrapping wire.ErrClosed, unsent ones with
// wire.ErrUnreachable), then cancels handler contexts and waits for every
// goroutine the transport started, handlers included. Safe to call more
// than once; later calls wait the same way and return nil.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	live := make([]liveConn, 0, len(t.live))
	for c := range t.live {
		live = append(live, c)
	}
	t.mu.Unlock()

	err := t.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	// Connections first, so a handler that returns on cancellation finds
	// its connection's writer stopped and its answer is dropped.
	for _, c := range live {
		c.shutdown(errTransportClosed)
	}
	t.cancel()
	t.wg.Wait()
	return err
}

// isClosed reports whether Close has begun.
func (t *TCP) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// register records c as open so Close shuts it down, and starts each of
// fns on a goroutine the transport waits for. It reports false, starting
// nothing, once Close has begun.
func (t *TCP) register(c liveConn, fns ...func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if c != nil {
		t.live[c] = struct{}{}
	}
	for _, f := range fns {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			f()
		}()
	}
	return true
}

// unregister forgets a connection that has shut down.
func (t *TCP) unregister(c liveConn) {
	t.mu.Lock()
	delete(t.live, c)
	t.mu.Unlock()
}

// writeLimit is how many bytes a connection queues before senders wait.
func (t *TCP) writeLimit() int { return max(t.cfg.MaxFrame, 1<<20) }
