package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// Batched replication: the leader's writes to one replica share
// wire.ReplicateBatch frames (batcher.go says how and why).

// batchAlone is the key and value bytes from which a write goes to its
// replicas alone rather than in a batch.
const batchAlone = 16 << 10

// replItem is one write waiting for, or carried by, a batch to a replica.
type replItem = batchItem[wire.Replicate]

// replBatcher queues the writes for one replica.
type replBatcher = batcher[wire.Replicate, *wire.Replicate]

// replBatchers holds a batcher per replica.
type replBatchers = batchers[wire.Replicate, *wire.Replicate]

// sendFunc sends a batch of writes to the replica and sets each one's err.
type sendFunc = batchSend[wire.Replicate]

// sendReplicas sends a batch of writes to the replica at addr: a
// Replicate when it holds one write, else a ReplicateBatch, under the
// latest of its writes' deadlines (each writer stops waiting at its own).
func (n *Node) sendReplicas(addr string, batch []*replItem) {
	ctx, cancel := batchContext(batch)
	defer cancel()
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
