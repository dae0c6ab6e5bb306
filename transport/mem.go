package transport

import (
	"context"
	"errors"
	"fmt"
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
	faults
}

// NewNetwork returns an empty network whose random faults (drop rate,
// delay) are drawn from a generator seeded with seed.
func NewNetwork(seed uint64) *Network {
	return &Network{
		nodes:       make(map[string]*Mem),
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		callTimeout: defaultMemCallTimeout,
		maxFrame:    wire.DefaultMaxFrame,
	}
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
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
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

// Mem is a Transport on a Network. Each request is handled on its own
// goroutine, which Close waits for.
type Mem struct {
	n      *Network
	addr   string
	stamp  Stamp
	h      Handler
	ctx    context.Context // handlers' context; ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	calls   map[*memCall]struct{} // this transport's calls waiting for answers
	serving map[*memCall]struct{} // requests this transport's handlers serve
	wg      sync.WaitGroup        // handler goroutines
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

// receive takes a request the network delivers and starts its handler
// goroutine. It never blocks. A closed m answers with a connection loss, as
// a closed TCP port would.
func (m *Mem) receive(c *memCall, h wire.Header, body []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.n.transmit(m.addr, c.caller, func() { c.answer(reply{err: connLost(m.addr, errPeerClosed)}) })
		return
	}
	m.serving[c] = struct{}{}
	m.wg.Add(1)
	m.mu.Unlock()
	go m.serve(c, h, body)
}

// serve decodes one request, runs the handler and sends the encoded answer
// back through the network. It runs on its own goroutine.
func (m *Mem) serve(c *memCall, h wire.Header, body []byte) {
	defer m.wg.Done()
	var (
		resp wire.Message
		herr error
	)
	if msg, err := wire.Decode(h.Type, body); err != nil {
		herr = err
	} else {
		resp, herr = m.servePeer(Envelope{From: h.From, Term: h.Term, Msg: msg})
	}
	_, maxFrame := m.n.limits()
	typ, rbody := encodeResponse(resp, herr, maxFrame)
	m.mu.Lock()
	closed := m.closed
	delete(m.serving, c)
	m.mu.Unlock()
	if closed {
		return // Close has told the caller already
	}
	from, term := m.stamp()
	rh := wire.Header{Type: typ, Flags: wire.FlagResponse, From: from, Term: term}
	m.n.transmit(m.addr, c.caller, func() { c.answer(reply{h: rh, body: rbody}) })
}

// servePeer runs the handler as TCP would: a quick request first under an
// Inline context, and again as any other if the handler declines. (Every
// request has its own goroutine here; the Inline pass is what the handler
// sees of the difference.)
func (m *Mem) servePeer(env Envelope) (wire.Message, error) {
	if q, ok := m.h.(QuickHandler); ok && q.Quick(env.Msg) {
		resp, err := m.h.ServePeer(WithInline(m.ctx), env)
		if !errors.Is(err, ErrWouldBlock) {
			return resp, err
		}
	}
	return m.h.ServePeer(m.ctx, env)
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
