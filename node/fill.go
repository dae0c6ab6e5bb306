package node

import (
	"context"
	"fmt"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// pullChunkBytes is the size of the chunks a bucket is copied in.
const pullChunkBytes = 1 << 20

// fillParallel is how many buckets a node copies at once.
const fillParallel = 4

// onFill copies buckets this node is about to hold, as the leader asks.
func (n *Node) onFill(ctx context.Context, from shard.NodeID, term uint64, f *wire.Fill) (wire.Message, error) {
	n.mu.Lock()
	err := n.checkLeaderLocked(from, term)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := n.fill(ctx, fillStamp{term, f.Epoch}, f.Buckets); err != nil {
		return nil, err
	}
	return &wire.OK{}, nil
}

// fillStamp orders copies of a bucket: the leader's term, then the
// placement epoch the copy is for.
type fillStamp struct{ term, epoch uint64 }

func (s fillStamp) before(o fillStamp) bool {
	return s.term < o.term || s.term == o.term && s.epoch < o.epoch
}

// fillRun is a copy of one bucket in progress.
type fillRun struct {
	stamp  fillStamp
	cancel context.CancelFunc
	done   chan struct{} // closed once the copy is over, clean-up included
}

// fill copies each bucket from its sources, merging by version, and marks
// it held. A fresh bucket's local leftovers are discarded first.
func (n *Node) fill(ctx context.Context, stamp fillStamp, items []wire.FillBucket) error {
	sem := make(chan struct{}, fillParallel)
	errs := make(chan error, len(items))
	for _, it := range items {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- n.fillBucket(ctx, stamp, it)
		}()
	}
	var first error
	for range items {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// fillBucket copies one bucket. Copies of a bucket run one at a time, so
// that one failing never discards what another has copied so far.
func (n *Node) fillBucket(ctx context.Context, stamp fillStamp, it wire.FillBucket) error {
	b := it.Bucket
	if b < 0 || b >= n.cfg.Buckets {
		return fmt.Errorf("%w: bucket %d out of range", wire.ErrBadRequest, b)
	}
	ctx, run, err := n.startFill(ctx, b, stamp)
	if err != nil {
		return err
	}
	defer n.endFill(b, run)
	n.mu.Lock()
	n.fillEpoch[b] = max(n.fillEpoch[b], stamp.epoch)
	if it.Fresh {
		n.store.Drop(b)
		n.held[b] = false
	}
	n.mu.Unlock()
	for _, src := range it.Sources {
		if src.ID == n.cfg.ID {
			continue
		}
		if err := n.pullBucket(ctx, b, src); err != nil {
			n.mu.Lock()
			if !n.held[b] {
				n.store.Drop(b) // a half-copied bucket this node does not hold: forget it
			}
			n.mu.Unlock()
			return fmt.Errorf("bucket %d from node %d: %w", b, src.ID, err)
		}
	}
	n.mu.Lock()
	n.held[b] = true
	n.mu.Unlock()
	return nil
}

// startFill makes a copy of bucket b for stamp the only one in progress.
// A copy for an earlier stamp is cancelled and waited out, one for the
// same stamp (a retry) waited out; a copy is refused once one for a later
// stamp has started, which it would otherwise undo. The context returned
// ends when a later copy cancels this one.
func (n *Node) startFill(ctx context.Context, b int, stamp fillStamp) (context.Context, *fillRun, error) {
	for {
		n.mu.Lock()
		if latest := n.fillLatest[b]; stamp.before(latest) {
			n.mu.Unlock()
			return nil, nil, fmt.Errorf("%w: bucket %d is copied for term %d epoch %d, this copy is for term %d epoch %d",
				wire.ErrStaleEpoch, b, latest.term, latest.epoch, stamp.term, stamp.epoch)
		}
		n.fillLatest[b] = stamp
		cur := n.fills[b]
		if cur == nil {
			fctx, cancel := context.WithCancel(ctx)
			run := &fillRun{stamp: stamp, cancel: cancel, done: make(chan struct{})}
			n.fills[b] = run
			n.mu.Unlock()
			return fctx, run, nil
		}
		if cur.stamp.before(stamp) {
			cur.cancel()
		}
		n.mu.Unlock()
		select {
		case <-cur.done:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: waiting for another copy of bucket %d: %v", wire.ErrUnavailable, b, ctx.Err())
		}
	}
}

// endFill ends run, the copy of bucket b startFill began.
func (n *Node) endFill(b int, run *fillRun) {
	run.cancel()
	n.mu.Lock()
	n.fills[b] = nil
	n.mu.Unlock()
	close(run.done)
}

// pullBucket merges src's copy of bucket b into this node's, unless their
// digests already agree.
func (n *Node) pullBucket(ctx context.Context, b int, src wire.Member) error {
	d, _, err := callFor[wire.DigestsResp](ctx, n, src.Peer, &wire.Digests{Buckets: []int{b}})
	if err != nil {
		return err
	}
	if len(d.Digests) == 1 && d.Digests[0] == n.store.Digest(b) {
		return nil
	}
	after := ""
	for {
		c, _, err := callFor[wire.Chunk](ctx, n, src.Peer, &wire.Pull{Bucket: b, After: after, MaxBytes: pullChunkBytes, Incarnation: src.Incarnation})
		if err != nil {
			return err
		}
		for _, e := range c.Entries {
			if shard.BucketOf(e.Key, n.cfg.Buckets) != b {
				return fmt.Errorf("%w: key of another bucket in bucket %d", wire.ErrBadFrame, b)
			}
			n.store.Apply(b, e)
		}
		if !c.More || len(c.Entries) == 0 {
			return nil
		}
		after = c.Entries[len(c.Entries)-1].Key
	}
}

// onPull serves a chunk of a bucket this process holds.
func (n *Node) onPull(p *wire.Pull) (wire.Message, error) {
	if p.Bucket < 0 || p.Bucket >= n.cfg.Buckets {
		return nil, fmt.Errorf("%w: bucket %d out of range", wire.ErrBadRequest, p.Bucket)
	}
	n.mu.Lock()
	held := n.held[p.Bucket]
	n.mu.Unlock()
	switch {
	case p.Incarnation != n.cfg.Incarnation:
		return nil, fmt.Errorf("%w: node restarted (incarnation %d, asked for %d)", wire.ErrNotOwner, n.cfg.Incarnation, p.Incarnation)
	case !held:
		return nil, fmt.Errorf("%w: bucket %d", wire.ErrNotOwner, p.Bucket)
	}
	maxBytes := p.MaxBytes
	if maxBytes <= 0 || maxBytes > pullChunkBytes {
		maxBytes = pullChunkBytes
	}
	entries, more := n.store.Range(p.Bucket, p.After, maxBytes)
	return &wire.Chunk{Entries: entries, More: more}, nil
}

// onDigests returns the digests of the asked buckets (0 for those out of
// range or empty).
func (n *Node) onDigests(d *wire.Digests) *wire.DigestsResp {
	out := make([]uint64, len(d.Buckets))
	for i, b := range d.Buckets {
		if b >= 0 && b < n.cfg.Buckets {
			out[i] = n.store.Digest(b)
		}
	}
	return &wire.DigestsResp{Digests: out}
}
