package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// forwardedInBatches waits until follower f forwards writes in batches:
// it learns from the leader's heartbeats that the leader serves them.
func forwardedInBatches(t *testing.T, ctx context.Context, c *clustertest.Cluster, f *clustertest.Node) {
	t.Helper()
	round := 0
	c.WaitFor(30*time.Second, "writes forwarded in batches", func() bool {
		round++
		ops := []wire.WriteOp{
			{Kind: wire.WritePut, Key: fmt.Sprintf("warm-%d-a", round), Value: []byte("w")},
			{Kind: wire.WritePut, Key: fmt.Sprintf("warm-%d-b", round), Value: []byte("w")},
		}
		for _, r := range f.WriteMany(ctx, ops) {
			if r.Err != nil {
				t.Fatalf("warm-up write: %v", r.Err)
			}
		}
		return counterValue(t, f, "jumpkv_forward_batches_total") > 0
	})
}

// TestFollowerForwardsPipelinesInBatches: pipelines of writes sent to a
// follower at the same time travel to the leader in shared ForwardBatch
// frames, not one Forward each, and the leader carries them out together;
// every write is acknowledged with the version it has at the leader.
func TestFollowerForwardsPipelinesInBatches(t *testing.T) {
	c, l, ctx := readyCluster(t, 64)
	f := c.Followers(l)[0]
	forwardedInBatches(t, ctx, c, f)

	const callers, each = 8, 16
	frames0 := counterValue(t, f, "jumpkv_forward_batches_total")
	carried0 := counterValue(t, f, "jumpkv_forward_batched_writes_total")
	together0 := counterValue(t, l, "jumpkv_writes_together_total")
	results := make([][]node.WriteResult, callers)
	var wg sync.WaitGroup
	for g := range callers {
		ops := make([]wire.WriteOp, each)
		for i := range ops {
			ops[i] = wire.WriteOp{Kind: wire.WritePut, Key: fmt.Sprintf("p%d-%d", g, i), Value: fmt.Appendf(nil, "v%d-%d", g, i)}
		}
		wg.Go(func() { results[g] = f.WriteMany(ctx, ops) })
	}
	wg.Wait()
	for g, rs := range results {
		for i, r := range rs {
			key := fmt.Sprintf("p%d-%d", g, i)
			if r.Err != nil {
				t.Fatalf("%s: %v", key, r.Err)
			}
			e, err := l.Get(ctx, key)
			if err != nil || string(e.Value) != fmt.Sprintf("v%d-%d", g, i) || e.Version != r.Version {
				t.Fatalf("%s at the leader: %q %v, %v; acknowledged %v", key, e.Value, e.Version, err, r.Version)
			}
		}
	}
	// Each caller's writes join the queue at once, so every frame carries
	// at least one caller's 16 writes: no write goes alone.
	frames := counterValue(t, f, "jumpkv_forward_batches_total") - frames0
	carried := counterValue(t, f, "jumpkv_forward_batched_writes_total") - carried0
	if carried != callers*each || frames < 1 || frames > callers {
		t.Errorf("%v writes carried in %v frames; want all %d in at most %d", carried, frames, callers*each, callers)
	}
	if together := counterValue(t, l, "jumpkv_writes_together_total") - together0; together == 0 {
		t.Error("the leader carried out no forwarded write together with others")
	}
}

// TestFollowerForwardsConcurrentPipelinesTogether: the pipelines of
// clients that reach a follower while its batches are on their way wait,
// and share the next frame (virtual time, 10 ms per message).
func TestFollowerForwardsConcurrentPipelinesTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, l := delayedCluster(t, 16, 10*time.Millisecond)
		ctx := context.Background()
		f := c.Followers(l)[0]
		forwardedInBatches(t, ctx, c, f)
		frames0 := counterValue(t, f, "jumpkv_forward_batches_total")
		const callers, each = 8, 4
		results := make([][]node.WriteResult, callers)
		var wg sync.WaitGroup
		for g := range callers {
			ops := make([]wire.WriteOp, each)
			for i := range ops {
				ops[i] = wire.WriteOp{Kind: wire.WritePut, Key: fmt.Sprintf("c%d-%d", g, i), Value: []byte("x")}
			}
			wg.Go(func() { results[g] = f.WriteMany(ctx, ops) })
		}
		wg.Wait()
		for g, rs := range results {
			for i, r := range rs {
				if r.Err != nil || r.Version.IsZero() {
					t.Fatalf("c%d-%d: %v %v", g, i, r.Version, r.Err)
				}
			}
		}
		// Two go at once (batchInflight); the others wait for them and go
		// together.
		if frames := counterValue(t, f, "jumpkv_forward_batches_total") - frames0; frames < 1 || frames >= callers {
			t.Errorf("%d pipelines sent together took %v batch frames: want at least one, shared", callers, frames)
		}
	})
}

// TestForwardBatchAnswersEachWriteAsForward: the leader carries out each
// write of a ForwardBatch as the Forward it would be alone: refusals are
// per write (a bad kind, an empty key, a value too large, a failed
// condition) and do not refuse the others, and two writes of one key (two
// clients') both take effect, one after the other. A follower refuses a
// batch as it refuses a Forward (ErrNotLeader), and the door refuses
// empty and oversized batches.
func TestForwardBatchAnswersEachWriteAsForward(t *testing.T) {
	c, l, ctx := readyCluster(t, 64)
	f := c.Followers(l)[0]
	if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: "exists", Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	ops := []wire.WriteOp{
		{Kind: wire.WritePut, Key: "dup", Value: []byte("one")},
		{Kind: 9, Key: "bad-kind"},
		{Kind: wire.WritePut, Key: "dup", Value: []byte("two")},
		{Kind: wire.WritePut, Key: "", Value: []byte("x")},
		{Kind: wire.WritePut, Key: "big", Value: bytes.Repeat([]byte("b"), l.Config().MaxValue+1)},
		{Kind: wire.WriteCreate, Key: "exists", Value: []byte("new")},
		{Kind: wire.WritePut, Key: "plain", Value: []byte("p"), ContentType: "text/plain"},
	}
	serve := func(n *clustertest.Node, msg wire.Message) (wire.Message, error) {
		return n.ServePeer(ctx, transport.Envelope{From: uint64(f.ID()), Term: l.Status().Term, Msg: msg})
	}
	answer, err := serve(l, &wire.ForwardBatch{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	results := answer.(*wire.ForwardBatchResp).Results
	if len(results) != len(ops) {
		t.Fatalf("%d answers to %d writes", len(results), len(ops))
	}
	// Each refusal is the one a write alone gets (refused writes change
	// nothing, so the leader is asked again).
	for _, i := range []int{1, 3, 4, 5} {
		_, alone := l.Write(ctx, ops[i])
		got := results[i]
		if alone == nil || got.Code != wire.CodeOf(alone) || !errors.Is(wire.ErrorOf(got.Code, got.Message), wire.ErrorOf(wire.CodeOf(alone), "")) {
			t.Errorf("write %d (%q): answered %q %q in the batch, %v alone", i, ops[i].Key, got.Code, got.Message, alone)
		}
	}
	for _, i := range []int{0, 2, 6} {
		if r := results[i]; r.Code != "" || r.Version.IsZero() {
			t.Errorf("write %d (%q): %+v", i, ops[i].Key, r)
		}
	}
	if results[0].Version == results[2].Version {
		t.Errorf("both writes of dup got version %v", results[0].Version)
	}
	dup, err := l.Get(ctx, "dup")
	last, lastValue := results[0].Version, "one"
	if last.Compare(results[2].Version) < 0 {
		last, lastValue = results[2].Version, "two"
	}
	if err != nil || dup.Version != last || string(dup.Value) != lastValue {
		t.Errorf("dup reads %q %v, %v; want the later write, %q %v", dup.Value, dup.Version, err, lastValue, last)
	}
	if e, err := l.Get(ctx, "exists"); err != nil || string(e.Value) != "old" {
		t.Errorf("exists reads %q, %v after a refused create", e.Value, err)
	}

	if _, err := serve(f, &wire.ForwardBatch{Ops: ops[6:]}); !errors.Is(err, wire.ErrNotLeader) {
		t.Errorf("a follower served a batch of forwarded writes: %v", err)
	}
	for _, n := range []int{0, wire.MaxBatchItems + 1} {
		many := make([]wire.WriteOp, n)
		for i := range many {
			many[i] = wire.WriteOp{Kind: wire.WritePut, Key: fmt.Sprintf("many-%d", i), Value: []byte("m")}
		}
		if _, err := serve(l, &wire.ForwardBatch{Ops: many}); !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("a batch of %d writes: %v", n, err)
		}
	}
	if _, err := l.Get(ctx, "many-0"); !errors.Is(err, wire.ErrNotFound) {
		t.Errorf("a refused batch wrote: %v", err)
	}
}

// TestForwardBatchRefusedAtOnceWhileLeadershipMoves: a leader that is
// handing its leadership over refuses each write of a ForwardBatch at
// once (ErrNoLeader), as it refuses a Forward, for the follower to hold
// and retry. It did hold them itself, up to a CallTimeout, and then
// forwarded them on, while the follower's call ran out and every write of
// the batch ended as an unknown outcome (virtual time).
func TestForwardBatchRefusedAtOnceWhileLeadershipMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, l := delayedCluster(t, 16, time.Millisecond)
		f := c.Followers(l)[0]
		ctx := context.Background()
		ops := []wire.WriteOp{
			{Kind: wire.WritePut, Key: "m1", Value: []byte("x")},
			{Kind: wire.WritePut, Key: "m2", Value: []byte("x")},
			{Kind: wire.WritePut, Key: "m1", Value: []byte("y")}, // a repeat
			{Kind: wire.WriteDelete, Key: "m3"},                  // needs the current value: alone
		}
		serve := func(msg wire.Message) (wire.Message, error) {
			return l.ServePeer(ctx, transport.Envelope{From: uint64(f.ID()), Term: l.Status().Term, Msg: msg})
		}
		l.SetHandover(true)
		start := time.Now()
		_, aloneErr := serve(&wire.Forward{Op: ops[0]})
		answer, err := serve(&wire.ForwardBatch{Ops: ops})
		took := time.Since(start)
		l.SetHandover(false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range answer.(*wire.ForwardBatchResp).Results {
			if r.Code != wire.CodeOf(wire.ErrNoLeader) || r.Code != wire.CodeOf(aloneErr) {
				t.Errorf("write %d (%q): %q %q; a Forward alone: %v", i, ops[i].Key, r.Code, r.Message, aloneErr)
			}
		}
		if limit := l.Config().CallTimeout / 4; took > limit {
			t.Errorf("the refusals took %v: the leader held the writes (want under %v)", took, limit)
		}
	})
}

// TestForwardErrSaysWhetherTheWriteMayHaveHappened: how forwarding failed
// maps to what the client is told. A write surely not carried out (no
// connection, no leader, a full queue whose deadline passed) is
// ErrNoLeader, which Write holds and tries again; one that may have been
// (the frame went out, no answer came) is ErrUnknownOutcome, never
// retried; the leader's own refusals pass as they are.
func TestForwardErrSaysWhetherTheWriteMayHaveHappened(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error
	}{
		{wire.ErrUnreachable, wire.ErrNoLeader},
		{wire.ErrNotLeader, wire.ErrNoLeader},
		{fmt.Errorf("%w: the deadline passed while the message waited to be sent", wire.ErrUnreachable), wire.ErrNoLeader},
		{wire.ErrTimeout, wire.ErrUnknownOutcome},
		{wire.ErrConnLost, wire.ErrUnknownOutcome},
		{fmt.Errorf("%w: sending a batch failed", wire.ErrUnknownOutcome), wire.ErrUnknownOutcome},
		{wire.ErrPrecondition, wire.ErrPrecondition},
		{wire.ErrTooLarge, wire.ErrTooLarge},
		{wire.ErrNoLeader, wire.ErrNoLeader},
	} {
		got := node.ForwardErr(c.err)
		if !errors.Is(got, c.want) || c.want != wire.ErrUnknownOutcome && errors.Is(got, wire.ErrUnknownOutcome) {
			t.Errorf("forwarding failed with %v: Write returns %v, want %v", c.err, got, c.want)
		}
	}
	if node.ForwardErr(nil) != nil {
		t.Error("a forwarded write that succeeded reads as failed")
	}
}

// TestForwardBatchAnswersBeforeTheFollowerGivesUp: a frame of 255 writes
// of one hot key (many clients') and one other write is answered before
// the follower stops waiting (its forward bound: a CallTimeout and a
// half), each write done or refused as surely not done (ErrUnavailable),
// never left for the follower to report as an unknown outcome. Run one
// after the other, each starting its own timeout late, the hot key's
// writes took 4.1 s against the follower's 3 s (virtual time, 8 ms per
// message).
func TestForwardBatchAnswersBeforeTheFollowerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, l := delayedCluster(t, 16, 8*time.Millisecond)
		f := c.Followers(l)[0]
		ctx := context.Background()
		ops := []wire.WriteOp{{Kind: wire.WritePut, Key: "cold", Value: []byte("c")}}
		for i := range 255 {
			ops = append(ops, wire.WriteOp{Kind: wire.WritePut, Key: "hot", Value: fmt.Appendf(nil, "h%d", i)})
		}
		start := time.Now()
		answer, err := l.ServePeer(ctx, transport.Envelope{From: uint64(f.ID()), Term: l.Status().Term, Msg: &wire.ForwardBatch{Ops: ops}})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		cfg := l.Config()
		if bound := cfg.CallTimeout + cfg.CallTimeout/2; took >= bound {
			t.Errorf("the answer took %v: the follower stops waiting after %v", took, bound)
		}
		done, refused := 0, 0
		for i, r := range answer.(*wire.ForwardBatchResp).Results {
			switch r.Code {
			case "":
				done++
			case wire.CodeOf(wire.ErrUnavailable):
				refused++
			default:
				t.Errorf("write %d (%q): %q %q", i, ops[i].Key, r.Code, r.Message)
			}
		}
		if r := answer.(*wire.ForwardBatchResp).Results[0]; r.Code != "" {
			t.Errorf("the cold key's write: %q %q", r.Code, r.Message)
		}
		if done < 2 {
			t.Errorf("%d writes done, %d refused: want the cold key's and some of the hot key's", done, refused)
		}
		t.Logf("%d done, %d refused in %v", done, refused, took)
	})
}
