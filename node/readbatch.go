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
	"github.com/jumpkv/jumpkv/wire"
)

// GetResult is one key's answer from GetMany: what Get would return.
type GetResult struct {
	Entry store.Entry
	Err   error
}

// GetMany reads keys, each as Get would (the same checks, the same routes,
// the same errors), and returns their results in the same order. Reads
// this node answers from its own copy are answered at once; reads of keys
// whose primary is another node that serves wire.ReadBatch share one frame
// per such node, sent to all of them at once. A read a batch does not
// settle (no answer, the primary's lease being renewed, a changed
// assignment) is done again alone, as Get. The reads are not ordered among
// themselves: each is linearizable on its own, as concurrent Gets are.
func (n *Node) GetMany(_ context.Context, keys []string) []GetResult {
	res := make([]GetResult, len(keys))
	plans := make([]readPlan, len(keys))
	buckets := make([]int, len(keys))
	const (
		unplanned = iota // Get says why
		planned
		batched // planned, to the primary in a batch
	)
	how := make([]uint8, len(keys))
	now := time.Now()
	var toNode map[string][]int // by primary address: the keys to read there in a batch
	n.mu.Lock()
	for i, key := range keys {
		if res[i].Err = n.checkKey(key); res[i].Err != nil {
			continue
		}
		buckets[i] = shard.BucketOf(key, n.cfg.Buckets)
		p, err := n.planReadLocked(now, buckets[i], false)
		if err != nil {
			continue
		}
		plans[i], how[i] = p, planned
		if p.route == routeRemotePrimary && n.peerStats[p.primary].reads {
			if toNode == nil {
				toNode = map[string][]int{}
			}
			toNode[p.addr] = append(toNode[p.addr], i)
			how[i] = batched
		}
	}
	n.mu.Unlock()

	var alone []int // the reads to do as Get
	answered := make([]bool, len(keys))
	for i := range keys {
		switch {
		case res[i].Err != nil:
		case how[i] == unplanned:
			alone = append(alone, i)
		default:
			if e, found, ok := n.readLocalCopy(&plans[i], buckets[i], keys[i]); ok {
				res[i].Entry, res[i].Err = liveEntry(keys[i], e, found)
				answered[i] = true
			} else if how[i] != batched {
				alone = append(alone, i)
			}
		}
	}
	// As Get, the peer calls are bounded by CallTimeout, not by the client.
	ctx := n.deadlines.get(now)
	var (
		wg      sync.WaitGroup
		retryMu sync.Mutex
	)
	for addr, idx := range toNode {
		idx = slices.DeleteFunc(idx, func(i int) bool { return answered[i] })
		if len(idx) < 2 {
			alone = append(alone, idx...) // a batch of one saves nothing
			delete(toNode, addr)
		} else {
			toNode[addr] = idx
		}
	}
	// One batch is sent from this goroutine, whose stack has grown already
	// (a new goroutine's would grow again); the others beside it.
	var here func()
	for addr, idx := range toNode {
		send := func() {
			retry := n.readBatchAt(ctx, addr, idx, keys, buckets, plans, res)
			retryMu.Lock()
			alone = append(alone, retry...)
			retryMu.Unlock()
		}
		if here == nil {
			here = send
		} else {
			wg.Go(send)
		}
	}
	if here != nil {
		here()
	}
	wg.Wait()
	for _, i := range alone {
		res[i].Entry, res[i].Err = n.Get(ctx, keys[i])
	}
	return res
}

// readBatchAt reads keys idx from their primary at addr in ReadBatches
// (one for up to maxBatchItems keys), setting their results, and returns
// those the batches did not settle.
func (n *Node) readBatchAt(ctx context.Context, addr string, idx []int, keys []string, buckets []int, plans []readPlan, res []GetResult) (retry []int) {
	for len(idx) > maxBatchItems {
		retry = append(retry, n.readBatchAt(ctx, addr, idx[:maxBatchItems], keys, buckets, plans, res)...)
		idx = idx[maxBatchItems:]
	}
	msg := &wire.ReadBatch{Reads: make([]wire.Read, len(idx))}
	for j, i := range idx {
		msg.Reads[j] = wire.Read{Bucket: buckets[i], Since: plans[i].since, Key: keys[i]}
	}
	n.metrics.readBatches.Add(1)
	n.metrics.readBatched.Add(uint64(len(idx)))
	answer, _, err := callFor[wire.ReadBatchResp](ctx, n, addr, msg)
	if err == nil && len(answer.Results) != len(idx) {
		err = fmt.Errorf("%w: %d answers to a batch of %d reads", wire.ErrBadRequest, len(answer.Results), len(idx))
	}
	if err != nil {
		return append(retry, idx...)
	}
	for j, i := range idx {
		r := &answer.Results[j]
		if r.Code != "" {
			retry = append(retry, i)
			continue
		}
		res[i].Entry, res[i].Err = liveEntry(keys[i], r.Entry, r.Found)
	}
	return retry
}

// onReadBatch serves a batch of reads as primary, each as onRead serves a
// plain Read, its key checked as the door checks a Read's: one refused
// read does not refuse the others. On a connection's reader (inline) it
// declines the whole batch (transport.ErrWouldBlock) if any read would
// wait for a merge; reads change nothing, so the batch is served again in
// full off the reader.
func (n *Node) onReadBatch(ctx context.Context, from shard.NodeID, term uint64, m *wire.ReadBatch) (wire.Message, error) {
	results := make([]wire.ReadResult, len(m.Reads))
	for i := range m.Reads {
		r := &m.Reads[i]
		err := n.checkKey(r.Key)
		if err == nil && shard.BucketOf(r.Key, n.cfg.Buckets) != r.Bucket {
			err = fmt.Errorf("%w: key not in bucket %d", wire.ErrBadRequest, r.Bucket)
		}
		var e store.Entry
		var found bool
		if err == nil {
			e, found, err = n.readPrimary(ctx, from, term, r.Bucket, r.Since, r.Key, false)
		}
		switch {
		case errors.Is(err, transport.ErrWouldBlock):
			return nil, err
		case err != nil:
			results[i] = wire.ReadResult{Code: wire.CodeOf(err), Message: err.Error()}
		default:
			results[i] = wire.ReadResult{Found: found, Entry: e}
		}
	}
	return &wire.ReadBatchResp{Results: results}, nil
}
