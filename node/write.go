package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// Write carries out a client write and returns the key's new version. A
// node that does not lead forwards it to the leader. Errors wrap the wire
// sentinels: ErrUnknownOutcome when the write may or may not have taken
// effect, ErrNoLeader/ErrReadOnly/ErrUnavailable when it surely did not.
//
// While leadership changes hands (ErrNoLeader: none known yet, the leader
// resigned, the new one still taking over), the write is held and tried
// again rather than refused, for up to CallTimeout: a hand-over to a
// higher node costs writers latency, not refusals. It was surely not
// performed, so trying it again is safe.
func (n *Node) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	if err := n.checkOp(&op); err != nil {
		return store.Version{}, err
	}
	holdUntil := time.Now().Add(n.cfg.CallTimeout)
	var hold *time.Timer // made on the first refusal: most writes need none
	for {
		v, err := n.writeOnce(ctx, op)
		if !errors.Is(err, wire.ErrNoLeader) {
			return v, err
		}
		if hold == nil {
			hold = time.NewTimer(time.Until(holdUntil))
			defer hold.Stop()
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-hold.C:
			return v, err
		case <-time.After(n.cfg.Election.HeartbeatInterval / 4):
		}
	}
}

// writeOnce is one attempt of Write.
func (n *Node) writeOnce(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	n.mu.Lock()
	leading := n.lead != nil
	addr := n.memberAddrLocked(n.el.Leader())
	n.mu.Unlock()
	if leading {
		return n.leaderWrite(ctx, op)
	}
	if addr == "" {
		return store.Version{}, wire.ErrNoLeader
	}
	start := time.Now()
	defer func() { n.metrics.forward.Observe(time.Since(start).Seconds()) }()
	ctx, cancel := n.forwardCtx(ctx)
	defer cancel()
	v, err := n.forwardAlone(ctx, addr, op)
	return v, forwardErr(err)
}

func (n *Node) writeTimeout() time.Duration { return n.cfg.CallTimeout }

// maxTTL bounds a write's expiry: a hundred years from now.
const maxTTL = 100 * 365 * 24 * time.Hour

// checkOp validates a write before any work is done for it.
func (n *Node) checkOp(op *wire.WriteOp) error {
	if err := n.checkKey(op.Key); err != nil {
		return err
	}
	switch op.Kind {
	case wire.WritePut, wire.WriteCreate, wire.WriteAppend, wire.WriteDelete, wire.WriteExpire:
	default:
		return fmt.Errorf("%w: unknown write kind %d", wire.ErrBadRequest, op.Kind)
	}
	switch {
	case op.TTL < 0 || op.TTL > maxTTL.Milliseconds():
		return fmt.Errorf("%w: ttl %dms: want up to %v", wire.ErrBadRequest, op.TTL, maxTTL)
	case op.ExpireAt < 0 || op.ExpireAt > 0 && op.ExpireAt > time.Now().Add(maxTTL).UnixMilli():
		return fmt.Errorf("%w: expiry at %dms since 1970: want within %v", wire.ErrBadRequest, op.ExpireAt, maxTTL)
	case op.Expiring && (op.Kind != wire.WriteDelete || op.IfMatch == nil):
		return fmt.Errorf("%w: an expiring write is a delete of one version", wire.ErrBadRequest)
	}
	if op.IfMatch != nil && op.IfMatch.IsZero() {
		// No value ever has version 0.0, so the condition fails; it must not
		// reach the wire, where a zero version means no condition.
		return fmt.Errorf("%w: no value has version %s", wire.ErrPrecondition, op.IfMatch)
	}
	if len(op.Value) > n.cfg.MaxValue {
		return fmt.Errorf("%w: %d bytes, the limit is %d", wire.ErrTooLarge, len(op.Value), n.cfg.MaxValue)
	}
	return nil
}

// checkKey validates a key: 1 to MaxKey bytes.
func (n *Node) checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", wire.ErrBadRequest)
	case len(key) > n.cfg.MaxKey:
		return fmt.Errorf("%w: %d bytes, the limit is %d", wire.ErrKeyTooLong, len(key), n.cfg.MaxKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: the key is not valid UTF-8 (keys are returned as JSON strings)", wire.ErrBadRequest)
	}
	return nil
}

// onForward executes, as leader, a write a follower received.
func (n *Node) onForward(ctx context.Context, f *wire.Forward) (wire.Message, error) {
	if err := n.checkOp(&f.Op); err != nil {
		return nil, err
	}
	n.mu.Lock()
	leading := n.lead != nil
	n.mu.Unlock()
	if !leading {
		return nil, wire.ErrNotLeader
	}
	v, err := n.leaderWrite(ctx, f.Op)
	if err != nil {
		return nil, err
	}
	return &wire.WriteResult{Version: v}, nil
}

// route is where a leader sends a write of one bucket.
type route struct {
	lead     *leaderState // counts the write in flight until it ends
	term     uint64
	stream   *leaderStream
	version  store.Version
	now      time.Time // when the write was routed: the instant a ttl counts from
	since    uint64
	replicas []wire.Member // primary first
	batches  []bool        // whether each replica takes wire.ReplicateBatch
	full     shard.NodeID  // a replica that holds its --max-memory (0: none)
}

// leaderWrite executes a write as leader. Writes of one key run one at a
// time (a striped lock), so conditions see the latest version and
// versions follow the order writes take effect.
func (n *Node) leaderWrite(ctx context.Context, op wire.WriteOp) (_ store.Version, err error) {
	// Once begun, a write runs to its end or its timeout even if the client
	// goes away: stopping half-way only makes its outcome unknown. (This
	// also spares registering with the request's context on every write.)
	ctx = n.deadlines.get(time.Now())
	b := shard.BucketOf(op.Key, n.cfg.Buckets)
	stripe := n.stripeOf(op.Key)
	kl := n.keyLocks[stripe]
	if err := kl.lock(ctx); err != nil {
		return store.Version{}, err
	}
	defer kl.unlock()
	if err := n.gates[b].enter(ctx); err != nil {
		return store.Version{}, err
	}
	defer n.gates[b].leave()

	r, err := n.routeWrite(b)
	if err != nil {
		return store.Version{}, err
	}
	defer r.lead.inflight.Add(-1)
	// From here replicas may change: local reads of the key's stripe stay
	// off until it ends, and of the key itself while its replicas may
	// disagree (doubt.go).
	n.writing.begin(stripe)
	defer func() {
		n.settleDoubt(r.term, op.Key, err)
		n.writing.end(stripe)
	}()
	var cur store.Entry
	var found bool
	if replication.NeedsCurrent(op) {
		if cur, found, err = n.readForWrite(ctx, b, r, op.Key); err != nil {
			return store.Version{}, err
		}
	}
	e, err := replication.Result(op, cur, found, r.now.UnixMilli(), n.cfg.MaxValue)
	if err != nil {
		return store.Version{}, err
	}
	if r.full != 0 && grows(e, cur, found) {
		// Refused before any replica applies: nothing is left behind.
		n.metrics.refusedFull.Inc()
		return store.Version{}, fmt.Errorf("%w: node %d holds its --max-memory; deletes and shrinking writes go on",
			wire.ErrInsufficientStorage, r.full)
	}
	e.Version = r.version
	start := time.Now()
	err = n.replicate(ctx, b, r, e)
	n.metrics.replication.Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, wire.ErrUnknownOutcome) && !kv.IsInternal(op.Key) {
			// The write may take effect later, unseen by the stream:
			// watchers must re-read.
			n.publishChange(r.stream, wire.Event{Reset: true})
		}
		return store.Version{}, err
	}
	ev := changeEvent(e)
	ev.Expired = op.Expiring
	n.publishChange(r.stream, ev)
	return e.Version, nil
}

// settleDoubt records how a leader write of key under term ended (err):
// a key whose replicas may now disagree is in doubt (doubt.go) until a
// later write of it succeeds.
func (n *Node) settleDoubt(term uint64, key string, err error) {
	switch {
	case errors.Is(err, wire.ErrPrecondition) || errors.Is(err, wire.ErrExists) ||
		errors.Is(err, wire.ErrNotFound) || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrInsufficientStorage):
		// Refused after reading: no replica changed but to complete an
		// earlier write, which reached them all.
	case err != nil:
		// Under the newest term known, should this write of an earlier
		// one end after this node took over again.
		n.doubt.mark(max(term, n.el.Term()), key)
	default:
		n.doubt.clear(term, key)
	}
}

// changeEvent is the change stream's event for an applied entry.
func changeEvent(e store.Entry) wire.Event {
	ev := wire.Event{Key: e.Key, Version: e.Version, Deleted: e.Deleted}
	if !e.Deleted {
		ev.Value = e.Value
		ev.File = e.ContentType == kv.FileType
	}
	return ev
}

// publishChange hands an acknowledged change (still under its key's lock,
// so a key's changes go out in version order) to this node's watchers and
// to the stream every other node reads. Changes of internal keys (a file's
// chunks, kv.IsInternal) are no client's business and go nowhere: a large
// upload must not push its bytes through every node's watch queues.
func (n *Node) publishChange(ls *leaderStream, e wire.Event) {
	if kv.IsInternal(e.Key) {
		return
	}
	n.hub.publish(e)
	ls.publish(e)
}

// routeWrite checks that this node may write now and returns where bucket
// b's write goes, with its version.
func (n *Node) routeWrite(b int) (route, error) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.routeWriteLocked(b, now)
}

// routeWriteLocked is routeWrite under n.mu, at now. A route it returns
// counts as a write in flight until the caller ends it
// (route.lead.inflight).
func (n *Node) routeWriteLocked(b int, now time.Time) (route, error) {
	if n.lead == nil {
		return route{}, wire.ErrNoLeader
	}
	if n.lead.handover {
		return route{}, fmt.Errorf("%w: leadership is being handed over", wire.ErrNoLeader)
	}
	// The mode first: a leader elected by exactly half of the members
	// never installs a table of its own term, and "still taking over"
	// would hide why writes are refused for as long as that lasts.
	switch n.el.Mode(now) {
	case leader.LeadingReadWrite:
	case leader.LeadingReadOnly:
		if ro := n.readOnlyLocked(now); ro.reachable <= ro.members/2 {
			return route{}, ro
		}
		// A majority is reachable: the acknowledgments that renew the
		// read-write lease are on their way (a leader just elected, or
		// just joined by a member), and the write waits for them.
		return route{}, fmt.Errorf("%w: the leader's lease is being renewed", wire.ErrNoLeader)
	default:
		return route{}, fmt.Errorf("%w: the leader lost its quorum", wire.ErrNoLeader)
	}
	if n.state == nil || n.state.Term != n.lead.term || n.state.Leader != n.cfg.ID {
		return route{}, fmt.Errorf("%w: the new leader is still taking over", wire.ErrNoLeader)
	}
	if id, ok := n.fullDisks.anyFull(n.state.Table.Buckets[b], now); ok {
		// Refused before any replica applies: a write that reached the
		// backups but not a full primary would end as an unknown outcome.
		return route{}, fmt.Errorf("%w: node %d's data directory refused a write less than %v ago", wire.ErrInsufficientStorage, id, fullMemory)
	}
	r := route{
		now:     now,
		lead:    n.lead,
		term:    n.lead.term,
		stream:  n.lead.stream,
		version: store.Version{Term: n.lead.term, Seq: n.seq.Add(1)},
		since:   n.state.Table.Since[b],
	}
	ids := n.state.Table.Buckets[b]
	r.replicas, r.batches = make([]wire.Member, 0, len(ids)), make([]bool, 0, len(ids))
	for _, id := range ids {
		m, ok := memberOf(n.state, id)
		if !ok {
			return route{}, fmt.Errorf("%w: replica %d of bucket %d is not a member", wire.ErrInternal, id, b)
		}
		r.replicas = append(r.replicas, m)
		r.batches = append(r.batches, n.peerStats[id].batches)
		if r.full == 0 && (id == n.cfg.ID && n.memoryFull() || id != n.cfg.ID && n.peerStats[id].full) {
			r.full = id
		}
	}
	if len(r.replicas) == 0 {
		return route{}, fmt.Errorf("%w: bucket %d has no replica", wire.ErrUnavailable, b)
	}
	r.lead.inflight.Add(1)
	return r, nil
}

// readForWrite reads a key's current state for a conditional write: the
// newest version any replica holds (raw, tombstones included), on the
// leader's authority. Taking the newest rather than the primary's keeps the
// write consistent with anti-entropy, which may make a version that only a
// backup holds (a write that timed out) readable at the primary at any
// moment: the write either builds on that version or replaces a state no
// client could have seen.
func (n *Node) readForWrite(ctx context.Context, b int, r route, key string) (store.Entry, bool, error) {
	answers := make([]replication.Held, len(r.replicas))
	errs := make([]error, len(r.replicas))
	var wg sync.WaitGroup
	for i, m := range r.replicas {
		wg.Go(func() {
			if m.ID == n.cfg.ID {
				answers[i].Entry, answers[i].Found, errs[i] = n.readRaw(n.cfg.ID, r.term, b, r.since, key)
				return
			}
			rr, _, err := callFor[wire.ReadResp](ctx, n, m.Peer, &wire.Read{Bucket: b, Since: r.since, Key: key, Raw: true})
			if err == nil {
				answers[i] = replication.Held{Entry: rr.Entry, Found: rr.Found}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return store.Entry{}, false, fmt.Errorf("%w: reading %q from node %d: %v", wire.ErrUnavailable, key, r.replicas[i].ID, err)
		}
	}
	newest, lagging := replication.Newest(answers)
	if newest.Version.IsZero() {
		return store.Entry{}, false, nil
	}
	// A version some replicas lack is a write whose outcome was unknown: it
	// takes effect now, on every replica (backups first, the primary last)
	// before the condition is judged against it, so that readers and this
	// write see the same state.
	if len(lagging) > 0 {
		msg := &wire.Replicate{Bucket: b, Since: r.since, Entry: newest}
		for _, i := range lagging {
			if err := n.replicateTo(ctx, r.replicas[i], false, r.term, msg); err != nil {
				return store.Entry{}, false, fmt.Errorf("%w: completing an earlier write of %q: %v", wire.ErrUnavailable, key, err)
			}
		}
		n.publishChange(r.stream, changeEvent(newest))
	}
	if newest.Deleted {
		return store.Entry{}, false, nil
	}
	return newest, true, nil
}

// readRaw returns a replica's stored entry of key (a tombstone included,
// found reporting whether any entry is stored) for the leader (from) of
// term, planned under since.
func (n *Node) readRaw(from shard.NodeID, term uint64, b int, since uint64, key string) (store.Entry, bool, error) {
	n.mu.Lock()
	err := n.checkLeaderLocked(from, term)
	if err == nil {
		err = n.checkCoReplicaLocked(0, b, since)
	}
	n.mu.Unlock()
	if err != nil {
		return store.Entry{}, false, err
	}
	e, ok := n.store.Get(b, key)
	return e, ok, nil
}

// replicate applies e to every replica: the backups first, all at once,
// then the primary, so that a value becomes readable (at the primary) only
// once every replica has it.
func (n *Node) replicate(ctx context.Context, b int, r route, e store.Entry) error {
	msg := &wire.Replicate{Bucket: b, Since: r.since, Entry: e}
	return replication.Write(ctx, r.replicas, func(ctx context.Context, m wire.Member) error {
		batch := false
		for i := range r.replicas {
			batch = batch || r.replicas[i].ID == m.ID && r.batches[i]
		}
		return n.replicateTo(ctx, m, batch, r.term, msg)
	})
}

// replicateTo applies msg on one replica, locally when it is this node,
// else in a batch with other writes to it when it takes batches (batch)
// and msg is small.
func (n *Node) replicateTo(ctx context.Context, m wire.Member, batch bool, term uint64, msg *wire.Replicate) error {
	var err error
	switch {
	case m.ID == n.cfg.ID:
		_, err = n.applyReplicate(n.cfg.ID, term, msg)
	case batch && msg.BatchBytes() < batchAlone:
		bt := n.batchers.get(m.Peer)
		err = bt.do(ctx, msg, bt.send)
	default:
		_, err = n.call(ctx, m.Peer, msg)
	}
	n.noteReplicaErr(m.ID, batch, err)
	return err
}

// noteReplicaErr learns from what a replica answered a write (err): a
// full replica is refused writes for a while, and one that sent a batch
// (batch) gave no answer may not take batches.
func (n *Node) noteReplicaErr(id shard.NodeID, batch bool, err error) {
	switch {
	case errors.Is(err, wire.ErrInsufficientStorage):
		n.fullDisks.noteFull(id, time.Now())
	case batch && wire.NoAnswer(err):
		// The replica may be a new process, of an older build that does
		// not take batches: none until its next heartbeat says it does.
		n.mu.Lock()
		if st, ok := n.peerStats[id]; ok {
			st.batches = false
			n.peerStats[id] = st
		}
		n.mu.Unlock()
	}
}

// onReplicate applies a write the leader sends to this replica.
func (n *Node) onReplicate(ctx context.Context, from shard.NodeID, term uint64, m *wire.Replicate) (wire.Message, error) {
	applied, err := n.applyReplicateAs(from, term, m, transport.Inline(ctx))
	if err != nil {
		return nil, err
	}
	return &wire.ReplicateAck{Applied: applied}, nil
}

// applyReplicate checks that the write comes from the leader of the current
// term, planned under this node's assignment of the bucket, and applies it
// if it is newer than what is held. The check and the apply are one step
// under n.mu: once this node has seen a newer term or assignment (also
// under n.mu), no write checked under the old one can still land, so a
// merge under the new authority sees every write it will ever take.
func (n *Node) applyReplicate(from shard.NodeID, term uint64, m *wire.Replicate) (bool, error) {
	return n.applyReplicateAs(from, term, m, false)
}

// applyReplicateAs is applyReplicate; inline (on a connection's reader) it
// returns transport.ErrWouldBlock, having changed nothing, rather than
// wait for the data directory.
func (n *Node) applyReplicateAs(from shard.NodeID, term uint64, m *wire.Replicate, inline bool) (bool, error) {
	if n.persist != nil {
		if err := n.checkReplicateBucket(m); err != nil {
			return false, err
		}
		return n.applyCheckedAs(m.Bucket, []store.Entry{m.Entry}, func() error { return n.checkReplicateLocked(from, term, m) }, inline)
	}
	// Memory only: the check and the apply in one short hold of mu (a
	// store apply takes only the store's own locks).
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applyReplicateLocked(from, term, m)
}

// applyReplicateLocked is applyReplicate on a node without a data
// directory, under n.mu.
func (n *Node) applyReplicateLocked(from shard.NodeID, term uint64, m *wire.Replicate) (bool, error) {
	if err := n.checkReplicateBucket(m); err != nil {
		return false, err
	}
	if err := n.checkReplicateLocked(from, term, m); err != nil {
		return false, err
	}
	return n.store.Apply(m.Bucket, m.Entry), nil
}

// checkReplicateBucket checks that m's key belongs to its bucket.
func (n *Node) checkReplicateBucket(m *wire.Replicate) error {
	if b := m.Bucket; b < 0 || b >= n.cfg.Buckets || shard.BucketOf(m.Entry.Key, n.cfg.Buckets) != b {
		return fmt.Errorf("%w: key not in bucket %d", wire.ErrBadRequest, b)
	}
	return nil
}

// checkReplicateLocked decides whether this replica takes m from the
// leader from of term (replication.FenceWrite).
func (n *Node) checkReplicateLocked(from shard.NodeID, term uint64, m *wire.Replicate) error {
	if err := n.checkLeaderLocked(from, term); err != nil {
		return err
	}
	view := n.replicaViewLocked(m.Bucket)
	if err := replication.FenceWrite(view, term, m.Since, m.Entry); err != nil {
		if errors.Is(err, wire.ErrStaleEpoch) && m.Since > view.Since {
			n.fetchStateLocked() // the leader has a newer table than ours
		}
		return fmt.Errorf("bucket %d: %w", m.Bucket, err)
	}
	return nil
}

// replicaViewLocked returns what this replica knows of bucket b, for
// replication.FenceWrite.
func (n *Node) replicaViewLocked(b int) replication.ReplicaView {
	v := replication.ReplicaView{Term: n.el.Term(), Assigned: n.assignedLocked(b), Held: n.held[b]}
	if n.state != nil {
		v.Since = n.state.Table.Since[b]
	}
	return v
}

// fullMemory is how long the leader refuses writes to a bucket after one
// of its replicas refused a write for lack of storage; the next write
// after it tries again, so writes resume by themselves once space is back.
const fullMemory = time.Second

// fullReplicas remembers which replicas refused a write for lack of
// storage, and when. Safe for concurrent use.
type fullReplicas struct {
	mu    sync.Mutex
	until map[shard.NodeID]time.Time
}

func (f *fullReplicas) noteFull(id shard.NodeID, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.until == nil {
		f.until = map[shard.NodeID]time.Time{}
	}
	f.until[id] = now.Add(fullMemory)
}

// anyFull reports a replica among ids that refused a write less than
// fullMemory ago.
func (f *fullReplicas) anyFull(ids []shard.NodeID, now time.Time) (shard.NodeID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if t, ok := f.until[id]; ok {
			if now.Before(t) {
				return id, true
			}
			delete(f.until, id)
		}
	}
	return 0, false
}
