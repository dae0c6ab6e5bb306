// Package transport carries request/response messages between jumpkv nodes.
//
// Two implementations share one contract: TCP (length-prefixed msgpack
// frames over one multiplexed connection per peer address) and an in-memory
// Network for tests, with fault injection, that also runs inside a
// testing/synctest bubble.
//
// Error contract of Call, identical for both:
//   - the peer's handler failed: the error matches the handler's sentinel
//     (errors.Is), and the Envelope carries the responder's From/Term and
//     the *wire.ErrorMsg as Msg, which tells a remote error from a local one;
//   - nothing was sent (nobody listens, dial refused or timed out, the
//     calling transport is closed): wire.ErrUnreachable; when ctx ended
//     before the request was queued, it also wraps ctx.Err();
//   - ctx ended or the default call timeout passed after the request may
//     have been sent: wire.ErrTimeout, also wrapping ctx.Err();
//   - the connection broke while waiting: wire.ErrConnLost;
//   - the encoded request is larger than the max frame: wire.ErrTooLarge,
//     nothing sent;
//   - the response does not decode: wire.ErrBadFrame.
package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// Envelope is a message with its sender's node ID and term (from the frame
// header).
type Envelope struct {
	From uint64
	Term uint64
	Msg  wire.Message
}

// Handler serves requests from peers. ServePeer is called concurrently,
// each request on a goroutine where it may block (see QuickHandler for the
// exception), and must return once ctx ends (ctx ends when the transport
// closes or, for TCP, the connection drops). A non-nil error goes back to
// the caller as a wire.ErrorMsg; a nil message with a nil error answers
// wire.OK.
type Handler interface {
	ServePeer(ctx context.Context, req Envelope) (wire.Message, error)
}

// QuickHandler is a Handler that can tell which requests it answers
// quickly and without blocking (no network, no waiting beyond short lock
// holds). Both transports serve those on the connection's reader, in
// arrival order, sparing a goroutine per request and the hop to it; the
// others get a goroutine each. (A connection is, for TCP, one accepted
// socket, which carries every request of one peer; for Mem, the pair of a
// sender and a receiver address.) Quick sees only the message: when
// ServePeer finds, under a context for which Inline is true, that
// answering would block after all, it returns ErrWouldBlock, before it has
// changed anything, and the transport serves the request again, as any
// other, on a goroutine of its own.
//
// A quick request that blocks after all stalls its connection: every later
// request of that peer waits behind it, and a wait for anything that needs
// such a request (an answer from the same peer, say) never ends. So the
// contract is watched, not trusted: a reader whose inline handler has run
// for longer than a bound (TCPConfig.QuickStall, Network.SetQuickStall)
// is reported as a QuickStall while it is still held, once per request, to
// a hook (TCPConfig.OnQuickStall, the report function of SetQuickStall),
// by default logged, and counted (Stats.QuickStalls, NetStats.QuickStalls).
// The in-memory network, on which the cluster tests run, serves quick
// requests on per-connection readers as TCP does, so a blocking quick
// handler shows in the tests as it would in production; the cluster test
// harness turns every stall into a test failure.
type QuickHandler interface {
	Handler
	Quick(msg wire.Message) bool
}

// ErrWouldBlock is what ServePeer returns, under an Inline context, for a
// request it cannot answer without blocking. It never goes on the wire.
var ErrWouldBlock = errors.New("transport: answering would block")

type inlineKey struct{}

// WithInline marks ctx as that of quick requests served on a reader, as
// the transports do; handlers' tests use it to serve a request so.
func WithInline(ctx context.Context) context.Context {
	return context.WithValue(ctx, inlineKey{}, true)
}

// Inline reports whether ctx is that of a quick request served on its
// connection's reader, where a handler must not block (ErrWouldBlock).
func Inline(ctx context.Context) bool { return ctx.Value(inlineKey{}) != nil }

// QuickStall reports a quick request whose handler, served on its
// connection's reader, had held the reader for Held when the transport
// noticed, Held being at least the configured bound: every later request
// on that connection has waited meanwhile.
type QuickStall struct {
	Local  string        // the serving transport's address
	Remote string        // the connection's other end: the peer's address (TCP), the caller's (Mem)
	Type   wire.Type     // the request's message type
	Held   time.Duration // how long the handler had held the reader when noticed
}

// String describes the stall for a log line or a test failure.
func (s QuickStall) String() string {
	return fmt.Sprintf("transport: a quick request (type %d) from %s has held the reader of %s for %v: "+
		"a handler served inline blocked (QuickHandler)", s.Type, s.Remote, s.Local, s.Held)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Envelope) (wire.Message, error)

// ServePeer calls f.
func (f HandlerFunc) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	return f(ctx, req)
}

// Stamp returns the identity and current term stamped on every outgoing
// frame (requests and responses). It is called once per frame from any
// goroutine, so it must be cheap and safe for concurrent use.
type Stamp func() (from, term uint64)

// Transport sends requests to peers and serves theirs.
type Transport interface {
	// Addr returns the address this transport listens on.
	Addr() string
	// Call sends msg to the peer listening at addr and waits for its
	// answer. Without a deadline in ctx it applies the configured default
	// call timeout. The returned Envelope carries the responder's From/Term
	// even when err is a remote error. Safe for concurrent use.
	Call(ctx context.Context, addr string, msg wire.Message) (Envelope, error)
	// Close stops serving, fails pending calls, cancels handler contexts
	// and waits for the transport's goroutines (so it blocks until every
	// handler has returned). Safe to call twice.
	Close() error
}

// errTransportClosed is the cause given to connections shut down by Close.
var errTransportClosed = fmt.Errorf("transport: %w", wire.ErrClosed)

// withDefaultTimeout returns ctx bounded by d when ctx has no deadline.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		// The caller's deadline bounds the call; a child context would
		// cost an allocation and a registration with every ancestor.
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// unreachable reports that a call to addr surely did not reach the peer.
func unreachable(addr string, cause error) error {
	if cause == nil {
		return fmt.Errorf("transport: call %s: %w", addr, wire.ErrUnreachable)
	}
	return fmt.Errorf("transport: call %s: %w: %w", addr, wire.ErrUnreachable, cause)
}

// timedOut reports that ctx ended while a call to addr may have been sent.
func timedOut(ctx context.Context, addr string) error {
	return fmt.Errorf("transport: call %s: %w: %w", addr, wire.ErrTimeout, ctx.Err())
}

// connLost reports that the connection carrying a call to addr broke while
// the call waited for its answer.
func connLost(addr string, cause error) error {
	if errors.Is(cause, wire.ErrClosed) {
		return fmt.Errorf("transport: call %s: %w: %w", addr, wire.ErrConnLost, cause)
	}
	return fmt.Errorf("transport: call %s: %w (%v)", addr, wire.ErrConnLost, cause)
}

var (
	_ Transport = (*TCP)(nil)
	_ Transport = (*Mem)(nil)
)
