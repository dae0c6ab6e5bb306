package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// harness is what the contract suite needs from an implementation.
type harness struct {
	maxFrame    int           // every transport's MaxFrame
	callTimeout time.Duration // every transport's default call timeout
	// listen starts a transport at addr ("" for a fresh address) that
	// stamps frames with stamp and serves h.
	listen func(t *testing.T, addr string, stamp Stamp, h Handler) (Transport, error)
	// deadAddr returns an address nobody listens on.
	deadAddr func(t *testing.T) string
	// stalls receives the quick-stall reports of every transport listen
	// starts, whose stall bound is contractQuickStall (reports that find
	// the channel full are dropped).
	stalls chan QuickStall
}

const (
	contractMaxFrame    = 256 << 10
	contractCallTimeout = 400 * time.Millisecond
	contractQuickStall  = 100 * time.Millisecond
)

// reportStall is the harnesses' stall report: into hs.stalls, never
// blocking.
func (hs *harness) reportStall(s QuickStall) {
	select {
	case hs.stalls <- s:
	default:
	}
}

// testContract runs the error and behaviour contract every Transport meets
// against the implementation newHarness builds.
func testContract(t *testing.T, newHarness func(t *testing.T) *harness) {
	t.Run("RoundTrip", func(t *testing.T) { contractRoundTrip(t, newHarness(t)) })
	t.Run("RemoteErrors", func(t *testing.T) { contractRemoteErrors(t, newHarness(t)) })
	t.Run("ConcurrentMultiplexing", func(t *testing.T) { contractConcurrent(t, newHarness(t)) })
	t.Run("DeadlineOnBlockedHandler", func(t *testing.T) { contractDeadline(t, newHarness(t)) })
	t.Run("Unreachable", func(t *testing.T) { contractUnreachable(t, newHarness(t)) })
	t.Run("CloseServer", func(t *testing.T) { contractCloseServer(t, newHarness(t)) })
	t.Run("CloseClient", func(t *testing.T) { contractCloseClient(t, newHarness(t)) })
	t.Run("MaxFrame", func(t *testing.T) { contractMaxFrameSize(t, newHarness(t)) })
	t.Run("Reconnect", func(t *testing.T) { contractReconnect(t, newHarness(t)) })
	t.Run("QuickDeclined", func(t *testing.T) { contractQuickDeclined(t, newHarness(t)) })
	t.Run("QuickStall", func(t *testing.T) { contractQuickStallCaught(t, newHarness(t)) })
}

// testNode is one transport with a settable identity and term.
type testNode struct {
	id   uint64
	term atomic.Uint64
	h    *testHandler
	tr   Transport
}

func (n *testNode) stamp() (uint64, uint64) { return n.id, n.term.Load() }

// newNode starts a node at addr ("" for a fresh address), closed at cleanup.
func newNode(t *testing.T, hs *harness, addr string, id, term uint64) *testNode {
	t.Helper()
	n := &testNode{id: id, h: newTestHandler(id)}
	n.term.Store(term)
	tr, err := hs.listen(t, addr, n.stamp, n.h)
	if err != nil {
		t.Fatalf("listen %q: %v", addr, err)
	}
	n.tr = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

// testHandler answers each request type in a fixed, checkable way.
type testHandler struct {
	id      uint64
	served  atomic.Int64  // requests that reached the handler
	started chan struct{} // one token per Pull that starts blocking
	release chan struct{} // closing it answers blocked Pulls
	once    sync.Once
}

func newTestHandler(id uint64) *testHandler {
	return &testHandler{id: id, started: make(chan struct{}, 128), release: make(chan struct{})}
}

func (h *testHandler) unblock() { h.once.Do(func() { close(h.release) }) }

func (h *testHandler) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	h.served.Add(1)
	switch m := req.Msg.(type) {
	case *wire.Vote:
		return &wire.VoteResp{Granted: m.PreVote, Reason: fmt.Sprintf("from %d term %d", req.From, req.Term)}, nil
	case *wire.Hello:
		return &wire.HelloResp{
			Self:    wire.Member{ID: shard.NodeID(h.id), Peer: "p" + m.Self.Peer},
			Leader:  m.Self.ID,
			Epoch:   uint64(m.Buckets),
			Members: []wire.Member{m.Self, {ID: shard.NodeID(h.id)}},
		}, nil
	case *wire.Read:
		return &wire.ReadResp{Found: true, Entry: store.Entry{Key: m.Key, Value: []byte("v:" + m.Key)}}, nil
	case *wire.Replicate:
		return &wire.ReplicateAck{Applied: len(m.Entry.Value) > 0}, nil
	case *wire.Install:
		return &wire.InstallAck{Epoch: m.State.Table.Epoch}, nil
	case *wire.Digests:
		d := make([]uint64, len(m.Buckets))
		for i, b := range m.Buckets {
			d[i] = uint64(b) * 10
		}
		return &wire.DigestsResp{Digests: d}, nil
	case *wire.Resign:
		return nil, nil
	case *wire.Join:
		return nil, fmt.Errorf("%w: bucket %d moved", wire.ErrNotOwner, m.Buckets)
	case *wire.Leave:
		return nil, wire.ErrStaleTerm
	case *wire.Preempt:
		return nil, errors.New("plain handler failure")
	case *wire.List:
		// An answer larger than any frame.
		return &wire.ListResp{Keys: []string{strings.Repeat("k", m.Limit)}}, nil
	case *wire.Pull:
		h.started <- struct{}{}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.release:
			return &wire.Chunk{More: true}, nil
		}
	}
	return nil, fmt.Errorf("%w: unexpected %T", wire.ErrBadRequest, req.Msg)
}

// callCtx is a generous deadline for calls that are expected to succeed.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitStarted waits for a blocking handler to start.
func waitStarted(t *testing.T, h *testHandler) {
	t.Helper()
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not start")
	}
}

// callResult is the outcome of a call made on another goroutine.
type callResult struct {
	env Envelope
	err error
}

func goCall(ctx context.Context, tr Transport, addr string, msg wire.Message) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		env, err := tr.Call(ctx, addr, msg)
		ch <- callResult{env, err}
	}()
	return ch
}

func waitResult(t *testing.T, ch <-chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return")
		return callResult{}
	}
}

func contractRoundTrip(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 7)
	b := newNode(t, hs, "", 2, 9)
	ctx := callCtx(t)

	checkEnv := func(env Envelope, from, term uint64) {
		t.Helper()
		if env.From != from || env.Term != term {
			t.Fatalf("envelope from %d term %d, want from %d term %d", env.From, env.Term, from, term)
		}
	}

	// Vote: the answer reports the request's stamp; the envelope the answer's.
	env, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Vote{Term: 8, PreVote: true})
	if err != nil {
		t.Fatal(err)
	}
	checkEnv(env, 2, 9)
	if vr, ok := env.Msg.(*wire.VoteResp); !ok || !vr.Granted || vr.Reason != "from 1 term 7" {
		t.Fatalf("vote answer %#v", env.Msg)
	}
	// Terms are stamped per frame: a new term shows on the next frames.
	a.term.Store(11)
	b.term.Store(12)
	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Vote{Term: 12})
	if err != nil {
		t.Fatal(err)
	}
	checkEnv(env, 2, 12)
	if vr := env.Msg.(*wire.VoteResp); vr.Granted || vr.Reason != "from 1 term 11" {
		t.Fatalf("vote answer %#v", vr)
	}
	// And the other way round.
	env, err = b.tr.Call(ctx, a.tr.Addr(), &wire.Vote{Term: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkEnv(env, 1, 11)
	if vr := env.Msg.(*wire.VoteResp); vr.Reason != "from 2 term 12" {
		t.Fatalf("vote answer %#v", vr)
	}

	self := wire.Member{ID: 1, Incarnation: 5, Peer: "peer-a", HTTP: "http-a"}
	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Hello{Self: self, Buckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	hr, ok := env.Msg.(*wire.HelloResp)
	if !ok || hr.Self.ID != 2 || hr.Self.Peer != "ppeer-a" || hr.Leader != 1 || hr.Epoch != 64 ||
		len(hr.Members) != 2 || hr.Members[0] != self {
		t.Fatalf("hello answer %#v", env.Msg)
	}

	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Read{Bucket: 3, Since: 4, Key: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if rr, ok := env.Msg.(*wire.ReadResp); !ok || !rr.Found || rr.Entry.Key != "alpha" || string(rr.Entry.Value) != "v:alpha" {
		t.Fatalf("read answer %#v", env.Msg)
	}

	st := wire.ClusterState{Term: 3, Leader: 1, Members: []wire.Member{self},
		Table: shard.Table{Epoch: 42, Buckets: [][]shard.NodeID{{1, 2}, {2, 1}}, Since: []uint64{1, 2}}, Replicas: 2}
	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Install{State: st})
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := env.Msg.(*wire.InstallAck); !ok || ack.Epoch != 42 {
		t.Fatalf("install answer %#v", env.Msg)
	}

	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Digests{Buckets: []int{1, 5, 9}})
	if err != nil {
		t.Fatal(err)
	}
	if dr, ok := env.Msg.(*wire.DigestsResp); !ok || fmt.Sprint(dr.Digests) != "[10 50 90]" {
		t.Fatalf("digests answer %#v", env.Msg)
	}

	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.Resign{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Msg.(*wire.OK); !ok {
		t.Fatalf("resign answer %#v, want *wire.OK", env.Msg)
	}
	checkEnv(env, 2, 12)
}

func contractRemoteErrors(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 3)
	b := newNode(t, hs, "", 2, 4)
	ctx := callCtx(t)
	cases := []struct {
		msg  wire.Message
		want error
		text string
	}{
		{&wire.Join{Buckets: 17}, wire.ErrNotOwner, "bucket 17 moved"},
		{&wire.Leave{ID: 3}, wire.ErrStaleTerm, ""},
		{&wire.Preempt{}, wire.ErrInternal, "plain handler failure"},
		{&wire.GetState{}, wire.ErrBadRequest, "unexpected"},
	}
	for _, c := range cases {
		env, err := a.tr.Call(ctx, b.tr.Addr(), c.msg)
		if !errors.Is(err, c.want) {
			t.Fatalf("%T: error %v, want %v", c.msg, err, c.want)
		}
		if c.text != "" && !strings.Contains(err.Error(), c.text) {
			t.Errorf("%T: error %q does not carry %q", c.msg, err, c.text)
		}
		if errors.Is(err, wire.ErrUnreachable) || errors.Is(err, wire.ErrTimeout) || errors.Is(err, wire.ErrConnLost) {
			t.Errorf("%T: remote error %v looks like a transport failure", c.msg, err)
		}
		if env.From != 2 || env.Term != 4 {
			t.Errorf("%T: envelope from %d term %d, want 2 and 4", c.msg, env.From, env.Term)
		}
		if _, ok := env.Msg.(*wire.ErrorMsg); !ok {
			t.Errorf("%T: envelope message %T, want *wire.ErrorMsg", c.msg, env.Msg)
		}
	}
	// The connection (if any) survives remote errors.
	if _, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
}

func contractConcurrent(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	ctx := callCtx(t)
	const workers, perWorker = 64, 32 // 2,048 calls
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := fmt.Sprintf("w%d-c%d", w, i)
				env, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Read{Key: key})
				if err != nil {
					errs <- fmt.Errorf("call %s: %w", key, err)
					return
				}
				rr, ok := env.Msg.(*wire.ReadResp)
				if !ok || rr.Entry.Key != key || string(rr.Entry.Value) != "v:"+key {
					errs <- fmt.Errorf("call %s got %#v", key, env.Msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := b.h.served.Load(); got != workers*perWorker {
		t.Errorf("handler served %d requests, want %d", got, workers*perWorker)
	}
}

func contractDeadline(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	defer b.h.unblock()

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Pull{Bucket: 1})
	if !errors.Is(err, wire.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call on a blocked handler: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if !wire.MaybeDelivered(err) {
		t.Errorf("timeout %v should count as maybe delivered", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("timed out after %v, want about 150ms", d)
	}

	// Without a deadline the default call timeout applies.
	start = time.Now()
	_, err = a.tr.Call(context.Background(), b.tr.Addr(), &wire.Pull{Bucket: 2})
	if !errors.Is(err, wire.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call without deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d < hs.callTimeout || d > hs.callTimeout+5*time.Second {
		t.Errorf("default timeout after %v, want about %v", d, hs.callTimeout)
	}

	// A cancelled ctx is reported the same way.
	ctx, cancel = context.WithCancel(context.Background())
	ch := goCall(ctx, a.tr, b.tr.Addr(), &wire.Pull{Bucket: 3})
	waitStarted(t, b.h)
	waitStarted(t, b.h)
	waitStarted(t, b.h)
	cancel()
	if r := waitResult(t, ch); !errors.Is(r.err, wire.ErrTimeout) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want ErrTimeout and Canceled", r.err)
	}

	// The connection still works for others.
	if _, err := a.tr.Call(callCtx(t), b.tr.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
}

func contractUnreachable(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	dead := hs.deadAddr(t)
	for i := range 3 {
		start := time.Now()
		_, err := a.tr.Call(callCtx(t), dead, &wire.Resign{})
		if !errors.Is(err, wire.ErrUnreachable) {
			t.Fatalf("call %d to %s: %v, want ErrUnreachable", i, dead, err)
		}
		if wire.MaybeDelivered(err) {
			t.Errorf("unreachable %v must not count as maybe delivered", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("call %d took %v to fail", i, d)
		}
	}
	// A ctx that is already over sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := newNode(t, hs, "", 2, 1)
	if _, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Resign{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a cancelled ctx: %v, want it to wrap context.Canceled", err)
	}
	if got := b.h.served.Load(); got != 0 {
		t.Errorf("handler served %d requests of a cancelled call", got)
	}
}

func contractCloseServer(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	ch := goCall(callCtx(t), a.tr, b.tr.Addr(), &wire.Pull{})
	waitStarted(t, b.h)

	closed := make(chan error, 1)
	go func() { closed <- b.tr.Close() }() // returns only once the handler has
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock the handler")
	}
	if r := waitResult(t, ch); !errors.Is(r.err, wire.ErrConnLost) {
		t.Fatalf("call pending at the server's close: %v, want ErrConnLost", r.err)
	}
	if err := b.tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := a.tr.Call(callCtx(t), b.tr.Addr(), &wire.Resign{}); !errors.Is(err, wire.ErrUnreachable) {
		t.Fatalf("call to a closed transport: %v, want ErrUnreachable", err)
	}
}

func contractCloseClient(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	defer b.h.unblock()
	if _, err := a.tr.Call(callCtx(t), b.tr.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
	ch := goCall(callCtx(t), a.tr, b.tr.Addr(), &wire.Pull{})
	waitStarted(t, b.h)
	if err := a.tr.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := waitResult(t, ch)
	if !errors.Is(r.err, wire.ErrConnLost) || !errors.Is(r.err, wire.ErrClosed) {
		t.Fatalf("call pending at the caller's close: %v, want ErrConnLost and ErrClosed", r.err)
	}
	if err := a.tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	_, err := a.tr.Call(callCtx(t), b.tr.Addr(), &wire.Resign{})
	if !errors.Is(err, wire.ErrUnreachable) || !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("call from a closed transport: %v, want ErrUnreachable and ErrClosed", err)
	}
}

// replicateOfFrame returns a Replicate whose request frame is exactly size
// bytes long.
func replicateOfFrame(t *testing.T, size int) *wire.Replicate {
	t.Helper()
	m := &wire.Replicate{Bucket: 1, Entry: store.Entry{Key: "k"}}
	want := size - wire.HeaderLen
	for range 8 {
		body, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		diff := want - len(body)
		if diff == 0 {
			return m
		}
		n := len(m.Entry.Value) + diff
		if n < 0 {
			break
		}
		m.Entry.Value = bytes.Repeat([]byte{'v'}, n)
	}
	t.Fatalf("no Replicate encodes to a %d-byte frame", size)
	return nil
}

func contractMaxFrameSize(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	ctx := callCtx(t)

	env, err := a.tr.Call(ctx, b.tr.Addr(), replicateOfFrame(t, hs.maxFrame))
	if err != nil {
		t.Fatalf("frame of exactly MaxFrame: %v", err)
	}
	if ack, ok := env.Msg.(*wire.ReplicateAck); !ok || !ack.Applied {
		t.Fatalf("answer %#v", env.Msg)
	}
	served := b.h.served.Load()
	_, err = a.tr.Call(ctx, b.tr.Addr(), replicateOfFrame(t, hs.maxFrame+1))
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("frame one byte over MaxFrame: %v, want ErrTooLarge", err)
	}
	if got := b.h.served.Load(); got != served {
		t.Errorf("an oversized request reached the handler")
	}
	// An oversized answer comes back as a remote ErrTooLarge.
	env, err = a.tr.Call(ctx, b.tr.Addr(), &wire.List{Limit: hs.maxFrame})
	if !errors.Is(err, wire.ErrTooLarge) || env.From != 2 {
		t.Fatalf("oversized answer: %v from %d, want remote ErrTooLarge", err, env.From)
	}
	// The connection still works.
	if _, err := a.tr.Call(ctx, b.tr.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
}

func contractReconnect(t *testing.T, hs *harness) {
	a := newNode(t, hs, "", 1, 1)
	b := newNode(t, hs, "", 2, 1)
	addr := b.tr.Addr()
	if _, err := a.tr.Call(callCtx(t), addr, &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newNode(t, hs, addr, 3, 5)
	// The old connection may still be noticed closing (ErrConnLost) or a
	// dial may have just failed (ErrUnreachable for 100ms); retry those
	// until a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		env, err := a.tr.Call(callCtx(t), addr, &wire.Resign{})
		if err == nil {
			if env.From != 3 || env.Term != 5 {
				t.Fatalf("answer from %d term %d, want the restarted node 3 term 5", env.From, env.Term)
			}
			break
		}
		if !errors.Is(err, wire.ErrConnLost) && !errors.Is(err, wire.ErrUnreachable) || time.Now().After(deadline) {
			t.Fatalf("call after restart: %v", err)
		}
	}
	if got := b2.h.served.Load(); got != 1 {
		t.Errorf("restarted node served %d requests, want 1", got)
	}
}

// decliningHandler marks Pulls quick, and declines (ErrWouldBlock) those
// of odd buckets when served inline. Its answer names the pass that
// served it.
type decliningHandler struct {
	inline, declined, offReader atomic.Int64
}

func (h *decliningHandler) Quick(msg wire.Message) bool {
	_, ok := msg.(*wire.Pull)
	return ok
}

func (h *decliningHandler) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	p, ok := req.Msg.(*wire.Pull)
	if !ok {
		return nil, wire.ErrBadRequest
	}
	if !Inline(ctx) {
		h.offReader.Add(1)
		return &wire.Pull{Bucket: p.Bucket, After: "off the reader"}, nil
	}
	if p.Bucket%2 == 1 {
		h.declined.Add(1)
		return nil, fmt.Errorf("bucket %d not ready: %w", p.Bucket, ErrWouldBlock)
	}
	h.inline.Add(1)
	return &wire.Pull{Bucket: p.Bucket, After: "inline"}, nil
}

// contractQuickDeclined checks that a quick request is first served under
// an Inline context and, when the handler declines with ErrWouldBlock, is
// served again as any other request: the caller gets that second answer,
// never the ErrWouldBlock.
func contractQuickDeclined(t *testing.T, hs *harness) {
	h := &decliningHandler{}
	srv, err := hs.listen(t, "", func() (uint64, uint64) { return 2, 1 }, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	a := newNode(t, hs, "", 1, 1)
	ctx := callCtx(t)
	const n = 20
	for b := range n {
		env, err := a.tr.Call(ctx, srv.Addr(), &wire.Pull{Bucket: b})
		if err != nil {
			t.Fatalf("pull %d: %v", b, err)
		}
		want := "inline"
		if b%2 == 1 {
			want = "off the reader"
		}
		if p, ok := env.Msg.(*wire.Pull); !ok || p.Bucket != b || p.After != want {
			t.Fatalf("pull %d: answer %#v, want bucket %d served %s", b, env.Msg, b, want)
		}
	}
	if got := [3]int64{h.inline.Load(), h.declined.Load(), h.offReader.Load()}; got != [3]int64{n / 2, n / 2, n / 2} {
		t.Fatalf("inline/declined/off-reader passes %v, want %d each", got, n/2)
	}
}

// stallHandler marks Replicates quick and breaks the QuickHandler contract
// on purpose: served inline, a Replicate of key "block" waits until
// release is closed. Each answer says whether its request was served
// inline and whether release was closed when its handler began.
type stallHandler struct {
	started chan struct{} // a token when the blocking Replicate starts waiting
	release chan struct{}
}

func (h *stallHandler) Quick(msg wire.Message) bool {
	_, ok := msg.(*wire.Replicate)
	return ok
}

func (h *stallHandler) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	r, ok := req.Msg.(*wire.Replicate)
	if !ok {
		return nil, wire.ErrBadRequest
	}
	released := false
	select {
	case <-h.release:
		released = true
	default:
	}
	if r.Entry.Key == "block" {
		h.started <- struct{}{}
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &wire.ReadResp{Found: Inline(ctx), Entry: store.Entry{Key: r.Entry.Key, Deleted: released}}, nil
}

// contractQuickStallCaught checks that a quick request whose handler
// blocks on the reader is caught: the transport reports it, once, as a
// QuickStall while it still blocks, and the stall is the one TCP
// suffers, the next request on the same connection waiting behind it
// until it ends.
func contractQuickStallCaught(t *testing.T, hs *harness) {
	h := &stallHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	srv, err := hs.listen(t, "", func() (uint64, uint64) { return 2, 1 }, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	defer func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	}()
	a := newNode(t, hs, "", 1, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	blocked := goCall(ctx, a.tr, srv.Addr(), &wire.Replicate{Entry: store.Entry{Key: "block"}})
	select {
	case <-h.started:
	case <-ctx.Done():
		t.Fatal("the blocking quick request never reached its handler")
	}
	next := goCall(ctx, a.tr, srv.Addr(), &wire.Replicate{Entry: store.Entry{Key: "next"}})
	var s QuickStall
	select {
	case s = <-hs.stalls:
	case r := <-next:
		t.Fatalf("the next request was answered (%+v, %v) while a quick handler blocked the reader, and no stall was reported", r.env.Msg, r.err)
	case <-ctx.Done():
		t.Fatal("a quick handler blocked for 10s and no stall was reported")
	}
	if s.Type != wire.TypeReplicate || s.Held < contractQuickStall || s.Local != srv.Addr() || s.Remote == "" {
		t.Errorf("stall report %+v: want type %d, held at least %v, local %s", s, wire.TypeReplicate, contractQuickStall, srv.Addr())
	}
	if !strings.Contains(s.String(), "held the reader") {
		t.Errorf("stall report reads %q", s)
	}
	select {
	case r := <-next:
		t.Fatalf("the next request on the connection was answered (%+v, %v) while the reader was blocked", r.env.Msg, r.err)
	default:
	}
	close(h.release)
	for name, ch := range map[string]<-chan callResult{"block": blocked, "next": next} {
		r := waitResult(t, ch)
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		rr, ok := r.env.Msg.(*wire.ReadResp)
		if !ok || rr.Entry.Key != name || !rr.Found {
			t.Fatalf("%s: answer %#v, want it served inline", name, r.env.Msg)
		}
		if name == "next" && !rr.Entry.Deleted {
			t.Fatal("the next request's handler began before the blocking one was released: it did not wait behind it")
		}
	}
	select {
	case s := <-hs.stalls:
		t.Fatalf("a second stall report for one stalled request: %+v", s)
	default:
	}
}
