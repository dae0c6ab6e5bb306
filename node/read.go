package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// MaxListLimit caps the keys one listing page returns.
const MaxListLimit = 10000

// Get returns key's live entry, read from its bucket's primary. It fails
// with ErrNotFound when the key is absent or deleted.
func (n *Node) Get(_ context.Context, key string) (store.Entry, error) {
	if err := n.checkKey(key); err != nil {
		return store.Entry{}, err
	}
	b := shard.BucketOf(key, n.cfg.Buckets)
	// Each step's peer calls are bounded by CallTimeout; a client that
	// leaves does not need to stop them, and not deriving from its context
	// spares a registration with it (and a timer) per call.
	bound := func() context.Context { return n.deadlines.get(time.Now()) }
	for attempt := 0; ; attempt++ {
		e, found, err := n.getOnce(bound(), b, key, false)
		if attempt == 0 && (errors.Is(err, wire.ErrStaleEpoch) || errors.Is(err, wire.ErrNotOwner)) {
			if n.refreshState(bound()) == nil {
				continue
			}
		}
		if err == nil {
			v, askLeader, err := n.readAnswer(key, e, found)
			if !askLeader {
				return v, err
			}
			// A write judged against the value while it was live may be on
			// its way still, to become readable after it expired: the
			// leader reads once no write of the key is in flight.
		} else if !errors.Is(err, wire.ErrNoLease) && !wire.NoAnswer(err) {
			return store.Entry{}, unavailable(err)
		}
		// Or the primary cannot vouch for itself right now (its lease is
		// being renewed) or cannot be reached: ask the leader to read on
		// its authority (a read-only leader also asks backups).
		e, found, err = n.readViaLeader(bound(), b, key)
		if err != nil {
			return store.Entry{}, unavailable(err)
		}
		// The leader judged the expiry, at an instant no write of the key
		// was in flight (leaderRead): judged again later, by this clock, a
		// value live then could read absent while a write that relied on
		// it being live is still on its way.
		// (A value expired longer ago than any such write can last was
		// not judged so: an older leader answers what it read.)
		if now := time.Now().UnixMilli(); !found || e.Expires != 0 && e.Expired(now) && !n.expiredRecently(e, now) {
			return store.Entry{}, keyNotFound{key}
		}
		return e, nil
	}
}

// liveEntry is a read's answer to the client: the entry, or ErrNotFound
// when the key is absent, deleted or expired.
//
// Expiry (a value is absent at and after its Expires) is judged by this
// node's clock, against an instant the leader stamped with its own: a
// node whose clock is behind the leader's by d serves a value up to d past
// its expiry, and one ahead stops serving it up to d early. The SPEC's
// bound (404 from every node within 1s of the expiry) thus holds while
// node clocks agree within a second, as NTP keeps them (the term bound,
// MaxTermAhead, is far looser). Whatever the clocks, the primary's expirer
// deletes the value as an ordinary versioned tombstone soon after
// (expire.go), and from then on every node answers 404.
func liveEntry(key string, e store.Entry, found bool) (store.Entry, error) {
	if !found || e.Expires != 0 && e.Expired(time.Now().UnixMilli()) {
		return store.Entry{}, keyNotFound{key}
	}
	return e, nil
}

// keyNotFound is a read's ErrNotFound for key, as fmt.Errorf("%w: %q")
// would make it, but formatted only when its text is asked for: a cache's
// misses are many, and most are answered by a code (RESP's null, HTTP's
// 404) rather than by the text.
type keyNotFound struct{ key string }

func (e keyNotFound) Error() string { return fmt.Sprintf("%v: %q", wire.ErrNotFound, e.key) }
func (e keyNotFound) Unwrap() error { return wire.ErrNotFound }

// readAnswer judges what a read that found e (found) answers the client:
// liveEntry's answer, unless askLeader, when e has expired so recently
// that the leader must be asked first (expiredRecently). The clock is read
// once (and only for a value with an expiry), so the two judgments agree.
func (n *Node) readAnswer(key string, e store.Entry, found bool) (_ store.Entry, askLeader bool, _ error) {
	if !found || e.Expires == 0 {
		v, err := liveEntry(key, e, found)
		return v, false, err
	}
	now := time.Now().UnixMilli()
	switch {
	case !e.Expired(now):
		return e, false, nil
	case n.expiredRecently(e, now):
		return store.Entry{}, true, nil
	}
	return store.Entry{}, false, keyNotFound{key}
}

// expiredRecently reports whether e, expired at nowMilli, expired so
// recently that a write the leader judged against it while it was live (a
// condition it met, INCR's value) may still be on its way, holding the
// key's lock. Such a write becomes readable after the expiry; a read in
// between that answered "absent" would order the write after the expiry it
// relied on. A write holds its key's lock for at most its timeout (plus
// the deadline grain); the extra second covers this node's clock running
// ahead of the leader's (within the second the docs ask of NTP).
func (n *Node) expiredRecently(e store.Entry, nowMilli int64) bool {
	window := n.writeTimeout() + deadlineGrain + time.Second
	return nowMilli-e.Expires < window.Milliseconds()
}

// unavailable maps the ways a read can fail to reach a primary to 503s.
func unavailable(err error) error {
	if wire.NoAnswer(err) {
		return fmt.Errorf("%w: %v", wire.ErrUnavailable, err)
	}
	for _, e := range []error{wire.ErrNoLease, wire.ErrStaleEpoch, wire.ErrNotOwner, wire.ErrStaleTerm, wire.ErrClosed} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v", wire.ErrUnavailable, err)
		}
	}
	return err
}

// getOnce reads key from bucket b's primary under this node's table; with
// viaLeader, through the leader.
func (n *Node) getOnce(ctx context.Context, b int, key string, viaLeader bool) (store.Entry, bool, error) {
	now := time.Now()
	n.mu.Lock()
	p, err := n.planReadLocked(now, b, viaLeader)
	n.mu.Unlock()
	if err != nil {
		return store.Entry{}, false, err
	}
	if e, found, ok := n.readLocalCopy(&p, b, key); ok {
		return e, found, nil
	}
	return n.readRouted(ctx, &p, b, key)
}

// readPlan is how one read of bucket b goes, decided under mu: planRead's
// decision and what acting on it needs.
type readPlan struct {
	local   localRead
	route   readRoute
	primary shard.NodeID
	addr    string // the primary's address; the leader's for routeViaLeader
	since   uint64 // the bucket's assignment epoch
	term    uint64
	leading bool
}

// planReadLocked plans a read of bucket b at now; with viaLeader, one
// asked of the leader. It fails when no leader is known.
func (n *Node) planReadLocked(now time.Time, b int, viaLeader bool) (readPlan, error) {
	st := n.state
	if st == nil || n.el.Leader() == 0 {
		return readPlan{}, wire.ErrNoLeader
	}
	p := readPlan{primary: st.Table.Primary(b), since: st.Table.Since[b], leading: n.lead != nil, term: n.el.Term()}
	p.addr = n.memberAddrLocked(p.primary)
	if viaLeader && !p.leading {
		p.addr = n.memberAddrLocked(n.el.Leader())
	}
	p.local, p.route = planRead(readFacts{
		self:            n.cfg.ID,
		primary:         p.primary,
		viaLeader:       viaLeader,
		leading:         p.leading,
		leadTermCurrent: p.leading && n.lead.term == p.term,
		canServeReads:   n.el.CanServeReads(now),
		held:            n.held[b],
		recognised:      n.recognisedLocked(),
		merged:          n.synced[b] == syncKey{p.term, p.since, n.el.LeaseGen()},
		mergedWithAll:   n.syncedAll[b],
		holdsBucket:     st.Table.Holds(b, n.cfg.ID),
	})
	return p, nil
}

// readLocalCopy answers a read from this node's own copy when the plan
// allows it and the copy turns out current (ok); otherwise the read takes
// the plan's route.
func (n *Node) readLocalCopy(p *readPlan, b int, key string) (e store.Entry, found, ok bool) {
	switch p.local {
	case localPrimaryCopy:
		// A key not found may be a bucket dropped since the plan.
		if e, ok := n.store.Get(b, key); ok || n.stillHolds(b, p.since) {
			n.metrics.readsPrimaryCopy.Add(1)
			return e, ok && !e.Deleted, true
		}
	case leaderBackupCopy:
		if e, ok, settled := n.readHeldCopy(p.term, b, key); settled && (ok || n.stillHolds(b, p.since)) {
			n.metrics.readsBackupCopy.Add(1)
			return e, ok && !e.Deleted, true
		}
	}
	return store.Entry{}, false, false
}

// readRouted serves a read by its plan's route.
func (n *Node) readRouted(ctx context.Context, p *readPlan, b int, key string) (store.Entry, bool, error) {
	switch p.route {
	case routeViaLeader:
		return n.readAt(ctx, p.addr, &wire.Read{Bucket: b, Since: p.since, Key: key, ViaLeader: true})
	case routeNoReplica:
		return store.Entry{}, false, fmt.Errorf("%w: bucket %d has no replica", wire.ErrUnavailable, b)
	case routeNoQuorum:
		return store.Entry{}, false, fmt.Errorf("%w: the leader lost its quorum", wire.ErrNoLeader)
	case routePrimaryHere:
		var from shard.NodeID
		if p.leading {
			from = n.cfg.ID
		}
		return n.readPrimary(ctx, from, p.term, b, p.since, key, false)
	}
	return n.readAt(ctx, p.addr, &wire.Read{Bucket: b, Since: p.since, Key: key})
}

// readHeldCopy reads key from the leader's own copy of bucket b, settled
// when no write of it was in flight meanwhile and its last write under
// term did not fail: every replica then holds what was read, so the read
// agrees with the primary's. Otherwise the caller asks the primary.
func (n *Node) readHeldCopy(term uint64, b int, key string) (e store.Entry, ok, settled bool) {
	stripe := n.stripeOf(key)
	s, idle := n.writing.snapshot(stripe)
	if !idle || n.doubt.has(term, key) {
		return store.Entry{}, false, false
	}
	e, ok = n.store.Get(b, key)
	return e, ok, n.writing.unchanged(stripe, s)
}

// stillHolds reports whether this node still holds bucket b under the
// assignment since.
func (n *Node) stillHolds(b int, since uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state != nil && n.held[b] && n.state.Table.Since[b] == since
}

// readViaLeader reads through the leader (itself when leading).
func (n *Node) readViaLeader(ctx context.Context, b int, key string) (store.Entry, bool, error) {
	n.mu.Lock()
	leading := n.lead != nil
	n.mu.Unlock()
	if leading {
		return n.leaderRead(ctx, b, key)
	}
	return n.getOnce(ctx, b, key, true)
}

// readAt sends a Read to addr.
func (n *Node) readAt(ctx context.Context, addr string, rd *wire.Read) (store.Entry, bool, error) {
	r, _, err := callFor[wire.ReadResp](ctx, n, addr, rd)
	if err != nil {
		return store.Entry{}, false, err
	}
	return r.Entry, r.Found, nil
}

// readPrimary serves a read as bucket b's primary under the assignment
// since. The current leader (from) needs no read lease; anyone else's read
// is served only while this node holds one. With acting, this node is a
// backup answering, at the leader's request, for a primary that is down.
// The bucket is merged with its co-replicas first if it has not been under
// the current authority.
func (n *Node) readPrimary(ctx context.Context, from shard.NodeID, term uint64, b int, since uint64, key string, acting bool) (store.Entry, bool, error) {
	now := time.Now()
	n.mu.Lock()
	leaderAsks := from != 0 && from == n.el.Leader() && term == n.el.Term()
	var err error
	switch {
	case acting && !leaderAsks:
		err = fmt.Errorf("%w: only the leader asks a backup to act as primary", wire.ErrNotLeader)
	case !leaderAsks && !n.el.CanServeReads(now):
		err = fmt.Errorf("%w: node %d cannot confirm it is current", wire.ErrNoLease, n.cfg.ID)
	case n.state == nil || !n.assignedLocked(b) || !n.held[b] || (!acting && n.state.Table.Primary(b) != n.cfg.ID):
		err = fmt.Errorf("%w: node %d is not bucket %d's primary", wire.ErrNotOwner, n.cfg.ID, b)
	case n.state.Table.Since[b] != since:
		err = fmt.Errorf("%w: bucket %d assigned at epoch %d here, %d in the read", wire.ErrStaleEpoch, b, n.state.Table.Since[b], since)
	}
	synced := err == nil && n.synced[b] == syncKey{n.el.Term(), since, n.el.LeaseGen()}
	n.mu.Unlock()
	if err == nil && !synced {
		if transport.Inline(ctx) {
			return store.Entry{}, false, transport.ErrWouldBlock
		}
		err = n.ensureSynced(ctx, b, acting)
	}
	if err != nil {
		return store.Entry{}, false, err
	}
	e, ok := n.store.Get(b, key)
	if !ok || e.Deleted {
		return store.Entry{}, false, nil
	}
	return e, true, nil
}

// leaderRead reads, as leader, a key from its bucket's primary on the
// leader's own authority, once no write of the key's stripe is in flight,
// and judges its expiry at that instant (judgeLeaderRead): found is
// final, and a value it returns counts as live whatever the clock says
// when the caller uses it. A read-only leader (half of the members are
// down, no writes anywhere) asks the backups in turn when the primary
// cannot be reached, so every key with a live copy stays readable.
func (n *Node) leaderRead(ctx context.Context, b int, key string) (store.Entry, bool, error) {
	now := time.Now()
	n.mu.Lock()
	leading := n.lead != nil
	readOnly := n.el.Mode(now) == leader.LeadingReadOnly
	var backups []wire.Member
	var since uint64
	if n.state != nil {
		since = n.state.Table.Since[b]
		for _, id := range n.state.Table.Replicas(b) {
			if m, ok := memberOf(n.state, id); ok && id != n.state.Table.Primary(b) && n.el.Health(id, now) != leader.Dead {
				backups = append(backups, m)
			}
		}
	}
	term := n.el.Term()
	n.mu.Unlock()
	if !leading {
		return store.Entry{}, false, wire.ErrNotLeader
	}
	// A write of the key's stripe in flight ends first (expiredRecently
	// says why); one that begins after judges the key as it is now.
	kl := n.keyLocks[n.stripeOf(key)]
	if err := kl.lock(ctx); err != nil {
		return store.Entry{}, false, err
	}
	// The read's instant: no write of the key is in flight, and every one
	// that begins after stamps its own now no earlier. The expiry is
	// judged at this instant, and only here (callers take the answer as
	// it is): a value live now that expires before the answer is used
	// may have a write judged against it on its way, and absent would
	// order the read after the expiry and before that write.
	at := time.Now().UnixMilli()
	kl.unlock()
	e, found, err := n.getOnce(ctx, b, key, false)
	if err == nil || !readOnly || !wire.NoAnswer(err) {
		return n.judgeLeaderRead(term, key, at, e, found, err)
	}
	for _, m := range backups {
		if m.ID == n.cfg.ID {
			e, found, err = n.readPrimary(ctx, n.cfg.ID, term, b, since, key, true)
		} else {
			e, found, err = n.readAt(ctx, m.Peer, &wire.Read{Bucket: b, Since: since, Key: key, Acting: true})
		}
		if err == nil {
			return n.judgeLeaderRead(term, key, at, e, found, nil)
		}
	}
	return store.Entry{}, false, err
}

// judgeLeaderRead judges what leaderRead's read of key at instant at
// (Unix milliseconds) answers: a value expired by then is absent, and one
// just expired whose last write's outcome is unknown is unavailable.
func (n *Node) judgeLeaderRead(term uint64, key string, at int64, e store.Entry, found bool, err error) (store.Entry, bool, error) {
	if err != nil || !found || e.Expires == 0 || !e.Expired(at) {
		return e, found, err
	}
	if n.doubt.has(term, key) && n.expiredRecently(e, at) {
		// The key's last write has an unknown outcome: it may yet be
		// completed (readForWrite, anti-entropy) after the expiry it may
		// have relied on. Neither value nor absence is certain.
		return store.Entry{}, false, fmt.Errorf("%w: %q just expired and its last write's outcome is unknown", wire.ErrUnavailable, key)
	}
	return store.Entry{}, false, nil
}

// onRead serves a Read as primary, or as leader for ViaLeader.
func (n *Node) onRead(ctx context.Context, from shard.NodeID, term uint64, r *wire.Read) (wire.Message, error) {
	if r.Bucket < 0 || r.Bucket >= n.cfg.Buckets || shard.BucketOf(r.Key, n.cfg.Buckets) != r.Bucket {
		return nil, fmt.Errorf("%w: key not in bucket %d", wire.ErrBadRequest, r.Bucket)
	}
	var (
		e     store.Entry
		found bool
		err   error
	)
	switch {
	case r.Raw:
		e, found, err = n.readRaw(from, term, r.Bucket, r.Since, r.Key)
	case r.ViaLeader:
		e, found, err = n.leaderRead(ctx, r.Bucket, r.Key)
	default:
		e, found, err = n.readPrimary(ctx, from, term, r.Bucket, r.Since, r.Key, r.Acting)
	}
	if err != nil {
		return nil, err
	}
	return &wire.ReadResp{Found: found, Entry: e}, nil
}

// List returns live keys starting with prefix, after after, in byte order,
// across the cluster (each bucket from its primary), at most limit of them;
// next is the last key returned when more remain, "" otherwise. Internal
// keys (kv.IsInternal) are listed only under a prefix that is itself
// internal.
func (n *Node) List(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	if prefix == "" && after < kv.InternalEnd {
		// The internal namespace sorts first: a listing of everything
		// starts after it, so no client sees a file's chunks (kv.IsInternal).
		after = kv.InternalEnd
	}
	n.mu.Lock()
	st := n.state
	if st == nil {
		n.mu.Unlock()
		return nil, "", wire.ErrNoLeader
	}
	byNode := map[shard.NodeID][]int{}
	for b := range st.Table.Buckets {
		if p := st.Table.Primary(b); p != 0 {
			byNode[p] = append(byNode[p], b)
		}
	}
	addrs := map[shard.NodeID]string{}
	for id := range byNode {
		addrs[id] = n.memberAddrLocked(id)
	}
	n.mu.Unlock()

	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		all   []string
		more  bool
		first error
	)
	for id, buckets := range byNode {
		wg.Go(func() {
			var ks []string
			var m bool
			var err error
			if id == n.cfg.ID {
				ks, m = n.store.Keys(buckets, prefix, after, limit)
			} else {
				var r *wire.ListResp
				r, _, err = callFor[wire.ListResp](ctx, n, addrs[id], &wire.List{Buckets: buckets, Prefix: prefix, After: after, Limit: limit})
				if err == nil {
					ks, m = r.Keys, r.More
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = fmt.Errorf("%w: listing on node %d: %v", wire.ErrUnavailable, id, err)
			}
			all = append(all, ks...)
			more = more || m
		})
	}
	wg.Wait()
	if first != nil {
		return nil, "", first
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > limit {
		all, more = all[:limit], true
	}
	if more && len(all) > 0 {
		next = all[len(all)-1]
	}
	return all, next, nil
}

// onList returns this node's live keys in the asked buckets.
func (n *Node) onList(l *wire.List) (wire.Message, error) {
	if l.Limit <= 0 || l.Limit > MaxListLimit {
		l.Limit = MaxListLimit
	}
	for _, b := range l.Buckets {
		if b < 0 || b >= n.cfg.Buckets {
			return nil, fmt.Errorf("%w: bucket %d out of range", wire.ErrBadRequest, b)
		}
	}
	keys, more := n.store.Keys(l.Buckets, l.Prefix, l.After, l.Limit)
	return &wire.ListResp{Keys: keys, More: more}, nil
}
