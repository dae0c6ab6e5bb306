package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Batched forwarding: the writes of WriteMany on a follower (a Redis
// pipeline's SETs, MSET) travel to the leader in wire.ForwardBatch frames,
// shared with those of other WriteMany calls waiting at the same time
// (batcher.go says how), and the leader carries each frame's writes out
// as one WriteMany: one pass through its write path and one batch to each
// replica, as for a pipeline sent to it directly. Each write is still
// carried out, and answered, as the Forward it would be alone.
//
// A single Write is forwarded alone, at once: queued behind the batches
// on their way, many clients' single writes waited longer than they
// saved (measured: HTTP PUTs from 50 connections to the followers fell
// from 18.4k/18.7k to 15.7k/16.8k per second, CPU per op on all nodes
// 77/74 -> 85/79 us, two rounds of jumpkv bench --spawn 3 --target
// follower).

// forwardedWrite is one write a follower forwards to the leader in a
// batch, with its answer.
type forwardedWrite struct {
	op      wire.WriteOp
	version store.Version // the key's new version, set when the write succeeded
}

// BatchBytes is what the write adds to the bytes of its batch.
func (w *forwardedWrite) BatchBytes() int {
	return len(w.op.Key) + len(w.op.Value) + len(w.op.ContentType)
}

// forwardBatchers holds a batcher of forwarded writes per leader address.
type forwardBatchers = batchers[forwardedWrite, *forwardedWrite]

// forwardsInBatchesLocked reports whether this node, a follower, forwards
// writes to the leader in batches: the leader says it serves them. (A
// write of batchAlone bytes or more goes alone, as to a replica.)
func (n *Node) forwardsInBatchesLocked() bool {
	return n.lead == nil && n.peerStats[n.el.Leader()].forwards
}

// forwardCtx bounds a forwarded write: the leader's own bound on it, plus
// time for the round trip.
func (n *Node) forwardCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), n.writeTimeout()+n.cfg.CallTimeout/2)
}

// forwardMany forwards the writes of ops at idx to the leader at addr in
// batches (doMany), setting their results. Those refused because
// leadership is changing (ErrNoLeader: surely not carried out) are
// returned, for Write to carry out alone, holding them as it does.
func (n *Node) forwardMany(ctx context.Context, addr string, ops []wire.WriteOp, idx []int, res []WriteResult) (redo []int) {
	ctx, cancel := n.forwardCtx(ctx)
	defer cancel()
	msgs := make([]forwardedWrite, len(idx))
	for j, i := range idx {
		msgs[j].op = ops[i]
	}
	b := n.fwdBatchers.get(addr)
	for j, err := range b.doMany(ctx, msgs, b.send) {
		i := idx[j]
		if err = forwardErr(err); errors.Is(err, wire.ErrNoLeader) {
			redo = append(redo, i)
			continue
		}
		res[i] = WriteResult{Version: msgs[j].version, Err: err}
	}
	return redo
}

// forwardAlone sends op to the leader at addr in a Forward of its own and
// returns the key's new version, or the call's error as it came (forwardErr
// maps it); an answer of the wrong type leaves the outcome unknown.
func (n *Node) forwardAlone(ctx context.Context, addr string, op wire.WriteOp) (store.Version, error) {
	env, err := n.call(ctx, addr, &wire.Forward{Op: op})
	if err != nil {
		return store.Version{}, err
	}
	r, ok := env.Msg.(*wire.WriteResult)
	if !ok {
		return store.Version{}, fmt.Errorf("%w: unexpected answer to a forwarded write", wire.ErrUnknownOutcome)
	}
	return r.Version, nil
}

// forwardErr maps how forwarding a write to the leader failed to what
// Write returns: ErrNoLeader when it was surely not carried out (Write
// tries it again), ErrUnknownOutcome when it may have been.
func forwardErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wire.ErrUnreachable):
		return fmt.Errorf("%w: leader unreachable", wire.ErrNoLeader)
	case errors.Is(err, wire.ErrNotLeader):
		return fmt.Errorf("%w: leadership is changing", wire.ErrNoLeader)
	case wire.MaybeDelivered(err):
		return fmt.Errorf("%w: forwarding to the leader: %v", wire.ErrUnknownOutcome, err)
	}
	return err
}

// sendForwards sends a batch of forwarded writes to the leader at addr, a
// Forward when it holds one write, else a ForwardBatch, under the latest
// of their deadlines (a write given up may still be carried out, so the
// call runs as long as any of them waits), and sets each one's answer, or
// its err as the call returned it (forwardErr maps it).
func (n *Node) sendForwards(addr string, batch []*batchItem[forwardedWrite]) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	if len(batch) == 1 {
		batch[0].msg.version, batch[0].err = n.forwardAlone(ctx, addr, batch[0].msg.op)
		return
	}
	msg := &wire.ForwardBatch{Ops: make([]wire.WriteOp, len(batch))}
	for i, it := range batch {
		msg.Ops[i] = it.msg.op
	}
	n.metrics.forwardBatches.Add(1)
	n.metrics.forwardBatched.Add(uint64(len(batch)))
	env, err := n.call(ctx, addr, msg)
	answer, ok := env.Msg.(*wire.ForwardBatchResp)
	if err == nil && (!ok || len(answer.Results) != len(batch)) {
		// The batch was delivered: a wrong answer leaves every write's
		// outcome unknown.
		err = fmt.Errorf("%w: unexpected answer to a batch of %d forwarded writes", wire.ErrUnknownOutcome, len(batch))
	}
	for i, it := range batch {
		if err != nil {
			it.err = err
			continue
		}
		if r := &answer.Results[i]; r.Code != "" {
			it.err = wire.ErrorOf(r.Code, r.Message)
		} else {
			it.msg.version = r.Version
		}
	}
}

// onForwardBatch carries out, as leader, a batch of writes a follower
// received, each checked and carried out as onForward would (by this node
// as leader, or refused at once, never held or forwarded on: the follower
// does that), all together (writeForwarded), and answered write by write.
func (n *Node) onForwardBatch(ctx context.Context, m *wire.ForwardBatch) (wire.Message, error) {
	n.mu.Lock()
	leading := n.lead != nil
	n.mu.Unlock()
	if !leading {
		return nil, wire.ErrNotLeader
	}
	results := make([]wire.ForwardResult, len(m.Ops))
	for i, r := range n.writeForwarded(ctx, m.Ops, time.Now().Add(forwardedStartWithin(n.cfg.CallTimeout))) {
		if r.Err != nil {
			results[i] = wire.ForwardResult{Code: wire.CodeOf(r.Err), Message: r.Err.Error()}
		} else {
			results[i].Version = r.Version
		}
	}
	return &wire.ForwardBatchResp{Results: results}, nil
}

// forwardedStartWithin is how long after its frame arrives a forwarded
// write may still begin: one that has waited longer for its turn (behind
// others of its key, or for a place to run) is refused, surely not carried
// out (ErrUnavailable). A write once begun may last a CallTimeout, and the
// follower waits a CallTimeout and a half in all: the frame's answer must
// come back before it stops waiting, or every write of the frame would
// read as an unknown outcome.
func forwardedStartWithin(callTimeout time.Duration) time.Duration { return callTimeout / 4 }

// writeForwarded carries out a batch of forwarded writes, which are
// concurrent and may repeat a key (two clients' writes of it), each as
// leaderWrite would if it begins by startBy, and answers in order: the
// first write of each key together (writeMany), and beside them the later
// ones (writeRepeats): writes of one key take effect one after the other,
// in some order, as concurrent writes do.
func (n *Node) writeForwarded(ctx context.Context, ops []wire.WriteOp, startBy time.Time) []WriteResult {
	write := func(ctx context.Context, op wire.WriteOp) (store.Version, error) {
		if time.Now().After(startBy) {
			return store.Version{}, fmt.Errorf("%w: the write waited too long in its forwarded batch to begin; not carried out", wire.ErrUnavailable)
		}
		return n.leaderWriteChecked(ctx, op)
	}
	seen := keySet{ops: ops}
	var firsts []wire.WriteOp
	var firstIdx, again []int
	for i := range ops {
		if seen.add(i) {
			firsts, firstIdx = append(firsts, ops[i]), append(firstIdx, i)
		} else {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return n.writeMany(ctx, ops, write, startBy)
	}
	res := make([]WriteResult, len(ops))
	var wg sync.WaitGroup
	wg.Go(func() { n.writeRepeats(ctx, ops, again, res, write) })
	for j, r := range n.writeMany(ctx, firsts, write, startBy) {
		res[firstIdx[j]] = r
	}
	wg.Wait()
	return res
}

// writeRepeats carries out the writes of ops at idx, repeats of keys
// written first elsewhere, each with write, into res: each key's one
// after the other, in order, and up to maxAloneAtOnce keys at once.
func (n *Node) writeRepeats(ctx context.Context, ops []wire.WriteOp, idx []int, res []WriteResult, write writeFunc) {
	byKey := map[string][]int{}
	var keys []string
	for _, i := range idx {
		k := ops[i].Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	g := &boundedGroup{limit: maxAloneAtOnce}
	for _, k := range keys {
		g.Go(func() {
			for _, i := range byKey[k] {
				n.writeAlone(ctx, write, ops[i], &res[i])
			}
		})
	}
	g.Wait()
}

// leaderWriteChecked is leaderWrite after the checks onForward makes.
func (n *Node) leaderWriteChecked(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	if err := n.checkOp(&op); err != nil {
		return store.Version{}, err
	}
	return n.leaderWrite(ctx, op)
}
