package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// defaultMemCallTimeout is a Network's default call timeout.
const defaultMemCallTimeout = 5 * time.Second

var errPeerClosed = errors.New("peer closed")

// Network is an in-memory network of Mem transports with fault injection
// (see faults.go). Messages travel encoded, exactly as over TCP, so nothing
// is shared between nodes and the codec is exercised. It uses only
// channels, timers, contexts and sync primitives, so it also runs inside a
// testing/synctest bubble (create it inside the bubble). Safe for
// concurrent use.
type Network struct {
	mu          sync.Mutex
	nodes       map[string]*Mem
	rng         *rand.Rand
	callTimeout time.Duration
	maxFrame    int
	quickStall  time.Duration    // see SetQuickStall
	onStall     func(QuickStall) // nil: log
	faults
}

// defaultMemQuickStall is a Network's default quick-stall bound. Under
// testing/synctest, time only moves when every goroutine of the bubble is
// blocked, so a busy machine never trips it there: only a handler that
// waits does.
const defaultMemQuickStall = time.Second

// NewNetwork returns an empty network whose random faults (drop rate,
// delay) are drawn from a generator seeded with seed.
func NewNetwork(seed uint64) *Network {
	return &Network{
		nodes:       make(map[string]*Mem),
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		callTimeout: defaultMemCallTimeout,
		maxFrame:    wire.DefaultMaxFrame,
		quickStall:  defaultMemQuickStall,
	}
}

// SetQuickStall sets how long a quick request's handler may hold its
// connection's reader before the network reports it (QuickHandler), and
// what receives the reports: report runs on a goroutine of its own, once
// per stalled request, while the handler still holds the reader; nil logs
// the report at Error through slog.Default. Stats counts stalls either
// way. The defaults are 1s and nil; a test harness passes a report that
// fails its test. It applies to quick requests served afterwards; a bound
// of zero or less keeps the current one.
func (n *Network) SetQuickStall(bound time.Duration, report func(QuickStall)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if bound > 0 {
		n.quickStall = bound
	}
	n.onStall = report
}

// SetCallTimeout sets the timeout of calls whose ctx has no deadline
// (default 5s). It applies to calls started afterwards.
func (n *Network) SetCallTimeout(d time.Duration) {
	n.mu.Lock()
	n.callTimeout = d
	n.mu.Unlock()
}

// SetMaxFrame sets the largest frame (header and body) the network carries
// (default wire.DefaultMaxFrame). It applies to messages encoded afterwards.
func (n *Network) SetMaxFrame(size int) {
	n.mu.Lock()
	n.maxFrame = size
	n.mu.Unlock()
}

// limits returns the default call timeout and the max frame.
func (n *Network) limits() (time.Duration, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.callTimeout, n.maxFrame
}

// Listen attaches a transport at addr that stamps its frames with stamp and
// serves requests with h. It fails if addr is empty or already taken.
func (n *Network) Listen(addr string, stamp Stamp, h Handler) (*Mem, error) {
	switch {
	case addr == "":
		return nil, errors.New("transport: Network.Listen: empty address")
	case stamp == nil:
		return nil, errors.New("transport: Network.Listen: nil Stamp")
	case h == nil:
		return nil, errors.New("transport: Network.Listen: nil Handler")
	}
	m := &Mem{
		n:       n,
		addr:    addr,
		stamp:   stamp,
		h:       h,
		calls:   make(map[*memCall]struct{}),
		serving: make(map[*memCall]struct{}),
		conns:   make(map[string]*memConn),
	}
	m.quick, _ = h.(QuickHandler)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.inline = WithInline(m.ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, taken := n.nodes[addr]; taken {
		m.cancel()
		return nil, fmt.Errorf("transport: Network.Listen: address %q already in use", addr)
	}
	n.nodes[addr] = m
	return m, nil
}

// lookup returns the transport listening at addr, or nil.
func (n *Network) lookup(addr string) *Mem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[addr]
}

// remove detaches m from its address.
func (n *Network) remove(m *Mem) {
	n.mu.Lock()
	if n.nodes[m.addr] == m {
		delete(n.nodes, m.addr)
	}
	n.mu.Unlock()
}

// Mem is a Transport on a Network. As TCP does, it reads the requests of
// each connection (here, each caller address) on one goroutine, in
// arrival order, which serves a QuickHandler's quick requests itself and
// starts a goroutine for each other request. A connection's reader runs
// while requests wait for it and ends when none do. Close waits for all.
type Mem struct {
	n      *Network
	addr   string
	stamp  Stamp
	h      Handler
	quick  QuickHandler    // h, when it is one
	ctx    context.Context // handlers' context; ends at Close
	inline context.Context // ctx, marked for quick requests served on a reader
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	calls   map[*memCall]struct{} // this transport's calls waiting for answers
	serving map[*memCall]struct{} // requests delivered and not yet answered
	conns   map[string]*memConn   // by caller address: requests waiting for its reader
	wg      sync.WaitGroup        // readers, handler goroutines and stall reports
}

// memConn is what waits for the reader of one caller's connection. It is
// guarded by Mem.mu.
type memConn struct {
	queue   []memRequest // delivered, in arrival order, not yet read
	reading bool         // a reader goroutine runs for this connection
}

// memRequest is one delivered request.
type memRequest struct {
	c    *memCall
	h    wire.Header
	body []byte
}

// memCall is one call in flight: who made it, to whom, and where its
// answer goes.
type memCall struct {
	caller, target string
	reply          chan reply // capacity 1; only the first answer counts
}

// answer delivers r to the waiting caller without ever blocking.
func (c *memCall) answer(r reply) {
	select {
	case c.reply <- r:
	default:
	}
}

// Addr returns the address m listens on.
func (m *Mem) Addr() string { return m.addr }

// Call sends msg to the transport at addr through the network's faults and
// waits for the answer, ctx's end, or the loss of either end. It follows
// the package's error contract: nobody at addr fails at once with
// wire.ErrUnreachable; a dropped request or answer makes the caller wait
// for its deadline and get wire.ErrTimeout. Safe for concurrent use.
func (m *Mem) Call(ctx context.Context, addr string, msg wire.Message) (Envelope, error) {
	timeout, maxFrame := m.n.limits()
	body, err := encodeRequest(msg, maxFrame)
	if err != nil {
		return Envelope{}, fmt.Errorf("transport: call %s: %w", addr, err)
	}
	ctx, cancel := withDefaultTimeout(ctx, timeout)
	defer cancel()
	c := &memCall{caller: m.addr, target: addr, reply: make(chan reply, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Envelope{}, unreachable(addr, errTransportClosed)
	}
	m.calls[c] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.calls, c)
		m.mu.Unlock()
	}()
	if ctx.Err() != nil {
		return Envelope{}, unreachable(addr, ctx.Err())
	}
	target := m.n.lookup(addr)
	if target == nil {
		return Envelope{}, unreachable(addr, errors.New("nobody listens there"))
	}
	from, term := m.stamp()
	h := wire.Header{Type: msg.WireType(), From: from, Term: term}
	m.n.transmit(m.addr, addr, func() { target.receive(c, h, body) })
	select {
	case r := <-c.reply:
		if r.err != nil {
			return Envelope{}, r.err
		}
		return decodeReply(r.h, r.body)
	case <-ctx.Done():
		return Envelope{}, timedOut(ctx, addr)
	}
}

// receive takes a request the network delivers and queues it for the
// reader of its caller's connection, starting the reader if none runs. It
// never blocks. A closed m answers with a connection loss, as a closed TCP
// port would.
func (m *Mem) receive(c *memCall, h wire.Header, body []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.n.transmit(m.addr, c.caller, func() { c.answer(reply{err: connLost(m.addr, errPeerClosed)}) })
		return
	}
	m.serving[c] = struct{}{}
	conn := m.conns[c.caller]
	if conn == nil {
		conn = &memConn{}
		m.conns[c.caller] = conn
	}
	conn.queue = append(conn.queue, memRequest{c, h, body})
	start := !conn.reading
	if start {
		conn.reading = true
		m.wg.Add(1)
	}
	m.mu.Unlock()
	if start {
		go m.read(c.caller, conn)
	}
}

// read is the reader of one caller's connection: it serves the queued
// requests in arrival order, quick ones itself, and ends when none are
// left (or m closes: Close has answered them).
func (m *Mem) read(caller string, conn *memConn) {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		if len(conn.queue) == 0 || m.closed {
			conn.queue = nil
			conn.reading = false
			if m.conns[caller] == conn {
				delete(m.conns, caller)
			}
			m.mu.Unlock()
			return
		}
		r := conn.queue[0]
		conn.queue[0] = memRequest{}
		conn.queue = conn.queue[1:]
		m.mu.Unlock()
		m.dispatch(r)
	}
}

// dispatch serves one request on the reader: a quick one by running the
// handler under the Inline context, watched for stalls; a request that is
// not quick, or that the handler declines with ErrWouldBlock, on a
// goroutine of its own.
func (m *Mem) dispatch(r memRequest) {
	msg, err := wire.Decode(r.h.Type, r.body)
	if err != nil {
		m.finish(r.c, nil, err)
		return
	}
	env := Envelope{From: r.h.From, Term: r.h.Term, Msg: msg}
	if m.quick != nil && m.quick.Quick(msg) {
		stop := m.watchStall(r.c.caller, r.h.Type)
		resp, herr := m.h.ServePeer(m.inline, env)
		stop()
		if !errors.Is(herr, ErrWouldBlock) {
			m.finish(r.c, resp, herr)
			return
		}
	}
	m.wg.Add(1) // m.wg counts this reader, so Add cannot race Close's Wait
	go func() {
		defer m.wg.Done()
		resp, herr := m.h.ServePeer(m.ctx, env)
		m.finish(r.c, resp, herr)
	}()
}

// watchStall starts the stall watch of a quick request from caller: if the
// returned stop is not called within the network's bound, the stall is
// reported, on the timer's goroutine, which Close waits for.
func (m *Mem) watchStall(caller string, typ wire.Type) (stop func()) {
	m.n.mu.Lock()
	bound, report := m.n.quickStall, m.n.onStall
	m.n.mu.Unlock()
	start := time.Now()
	t := time.AfterFunc(bound, func() {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return
		}
		m.wg.Add(1)
		m.mu.Unlock()
		defer m.wg.Done()
		s := QuickStall{Local: m.addr, Remote: caller, Type: typ, Held: time.Since(start)}
		m.n.mu.Lock()
		m.n.stats.QuickStalls++
		m.n.mu.Unlock()
		if report != nil {
			report(s)
			return
		}
		slog.Error(s.String())
	})
	return func() { t.Stop() }
}

// finish sends the answer to a served request back through the network,
// unless m has closed (Close has told the caller already).
func (m *Mem) finish(c *memCall, resp wire.Message, herr error) {
	_, maxFrame := m.n.limits()
	typ, rbody := encodeResponse(resp, herr, maxFrame)
	m.mu.Lock()
	closed := m.closed
	delete(m.serving, c)
	m.mu.Unlock()
	if closed {
		return
	}
	from, term := m.stamp()
	rh := wire.Header{Type: typ, Flags: wire.FlagResponse, From: from, Term: term}
	m.n.transmit(m.addr, c.caller, func() { c.answer(reply{h: rh, body: rbody}) })
}

// Close detaches m from the network (calls to its address then fail with
// wire.ErrUnreachable), fails its own pending calls with wire.ErrConnLost
// wrapping wire.ErrClosed, sends a connection loss to the callers of the
// requests it is serving, cancels its handlers' context and waits for them
// to return. Safe to call more than once.
func (m *Mem) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	calls := make([]*memCall, 0, len(m.calls))
	for c := range m.calls {
		calls = append(calls, c)
	}
	serving := make([]*memCall, 0, len(m.serving))
	for c := range m.serving {
		serving = append(serving, c)
	}
	m.mu.Unlock()

	m.n.remove(m)
	for _, c := range calls {
		c.answer(reply{err: connLost(c.target, errTransportClosed)})
	}
	for _, c := range serving {
		m.n.transmit(m.addr, c.caller, func() { c.answer(reply{err: connLost(m.addr, errPeerClosed)}) })
	}
	m.cancel()
	m.wg.Wait()
	return nil
}
