package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Anti-entropy and read-side syncing.
//
// The replica that serves a bucket's reads (its primary, or a backup acting
// for a dead primary under a read-only leader) merges the bucket with its
// reachable co-replicas before it serves the bucket under a new authority:
// a new term, a new assignment, or a read lease regained after lapsing.
// Merging pushes each newest version to every co-replica that lacks it
// before applying it locally, so a value readable at the serving replica is
// on every reachable replica. Every sync interval the primary also compares
// digests with its backups and merges the buckets that differ, and purges
// tombstones that every replica has held for a whole round.

// syncKey is the authority under which a bucket was last merged.
type syncKey struct {
	term, since, leaseGen uint64
}

// repairBatchBytes bounds the entries sent in one Repair.
const repairBatchBytes = 4 << 20

// syncLoop runs anti-entropy every sync interval, and at once after the
// term or the placement changes.
func (n *Node) syncLoop(ctx context.Context) {
	every(ctx, n.cfg.SyncInterval, n.syncKick, func() { n.antiEntropy(ctx) })
}

// kickSync wakes the anti-entropy loop without blocking.
func (n *Node) kickSync() {
	select {
	case n.syncKick <- struct{}{}:
	default:
	}
}

// antiEntropy compares every bucket this node is primary of (or, leading,
// holds) with its co-replicas and merges those that differ, have not been
// merged under the current authority, or hold tombstones (to purge them).
func (n *Node) antiEntropy(ctx context.Context) {
	n.mu.Lock()
	if n.state == nil || !n.recognisedLocked() || !n.el.CanServeReads(time.Now()) {
		n.mu.Unlock()
		return
	}
	auth := n.authorityLocked()
	leading := n.lead != nil
	byPeer := map[shard.NodeID][]int{}
	var mine []int
	primaryOf := map[int]bool{}
	peers := map[shard.NodeID]wire.Member{}
	for b := range n.state.Table.Buckets {
		reps := n.state.Table.Buckets[b]
		primary := len(reps) > 0 && reps[0] == n.cfg.ID
		// The leader also merges the buckets it holds as a backup, which
		// it then reads locally (read.go).
		if !n.held[b] || !primary && !(leading && n.state.Table.Holds(b, n.cfg.ID)) {
			continue
		}
		mine = append(mine, b)
		primaryOf[b] = primary
		for _, id := range reps {
			if id != n.cfg.ID {
				byPeer[id] = append(byPeer[id], b)
				peers[id], _ = memberOf(n.state, id)
			}
		}
	}
	n.mu.Unlock()

	differs := map[int]bool{}
	for id, buckets := range byPeer {
		d, _, err := callFor[wire.DigestsResp](ctx, n, peers[id].Peer, &wire.Digests{Buckets: buckets})
		if err != nil || len(d.Digests) != len(buckets) {
			continue // unreachable peers are skipped; the leader replaces dead ones
		}
		for i, b := range buckets {
			if d.Digests[i] != n.store.Digest(b) {
				differs[b] = true
			}
		}
	}
	for _, b := range mine {
		if ctx.Err() != nil {
			return
		}
		n.mu.Lock()
		synced := n.synced[b] == syncKey{auth.term, n.state.Table.Since[b], auth.leaseGen}
		n.mu.Unlock()
		// Tombstones are purged by the primary's merges only.
		if differs[b] || !synced || primaryOf[b] && n.store.BucketStats(b).Tombstones > 0 {
			if err := n.mergeBucket(ctx, b, false, primaryOf[b]); err != nil {
				n.log.Debug("anti-entropy: bucket not merged", "bucket", b, "err", err)
			}
		}
	}
}

// authority is what a merge is valid under.
type authority struct{ term, leaseGen uint64 }

func (n *Node) authorityLocked() authority {
	return authority{term: n.el.Term(), leaseGen: n.el.LeaseGen()}
}

// ensureSynced merges bucket b before this node serves a read of it, unless
// it was merged under the current authority already.
func (n *Node) ensureSynced(ctx context.Context, b int, acting bool) error {
	n.mu.Lock()
	key := syncKey{n.el.Term(), n.state.Table.Since[b], n.el.LeaseGen()}
	done := n.synced[b] == key
	n.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	if err := n.mergeBucket(ctx, b, acting, false); err != nil {
		return fmt.Errorf("%w: syncing bucket %d before serving it: %v", wire.ErrUnavailable, b, err)
	}
	return nil
}

// mergeBucket brings bucket b up to date with its reachable co-replicas in
// both directions, then records it as merged under the current authority.
// With gc it also purges tombstones that every replica held in the previous
// round too.
func (n *Node) mergeBucket(ctx context.Context, b int, acting, gc bool) error {
	if err := n.syncLocks[b].lock(ctx); err != nil {
		return err
	}
	defer n.syncLocks[b].unlock()
	now := time.Now()
	n.mu.Lock()
	if n.state == nil || !n.assignedLocked(b) || !n.held[b] {
		n.mu.Unlock()
		return fmt.Errorf("%w: bucket %d", wire.ErrNotOwner, b)
	}
	auth := n.authorityLocked()
	since := n.state.Table.Since[b]
	key := syncKey{auth.term, since, auth.leaseGen}
	var peers []wire.Member
	coReplicas := len(n.state.Table.Buckets[b]) - 1
	for _, id := range n.state.Table.Buckets[b] {
		if id != n.cfg.ID && n.el.Health(id, now) != leader.Dead {
			m, _ := memberOf(n.state, id)
			peers = append(peers, m)
		}
	}
	n.mu.Unlock()

	summaries, reached, err := n.summaries(ctx, b, since, peers)
	if err != nil {
		return err
	}
	mine := n.store.Summary(b)
	plan := replication.PlanMerge(mine, summaries)

	fetched, err := n.fetchNewer(ctx, b, since, reached, plan.Fetch)
	if err != nil {
		return err
	}
	entry := func(k string) (store.Entry, bool) {
		if e, ok := fetched[k]; ok {
			return e, true
		}
		return n.store.Get(b, k)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(reached))
	for i, p := range reached {
		var out []store.Entry
		for _, k := range plan.Push[i] {
			if e, ok := entry(k); ok {
				out = append(out, e)
			}
		}
		if len(out) > 0 {
			wg.Go(func() { errs[i] = n.sendRepair(ctx, p, b, since, out) })
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Applied under the same lock hold as a check that the authority the
	// merge began under is still current: once this node has seen a newer
	// term or assignment, nothing of this merge lands (applyReplicate).
	newer := make([]store.Entry, 0, len(fetched))
	for _, e := range fetched {
		newer = append(newer, e)
	}
	if _, err := n.applyChecked(b, newer, func() error {
		if n.state == nil || n.state.Table.Since[b] != since || n.authorityLocked() != auth {
			return fmt.Errorf("%w: the term or the assignment of bucket %d changed during its merge", wire.ErrStaleTerm, b)
		}
		return nil
	}); err != nil {
		return err
	}
	repaired := len(fetched)
	for _, keys := range plan.Push {
		repaired += len(keys)
	}
	n.metrics.repairs.Add(float64(repaired))
	if gc {
		n.purgeTombstones(ctx, b, since, reached, len(reached) == coReplicas, plan.SameTombstones)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != nil && n.state.Table.Since[b] == since && n.authorityLocked() == auth {
		n.synced[b] = key
		n.syncedAll[b] = len(reached) == coReplicas
	}
	return nil
}

// summaries asks each peer for bucket b's key versions; peers that cannot
// be reached are left out, peers that refuse (another assignment) fail the
// merge.
func (n *Node) summaries(ctx context.Context, b int, since uint64, peers []wire.Member) ([][]store.KeyVersion, []wire.Member, error) {
	type answer struct {
		kv  []store.KeyVersion
		err error
	}
	answers := make([]answer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			r, _, err := callFor[wire.SummaryResp](ctx, n, p.Peer, &wire.Summary{Bucket: b, Since: since})
			if err == nil {
				answers[i].kv = r.Entries
			}
			answers[i].err = err
		})
	}
	wg.Wait()
	var out [][]store.KeyVersion
	var reached []wire.Member
	for i, a := range answers {
		switch {
		case a.err == nil:
			out = append(out, a.kv)
			reached = append(reached, peers[i])
		case wire.NoAnswer(a.err):
		default:
			return nil, nil, fmt.Errorf("node %d: %w", peers[i].ID, a.err)
		}
	}
	return out, reached, nil
}

// fetchNewer gets from peers the entries they hold newer than this node's.
func (n *Node) fetchNewer(ctx context.Context, b int, since uint64, peers []wire.Member, keys map[int][]string) (map[string]store.Entry, error) {
	out := map[string]store.Entry{}
	for i, ks := range keys {
		c, _, err := callFor[wire.Chunk](ctx, n, peers[i].Peer, &wire.Fetch{Bucket: b, Since: since, Keys: ks})
		if err != nil {
			return nil, fmt.Errorf("fetching from node %d: %w", peers[i].ID, err)
		}
		for _, e := range c.Entries {
			if shard.BucketOf(e.Key, n.cfg.Buckets) != b {
				return nil, fmt.Errorf("%w: key of another bucket in bucket %d", wire.ErrBadFrame, b)
			}
			if cur, ok := out[e.Key]; !ok || e.Version.Compare(cur.Version) > 0 {
				out[e.Key] = e
			}
		}
	}
	return out, nil
}

// sendRepair pushes entries to a co-replica in batches.
func (n *Node) sendRepair(ctx context.Context, p wire.Member, b int, since uint64, entries []store.Entry) error {
	for len(entries) > 0 {
		size, i := 0, 0
		for i < len(entries) && (i == 0 || size < repairBatchBytes) {
			size += len(entries[i].Key) + len(entries[i].Value)
			i++
		}
		if _, err := n.call(ctx, p.Peer, &wire.Repair{Bucket: b, Since: since, Entries: entries[:i]}); err != nil {
			return fmt.Errorf("repairing node %d: %w", p.ID, err)
		}
		entries = entries[i:]
	}
	return nil
}

// purgeTombstones removes, on every replica, the tombstones that all of
// them have held at one version for at least a sync interval (and twice the
// call timeout, so that no delayed write older than the delete is still in
// flight). It does nothing unless every co-replica in the table was reached.
func (n *Node) purgeTombstones(ctx context.Context, b int, since uint64, peers []wire.Member, allReached bool, same []store.KeyVersion) {
	wait := max(n.cfg.SyncInterval, 2*n.cfg.CallTimeout)
	n.mu.Lock()
	var purge []store.KeyVersion
	n.tombstones[b], purge = replication.PurgeDecision(n.tombstones[b], same, time.Now(), wait, allReached)
	n.mu.Unlock()
	if len(purge) == 0 {
		return
	}
	for _, p := range peers {
		if _, err := n.call(ctx, p.Peer, &wire.Purge{Bucket: b, Since: since, Keys: purge}); err != nil {
			return // try again next round; a leftover tombstone is harmless
		}
	}
	for _, kv := range purge {
		if purged, err := n.purgeTombstone(b, kv.Key, kv.Version); err != nil {
			return // the disk refused: next round; a leftover tombstone is harmless
		} else if purged {
			n.metrics.purges.Inc()
		}
	}
}

// checkCoReplica validates a sync request for bucket b from a co-replica
// planned under since.
func (n *Node) checkCoReplicaLocked(from shard.NodeID, b int, since uint64) error {
	switch {
	case b < 0 || b >= n.cfg.Buckets:
		return fmt.Errorf("%w: bucket %d out of range", wire.ErrBadRequest, b)

	case n.state == nil || !n.assignedLocked(b) || !n.held[b]:
		return fmt.Errorf("%w: bucket %d", wire.ErrNotOwner, b)
	case n.state.Table.Since[b] != since:
		return fmt.Errorf("%w: bucket %d assigned at epoch %d here, %d in the request", wire.ErrStaleEpoch, b, n.state.Table.Since[b], since)
	case from != 0 && !n.state.Table.Holds(b, from):
		return fmt.Errorf("%w: node %d does not hold bucket %d", wire.ErrRefused, from, b)
	}
	return nil
}

// checkSyncReadLocked validates a Summary or Fetch: from a co-replica
// (anti-entropy), or, with Since fillRead, from a node filling the bucket,
// answered as a Pull is: this node must hold the bucket.
func (n *Node) checkSyncReadLocked(from shard.NodeID, b int, since uint64) error {
	if since != fillRead {
		return n.checkCoReplicaLocked(from, b, since)
	}
	if b < 0 || b >= n.cfg.Buckets || !n.held[b] {
		return fmt.Errorf("%w: bucket %d", wire.ErrNotOwner, b)
	}
	return nil
}

// onSummary returns this replica's key versions of a bucket.
func (n *Node) onSummary(from shard.NodeID, m *wire.Summary) (wire.Message, error) {
	n.mu.Lock()
	err := n.checkSyncReadLocked(from, m.Bucket, m.Since)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &wire.SummaryResp{Digest: n.store.Digest(m.Bucket), Entries: n.store.Summary(m.Bucket)}, nil
}

// onFetch returns some entries of a bucket.
func (n *Node) onFetch(from shard.NodeID, m *wire.Fetch) (wire.Message, error) {
	n.mu.Lock()
	err := n.checkSyncReadLocked(from, m.Bucket, m.Since)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make([]store.Entry, 0, len(m.Keys))
	for _, k := range m.Keys {
		if e, ok := n.store.Get(m.Bucket, k); ok {
			out = append(out, e)
		}
	}
	return &wire.Chunk{Entries: out}, nil
}

// onRepair applies entries a co-replica found this one lacking, in the
// same lock hold as the check of the sender's term (as applyReplicate
// does), so a repair of an older term never lands after a newer term's
// merge has read this copy.
func (n *Node) onRepair(from shard.NodeID, term uint64, m *wire.Repair) (wire.Message, error) {
	for _, e := range m.Entries {
		if shard.BucketOf(e.Key, n.cfg.Buckets) != m.Bucket {
			return nil, fmt.Errorf("%w: key not in bucket %d", wire.ErrBadRequest, m.Bucket)
		}
	}
	_, err := n.applyChecked(m.Bucket, m.Entries, func() error {
		if err := n.checkCoReplicaLocked(from, m.Bucket, m.Since); err != nil {
			return err
		}
		if err := replication.FenceWrite(n.replicaViewLocked(m.Bucket), term, m.Since, m.Entries...); err != nil {
			return fmt.Errorf("repair of bucket %d: %w", m.Bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.OK{}, nil
}

// onPurge removes tombstones every replica holds.
func (n *Node) onPurge(from shard.NodeID, term uint64, m *wire.Purge) (wire.Message, error) {
	n.mu.Lock()
	err := n.checkCoReplicaLocked(from, m.Bucket, m.Since)
	if err == nil && term < n.el.Term() {
		err = fmt.Errorf("%w: purge from term %d, this node is at %d", wire.ErrStaleTerm, term, n.el.Term())
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, kv := range m.Keys {
		if _, err := n.purgeTombstone(m.Bucket, kv.Key, kv.Version); err != nil {
			return nil, err
		}
	}
	return &wire.OK{}, nil
}
