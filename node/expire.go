package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Expiry. The leader stamps an absolute expiry on a write (ttl from its own
// clock, replication.Result); reads refuse a value past it by the reading
// node's clock (read.go argues the bound). Expired values are then deleted
// as ordinary versioned tombstones, so that replicas, anti-entropy, watchers
// and the durable log all agree: each bucket's primary looks, every
// expireEvery, for its values past their expiry (the store keeps an index
// of the keys that have one, so buckets with nothing due cost a
// comparison, and keys without a ttl nothing) and sends each a delete of
// exactly that version through the leader, like any write. A key written
// again meanwhile has another version: the delete then fails its
// condition and changes nothing, so each expiry is one tombstone and one
// "expire" event. This is Redis's approach minus the sampling: the index
// holds only keys that expire.

// expireEvery is how often a primary looks for expired values.
const expireEvery = 100 * time.Millisecond

// expireBatch bounds the values one bucket gives per look, and
// expireParallel the deletes in flight at once.
const (
	expireBatch    = 256
	expireParallel = 16
)

// expireLoop deletes the expired values of the buckets this node serves as
// primary, until ctx ends.
func (n *Node) expireLoop(ctx context.Context) {
	every(ctx, expireEvery, nil, func() { n.expireOnce(ctx) })
}

// expireOnce sends a delete for every value due in the buckets this node is
// primary of, and waits for them.
func (n *Node) expireOnce(ctx context.Context) {
	now := time.Now()
	n.mu.Lock()
	var mine []int
	if n.state != nil && n.recognisedLocked() && n.el.CanServeReads(now) {
		for b := range n.state.Table.Buckets {
			if n.held[b] && n.state.Table.Primary(b) == n.cfg.ID {
				mine = append(mine, b)
			}
		}
	}
	n.mu.Unlock()
	sem := make(chan struct{}, expireParallel)
	var wg sync.WaitGroup
	for _, b := range mine {
		for _, kv := range n.store.Expired(b, now.UnixMilli(), expireBatch) {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				n.expire(ctx, kv)
			})
		}
	}
	wg.Wait()
}

// expire deletes one expired value, at exactly its version.
func (n *Node) expire(ctx context.Context, kv store.KeyVersion) {
	v := kv.Version
	_, err := n.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: kv.Key, IfMatch: &v, Expiring: true})
	switch {
	case err == nil:
		n.metrics.expired.Inc()
	case errors.Is(err, wire.ErrPrecondition), errors.Is(err, wire.ErrNotFound):
		// Written again, or deleted, meanwhile: nothing to expire.
	default:
		n.log.Debug("expiry: delete not done; the next look retries", "key", kv.Key, "err", err)
	}
}
