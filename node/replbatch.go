package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// Batched replication. Writes of different keys that wait for the same
// replica at the same time (a pipeline's writes, many clients' writes)
// share one wire.ReplicateBatch frame and one answer instead of paying a
// round trip, a frame and a handler each. Each write is still checked and
// applied on the replica as its own Replicate would be, and gets its own
// answer: batching changes what a write costs, not what it means.
//
// There is no goroutine of its own: writers take turns. A writer whose
// write finds fewer than batchInflight batches on their way to the replica
// sends at once, taking the writes already waiting along; otherwise its
// write waits, and the writer whose batch comes back first hands the next
// turn, with every write that waits meanwhile, to the writer of the oldest.

// Limits of one batch.
const (
	batchInflight = 2                // batches on their way to one replica at once
	batchMaxItems = 256              // writes in one batch
	batchMaxBytes = 256 << 10        // their key and value bytes
	batchAlone    = 16 << 10         // a write of this many bytes or more goes alone
	batchMinLeft  = time.Millisecond // a waiting write with less time left is not sent
)

// maxBatchItems bounds the writes of a ReplicateBatch a replica accepts
// (Decode's bound, checked again by the door; above batchMaxItems so that
// a later build may send more).
const maxBatchItems = wire.MaxBatchItems

// replItem is one write waiting for, or carried by, a batch. The fields
// but msg and deadline are guarded by the batcher's mu until ready is
// signalled, and belong to the writer after.
type replItem struct {
	msg      *wire.Replicate
	deadline time.Time     // zero: none
	err      error         // its outcome, set before ready is signalled
	ready    chan struct{} // signalled once: the outcome is set, or it is this writer's turn
	turn     []*replItem   // the batch this writer is to send (itself first), set with ready
	taken    bool          // it left the queue: into a batch, or failed there
}

func (it *replItem) size() int { return len(it.msg.Entry.Key) + len(it.msg.Entry.Value) }

// replBatcher queues the writes for one replica. Safe for concurrent use.
type replBatcher struct {
	mu       sync.Mutex
	waiting  []*replItem // oldest first
	inflight int         // batches sent and not yet answered
	send     sendFunc    // sends a batch to this replica; immutable
}

// replBatchers holds a batcher per replica peer address, made on first
// use (a cluster has few members; an address that leaves keeps an empty
// batcher). Safe for concurrent use.
type replBatchers struct {
	send func(addr string, batch []*replItem) // immutable after New
	mu   sync.Mutex
	by   map[string]*replBatcher
}

func (bs *replBatchers) get(addr string) *replBatcher {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.by[addr]
	if b == nil {
		if bs.by == nil {
			bs.by = map[string]*replBatcher{}
		}
		b = &replBatcher{send: func(batch []*replItem) { bs.send(addr, batch) }}
		bs.by[addr] = b
	}
	return b
}

// sendFunc sends a batch of writes to the replica and sets each one's err.
type sendFunc func(batch []*replItem)

// do sends msg to the replica, in a batch with other writes waiting for it
// at the same time, and returns its outcome, as a call of msg alone would
// (the wire sentinels), by ctx's deadline: a write still waiting then was
// surely not sent (wire.ErrUnreachable), one on its way may have been
// applied (wire.ErrTimeout). Only a writer handed the turn just as its
// deadline passes sends its batch first, within the batch's own deadline.
func (b *replBatcher) do(ctx context.Context, msg *wire.Replicate, send sendFunc) error {
	it := &replItem{msg: msg, ready: make(chan struct{}, 1)}
	it.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	if b.inflight < batchInflight {
		b.inflight++
		batch := b.takeLocked(it, time.Now())
		b.mu.Unlock()
		b.run(batch, send)
		return it.err
	}
	b.waiting = append(b.waiting, it)
	b.mu.Unlock()
	select {
	case <-it.ready:
	case <-ctx.Done():
		b.mu.Lock()
		taken, turn := it.taken, it.turn != nil
		if !taken {
			b.waiting = slices.DeleteFunc(b.waiting, func(w *replItem) bool { return w == it })
		}
		b.mu.Unlock()
		switch {
		case !taken:
			return fmt.Errorf("%w: the write's deadline passed while it waited to be sent", wire.ErrUnreachable)
		case !turn:
			select {
			case <-it.ready: // its batch came back just now
				return it.err
			default:
				return fmt.Errorf("%w: the write's batch did not come back by its deadline", wire.ErrTimeout)
			}
		}
		<-it.ready // the turn, signalled right after it was set
	}
	if it.turn != nil {
		b.run(it.turn, send)
	}
	return it.err
}

// doMany sends msgs (at least one) to the replica, in batches with each
// other and with other writes waiting for it at the same time, and returns
// each one's outcome, as do would return it for each (a writer's writes
// taking one place in the queue each, in order). Unlike do it waits for
// every outcome rather than for ctx: a write still waiting when its
// deadline (ctx's) is near is failed by the next batch taken
// (takeLocked), and each batch on its way ends by its own deadline.
//
// Every write of msgs signals one shared channel once: when its outcome
// is set, or when it is handed the turn (whose batch this writer then
// sends); only the first write, when it goes out at once, does not.
func (b *replBatcher) doMany(ctx context.Context, msgs []wire.Replicate, send sendFunc) []error {
	if len(msgs) == 0 {
		return nil
	}
	deadline, _ := ctx.Deadline()
	ready := make(chan struct{}, len(msgs))
	items := make([]replItem, len(msgs))
	for i := range msgs {
		items[i] = replItem{msg: &msgs[i], deadline: deadline, ready: ready}
	}
	defer b.abandonOnPanic(items, send)
	signals := len(items)
	b.mu.Lock()
	now := b.inflight < batchInflight // the first write goes at once
	for i := range items {
		if i > 0 || !now {
			b.waiting = append(b.waiting, &items[i])
		}
	}
	var batch []*replItem
	if now {
		b.inflight++
		batch = b.takeLocked(&items[0], time.Now())
		signals--
	}
	b.mu.Unlock()
	if batch != nil {
		b.run(batch, send)
	}
	for ; signals > 0; signals-- {
		<-ready
		// The signal may be a turn: each write handed one sends its batch.
		for turn := b.takeTurn(items); turn != nil; turn = b.takeTurn(items) {
			b.run(turn, send)
		}
	}
	errs := make([]error, len(items))
	for i := range items {
		errs[i] = items[i].err
	}
	return errs
}

// takeTurn returns the batch handed to one of items, if any, taking it
// from the item (only turn is read: the other fields of an item in a
// batch on its way belong to its sender).
func (b *replBatcher) takeTurn(items []replItem) []*replItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range items {
		if t := items[k].turn; t != nil {
			items[k].turn = nil
			return t
		}
	}
	return nil
}

// abandonOnPanic, deferred by doMany, lets a panicking writer leave the
// queue whole: its writes still waiting leave it, and a turn already
// handed to one of them is sent, so the writes of other writers in that
// batch, and the replica's place in flight, are not lost. The panic goes
// on.
func (b *replBatcher) abandonOnPanic(items []replItem, send sendFunc) {
	p := recover()
	if p == nil {
		return
	}
	b.mu.Lock()
	b.waiting = slices.DeleteFunc(b.waiting, func(w *replItem) bool {
		return len(items) > 0 && w.ready == items[0].ready
	})
	b.mu.Unlock()
	for turn := b.takeTurn(items); turn != nil; turn = b.takeTurn(items) {
		b.run(turn, send)
	}
	panic(p)
}

// takeLocked returns a batch: first (if not nil), then the oldest waiting
// writes, within the batch limits. A waiting write with less than
// batchMinLeft of its deadline left at now is failed, not sent.
func (b *replBatcher) takeLocked(first *replItem, now time.Time) []*replItem {
	var batch []*replItem
	size := 0
	if first != nil {
		first.taken = true
		batch = append(batch, first)
		size = first.size()
	}
	n := 0
	for n < len(b.waiting) && len(batch) < batchMaxItems {
		it := b.waiting[n]
		if !it.deadline.IsZero() && it.deadline.Sub(now) < batchMinLeft {
			it.taken = true
			it.err = fmt.Errorf("%w: the write's deadline passed while it waited to be sent", wire.ErrUnreachable)
			it.ready <- struct{}{}
			n++
			continue
		}
		if len(batch) > 0 && size+it.size() > batchMaxBytes {
			break
		}
		it.taken = true
		size += it.size()
		batch = append(batch, it)
		n++
	}
	rest := copy(b.waiting, b.waiting[n:])
	clear(b.waiting[rest:])
	b.waiting = b.waiting[:rest]
	return batch
}

// run sends batch (whose first write is the caller's), tells the other
// writes their outcome, and hands the turn on: to the writer of the
// oldest write still waiting, with the batch it is to send. It does the
// telling and handing on even if send panics (which then goes on): a
// batch that never ended would hold every later write to the replica.
func (b *replBatcher) run(batch []*replItem, send sendFunc) {
	sent := false
	defer func() {
		if !sent {
			for _, it := range batch {
				it.err = fmt.Errorf("%w: sending a batch of writes failed", wire.ErrUnknownOutcome)
			}
		}
		for _, it := range batch[1:] {
			it.ready <- struct{}{}
		}
		b.mu.Lock()
		next := b.takeLocked(nil, time.Now())
		if len(next) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		next[0].turn = next
		b.mu.Unlock()
		next[0].ready <- struct{}{}
	}()
	send(batch)
	sent = true
}

// sendReplicas sends a batch of writes to the replica at addr: a
// Replicate when it holds one write, else a ReplicateBatch, under the
// latest of its writes' deadlines (each writer stops waiting at its own).
func (n *Node) sendReplicas(addr string, batch []*replItem) {
	deadline := batchDeadline(batch)
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	if len(batch) == 1 {
		_, batch[0].err = n.call(ctx, addr, batch[0].msg)
		return
	}
	msg := &wire.ReplicateBatch{Items: make([]wire.Replicate, len(batch))}
	for i, it := range batch {
		msg.Items[i] = *it.msg
	}
	n.metrics.replicateBatches.Add(1)
	n.metrics.replicateBatched.Add(uint64(len(batch)))
	env, err := n.call(ctx, addr, msg)
	takeBatchAnswer(batch, env.Msg, err)
}

// takeBatchAnswer sets each write's outcome from the answer to its batch
// (or the call's error).
func takeBatchAnswer(batch []*replItem, answer wire.Message, err error) {
	batchOutcomes(answer, err, len(batch), func(i int, err error) { batch[i].err = err })
}

// batchOutcomes passes to set the outcome of each write of a batch of n
// (nil: applied, or already held), from the answer to the batch or the
// call's error.
func batchOutcomes(answer wire.Message, err error, n int, set func(i int, err error)) {
	if err == nil {
		err = batchAnswerErr(answer, n)
	}
	for i := range n {
		if err != nil {
			set(i, err)
			continue
		}
		if r := answer.(*wire.ReplicateBatchAck).Results[i]; r.Code != "" {
			set(i, wire.ErrorOf(r.Code, r.Message))
		}
	}
}

// batchDeadline is the latest deadline of a batch's writes (zero: one of
// them has none).
func batchDeadline(batch []*replItem) time.Time {
	var deadline time.Time
	for _, it := range batch {
		if it.deadline.IsZero() {
			return time.Time{}
		}
		if it.deadline.After(deadline) {
			deadline = it.deadline
		}
	}
	return deadline
}

// batchAnswerErr checks the answer to a batch of n writes. The batch was
// delivered, so a wrong answer leaves every write's outcome unknown.
func batchAnswerErr(m wire.Message, n int) error {
	ack, ok := m.(*wire.ReplicateBatchAck)
	switch {
	case !ok:
		return fmt.Errorf("%w: a replica answered a batch of writes with %T", wire.ErrUnknownOutcome, m)
	case len(ack.Results) != n:
		return fmt.Errorf("%w: a replica answered %d of a batch of %d writes", wire.ErrUnknownOutcome, len(ack.Results), n)
	}
	return nil
}

// onReplicateBatch applies a batch of writes the leader sends to this
// replica, each as onReplicate would, its fields checked as the door
// checks a Replicate's.
func (n *Node) onReplicateBatch(ctx context.Context, from shard.NodeID, term uint64, m *wire.ReplicateBatch) (wire.Message, error) {
	results := make([]wire.ReplicateResult, len(m.Items))
	set := func(i int, applied bool, err error) {
		if err != nil {
			results[i] = wire.ReplicateResult{Code: wire.CodeOf(err), Message: err.Error()}
			return
		}
		results[i].Applied = applied
	}
	if n.persist != nil {
		if err := n.applyBatchDurable(from, term, m, transport.Inline(ctx), set); err != nil {
			return nil, err
		}
		return &wire.ReplicateBatchAck{Results: results}, nil
	}
	// Memory only, on the connection's reader: the checks and applies in
	// short holds of mu, a few writes each.
	const perHold = 32
	for lo := 0; lo < len(m.Items); lo += perHold {
		n.mu.Lock()
		for i := lo; i < min(lo+perHold, len(m.Items)); i++ {
			if err := n.checkEntries(term, []store.Entry{m.Items[i].Entry}); err != nil {
				set(i, false, err) // as the door refuses a Replicate alone
				continue
			}
			applied, err := n.applyReplicateLocked(from, term, &m.Items[i])
			set(i, applied, err)
		}
		n.mu.Unlock()
	}
	return &wire.ReplicateBatchAck{Results: results}, nil
}

// applyBatchDurable logs the writes of a batch that pass their checks in
// one turn at the log, then applies them, each checked again (as
// applyCheckedAs does for one write), and reports each one's outcome to
// set. Inline (on a connection's reader) it returns
// transport.ErrWouldBlock, having changed nothing, when the log cannot
// take them at once.
func (n *Node) applyBatchDurable(from shard.NodeID, term uint64, m *wire.ReplicateBatch, inline bool, set func(int, bool, error)) error {
	var idx, buckets []int
	var entries []store.Entry
	n.mu.Lock()
	for i := range m.Items {
		it := &m.Items[i]
		err := n.checkEntries(term, []store.Entry{it.Entry}) // as the door refuses a Replicate alone
		if err == nil {
			err = n.checkReplicateBucket(it)
		}
		if err == nil {
			err = n.checkReplicateLocked(from, term, it)
		}
		if err != nil {
			set(i, false, err)
			continue
		}
		idx, buckets, entries = append(idx, i), append(buckets, it.Bucket), append(entries, it.Entry)
	}
	n.mu.Unlock()
	if len(idx) == 0 {
		return nil
	}
	err := n.persist.AppendAcross(buckets, entries, inline, func() error {
		n.mu.Lock()
		defer n.mu.Unlock()
		for j, i := range idx {
			if err := n.checkReplicateLocked(from, term, &m.Items[i]); err != nil {
				set(i, false, err)
				continue
			}
			set(i, n.store.Apply(buckets[j], entries[j]), nil)
		}
		return nil
	})
	switch {
	case inline && errors.Is(err, wal.ErrWouldWait):
		return transport.ErrWouldBlock
	case err != nil:
		err = storageErr(err)
		for _, i := range idx {
			set(i, false, err)
		}
	}
	return nil
}
