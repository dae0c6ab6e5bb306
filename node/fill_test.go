package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// fillRig is a node that copies buckets over an in-memory network from
// sources whose answers a test scripts.
type fillRig struct {
	t   *testing.T
	n   *Node
	net *transport.Network
	b   int      // the bucket copied
	key []string // keys of bucket b
}

func newFillRig(t *testing.T, keys int) *fillRig {
	t.Helper()
	cfg := DefaultConfig("10.0.0.1:7070")
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &fillRig{t: t, n: n, net: transport.NewNetwork(1)}
	me, err := r.net.Listen(cfg.PeerAddr, n.Stamp, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = me.Close() })
	n.tr.Store(&transportBox{me})
	r.b = shard.BucketOf("k0", cfg.Buckets)
	for i := 0; len(r.key) < keys; i++ {
		if k := fmt.Sprint("k", i); shard.BucketOf(k, cfg.Buckets) == r.b {
			r.key = append(r.key, k)
		}
	}
	return r
}

// source starts a peer at addr that answers Digests with a digest no copy
// has and each Pull with pull's answer; a Summary or Fetch (a catch-up)
// with what a Pull of the whole bucket would return.
func (r *fillRig) source(id shard.NodeID, addr string, pull func(ctx context.Context, p *wire.Pull) (wire.Message, error)) wire.Member {
	r.t.Helper()
	h := transport.HandlerFunc(func(ctx context.Context, req transport.Envelope) (wire.Message, error) {
		switch m := req.Msg.(type) {
		case *wire.Digests:
			return &wire.DigestsResp{Digests: []uint64{1}}, nil
		case *wire.Pull:
			return pull(ctx, m)
		case *wire.Summary, *wire.Fetch:
			whole, err := pull(ctx, &wire.Pull{Bucket: r.b})
			if err != nil {
				return nil, err
			}
			c := whole.(*wire.Chunk)
			if f, ok := m.(*wire.Fetch); ok {
				c.Entries = slices.DeleteFunc(c.Entries, func(e store.Entry) bool { return !slices.Contains(f.Keys, e.Key) })
				return c, nil
			}
			sum := &wire.SummaryResp{}
			for _, e := range c.Entries {
				sum.Entries = append(sum.Entries, store.KeyVersion{Key: e.Key, Version: e.Version, Deleted: e.Deleted})
			}
			return sum, nil
		}
		return nil, wire.ErrBadRequest
	})
	// Term 1: a node holds no version of a term it has not seen.
	tr, err := r.net.Listen(addr, func() (uint64, uint64) { return uint64(id), 1 }, h)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = tr.Close() })
	return wire.Member{ID: id, Peer: addr}
}

// entries returns version-1 entries of keys.
func entries(keys []string) []store.Entry {
	var es []store.Entry
	for _, k := range keys {
		es = append(es, store.Entry{Key: k, Value: []byte("v-" + k), Version: store.Version{Term: 1, Seq: 1}})
	}
	return es
}

// missing returns the keys of bucket b the node does not hold.
func (r *fillRig) missing() []string {
	var out []string
	for _, k := range r.key {
		if _, ok := r.n.store.Get(r.b, k); !ok {
			out = append(out, k)
		}
	}
	return out
}

func (r *fillRig) held() bool {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	return r.n.held[r.b]
}

// await receives from c, or fails the test after a generous deadline.
func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestFailedOldCopyLeavesNoHoleInANewerOne has a copy of a bucket for an
// older epoch hang on its source while the leader sends a newer copy. The
// old copy then fails, which discards what it copied. The newer copy must
// still end with every key of its source: the old one is cancelled and
// waited out before the newer one starts, never failing in its middle.
func TestFailedOldCopyLeavesNoHoleInANewerOne(t *testing.T) {
	r := newFillRig(t, 6)
	ctx := context.Background()

	oldPulled, releaseOld := make(chan struct{}), make(chan struct{})
	oldSrc := r.source(2, "10.0.0.2:7070", func(ctx context.Context, p *wire.Pull) (wire.Message, error) {
		close(oldPulled)
		select {
		case <-releaseOld:
		case <-ctx.Done():
		}
		return nil, fmt.Errorf("%w: source went away", wire.ErrUnavailable)
	})
	secondChunk, releaseNew := make(chan struct{}), make(chan struct{})
	first, second := r.key[:3], r.key[3:]
	newSrc := r.source(3, "10.0.0.3:7070", func(ctx context.Context, p *wire.Pull) (wire.Message, error) {
		if p.After == "" {
			return &wire.Chunk{Entries: entries(first), More: true}, nil
		}
		close(secondChunk)
		select {
		case <-releaseNew:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &wire.Chunk{Entries: entries(second)}, nil
	})

	oldDone := make(chan error, 1)
	go func() {
		oldDone <- r.n.fillBucket(ctx, fillStamp{1, 5}, wire.FillBucket{Bucket: r.b, Fresh: true, Sources: []wire.Member{oldSrc}})
	}()
	await(t, oldPulled, "the old copy's pull")

	newDone := make(chan error, 1)
	go func() {
		newDone <- r.n.fillBucket(ctx, fillStamp{1, 6}, wire.FillBucket{Bucket: r.b, Fresh: true, Sources: []wire.Member{newSrc}})
	}()
	// Either the old copy ends first (cancelled by the newer one), or the
	// newer one gets half way while the old one still hangs. Let the old
	// one fail in both cases, then let the newer one finish.
	var oldErr error
	select {
	case oldErr = <-oldDone:
	case <-secondChunk:
		close(releaseOld)
		oldErr = await(t, oldDone, "the old copy")
	}
	if oldErr == nil {
		t.Fatal("the old copy succeeded; its source only failed")
	}
	await(t, secondChunk, "the newer copy's second chunk")
	close(releaseNew)
	if err := await(t, newDone, "the newer copy"); err != nil {
		t.Fatalf("newer copy: %v", err)
	}
	if m := r.missing(); len(m) > 0 || !r.held() {
		t.Fatalf("after the newer copy: held %v, missing %v of %v", r.held(), m, r.key)
	}
}

// TestStaleFreshCopyDoesNotUndoANewerOne delivers a copy for an older
// epoch after one for a newer epoch has finished. Being fresh, it would
// discard the bucket and re-copy it from sources that no longer count; it
// must be refused and leave the bucket as it is. A copy from a later term
// still runs, whatever its epoch.
func TestStaleFreshCopyDoesNotUndoANewerOne(t *testing.T) {
	r := newFillRig(t, 4)
	ctx := context.Background()
	good := r.source(3, "10.0.0.3:7070", func(ctx context.Context, p *wire.Pull) (wire.Message, error) {
		return &wire.Chunk{Entries: entries(r.key)}, nil
	})
	gone := r.source(2, "10.0.0.2:7070", func(ctx context.Context, p *wire.Pull) (wire.Message, error) {
		return nil, fmt.Errorf("%w: not a holder any more", wire.ErrNotOwner)
	})
	if err := r.n.fillBucket(ctx, fillStamp{1, 6}, wire.FillBucket{Bucket: r.b, Fresh: true, Sources: []wire.Member{good}}); err != nil {
		t.Fatal(err)
	}
	err := r.n.fillBucket(ctx, fillStamp{1, 5}, wire.FillBucket{Bucket: r.b, Fresh: true, Sources: []wire.Member{gone}})
	if !errors.Is(err, wire.ErrStaleEpoch) {
		t.Fatalf("stale copy: got %v, want %v", err, wire.ErrStaleEpoch)
	}
	if m := r.missing(); len(m) > 0 || !r.held() {
		t.Fatalf("after the stale copy: held %v, missing %v", r.held(), m)
	}
	// A new leader may not know of epoch 6; its copy is newer all the same.
	if err := r.n.fillBucket(ctx, fillStamp{2, 4}, wire.FillBucket{Bucket: r.b, Sources: []wire.Member{good}}); err != nil {
		t.Fatalf("copy under a later term: %v", err)
	}
}
