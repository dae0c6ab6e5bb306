package node

import (
	"context"
	"fmt"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
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
	// A fresh copy does not count on what this node has. Data it recovered
	// from disk is kept and made equal to the first source's (copying only
	// what differs); anything else is discarded first.
	exact := it.Fresh && n.keepLeftoverLocked(b)
	if it.Fresh {
		if !exact {
			n.store.Drop(b)
		}
		n.held[b] = false
	}
	n.mu.Unlock()
	for _, src := range it.Sources {
		if src.ID == n.cfg.ID {
			continue
		}
		if err := n.syncFrom(ctx, b, src, exact); err != nil {
			n.mu.Lock()
			if !n.held[b] && !n.leftover[b] {
				n.store.Drop(b) // a half-copied bucket this node does not hold: forget it
			}
			n.mu.Unlock()
			return fmt.Errorf("bucket %d from node %d: %w", b, src.ID, err)
		}
		exact = false // later sources only add what is newer
	}
	if err := n.markHeld(b); err != nil {
		return fmt.Errorf("bucket %d: %w", b, err)
	}
	n.mu.Lock()
	n.held[b] = true
	n.leftover[b] = false
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

// syncFrom merges src's copy of bucket b into this node's, unless their
// digests already agree. An empty copy is pulled whole; otherwise only the
// keys src holds at a newer version are fetched (catch-up), and with exact
// the keys src no longer holds are removed here too (their tombstones may
// have been purged while this copy was away: keeping them would bring
// deleted keys back).
func (n *Node) syncFrom(ctx context.Context, b int, src wire.Member, exact bool) error {
	d, _, err := callFor[wire.DigestsResp](ctx, n, src.Peer, &wire.Digests{Buckets: []int{b}})
	if err != nil {
		return err
	}
	if len(d.Digests) == 1 && d.Digests[0] == n.store.Digest(b) {
		return nil
	}
	if n.store.BucketStats(b) == (store.Stats{}) {
		return n.pullBucket(ctx, b, src)
	}
	return n.catchUp(ctx, b, src, exact)
}

// catchUp makes this node's copy of bucket b hold every version src holds,
// comparing key versions (src's summary) and fetching only what is newer
// there; with exact it also removes what src does not hold. When most of
// the bucket differs it pulls the bucket instead.
func (n *Node) catchUp(ctx context.Context, b int, src wire.Member, exact bool) error {
	sum, _, err := callFor[wire.SummaryResp](ctx, n, src.Peer, &wire.Summary{Bucket: b, Since: fillRead})
	if err != nil {
		return err
	}
	copied := 0
	theirs := make(map[string]store.Version, len(sum.Entries))
	for _, kv := range sum.Entries {
		theirs[kv.Key] = kv.Version
		copied += len(kv.Key) + 17
	}
	var need []string
	for _, kv := range n.store.Summary(b) {
		v, ok := theirs[kv.Key]
		switch {
		case !ok && exact:
			if err := n.forget(b, kv.Key, kv.Version); err != nil {
				return err
			}
		case ok && v.Compare(kv.Version) > 0:
			need = append(need, kv.Key)
		}
		delete(theirs, kv.Key)
	}
	for k := range theirs {
		need = append(need, k)
	}
	n.metrics.catchUpBytes.Add(float64(copied))
	if len(need) > len(sum.Entries)/2 {
		return n.pullBucket(ctx, b, src)
	}
	batch := max(1, n.cfg.MaxFrame()/2/(n.cfg.MaxValue+n.cfg.MaxKey))
	for len(need) > 0 {
		keys := need[:min(batch, len(need))]
		need = need[len(keys):]
		c, _, err := callFor[wire.Chunk](ctx, n, src.Peer, &wire.Fetch{Bucket: b, Since: fillRead, Keys: keys})
		if err != nil {
			return err
		}
		if err := n.checkCopied(b, c.Entries); err != nil {
			return err
		}
		if err := n.applyCopied(b, c.Entries); err != nil {
			return err
		}
		n.metrics.catchUpBytes.Add(float64(entryBytes(c.Entries)))
	}
	return nil
}

// fillRead is the Since of a Summary or Fetch sent by a node filling a
// bucket: no assignment epoch is 0, and a holder answers it as it answers
// a Pull.
const fillRead = 0

// checkCopied refuses entries of another bucket.
func (n *Node) checkCopied(b int, es []store.Entry) error {
	for _, e := range es {
		if shard.BucketOf(e.Key, n.cfg.Buckets) != b {
			return fmt.Errorf("%w: key of another bucket in bucket %d", wire.ErrBadFrame, b)
		}
	}
	return nil
}

func entryBytes(es []store.Entry) int {
	total := 0
	for _, e := range es {
		total += len(e.Key) + len(e.Value) + len(e.ContentType) + 17
	}
	return total
}

// pullBucket merges src's whole copy of bucket b into this node's, chunk
// by chunk.
func (n *Node) pullBucket(ctx context.Context, b int, src wire.Member) error {
	after := ""
	for {
		c, _, err := callFor[wire.Chunk](ctx, n, src.Peer, &wire.Pull{Bucket: b, After: after, MaxBytes: pullChunkBytes, Incarnation: src.Incarnation})
		if err != nil {
			return err
		}
		if err := n.checkCopied(b, c.Entries); err != nil {
			return err
		}
		if err := n.applyCopied(b, c.Entries); err != nil {
			return err
		}
		n.metrics.catchUpBytes.Add(float64(entryBytes(c.Entries)))
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
