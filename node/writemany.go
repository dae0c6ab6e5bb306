package node

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Writes carried out together. A Redis pipeline's SETs (and MSET's keys)
// reach the node as a group. Each run as its own Write costs the leader a
// goroutine, a turn at the node lock, and a wait in each replica's
// batcher; on the leader, WriteMany takes the group through the write path
// as one unit instead: one pass at the key locks (the free ones: a write
// whose stripe is busy goes alone, after), one hold of the node lock to
// route them all, and one batch to each replica in each phase (backups,
// then primaries), merged with other writers' in the replica's batcher.
// Each write is still versioned, checked, replicated (backups before its
// primary), judged and published as Write would: carrying writes out
// together changes what they cost, not what they mean.

// WriteResult is the outcome of one write of WriteMany: what Write would
// have returned for it.
type WriteResult struct {
	Version store.Version
	Err     error
}

// maxTogether bounds the writes carried out as one unit: those of one
// batch to a replica.
const maxTogether = batchMaxItems

// WriteMany carries out writes of distinct keys, each as Write would, and
// answers in order. Their effects are not ordered among themselves, as
// those of concurrent Writes are not. A key given again after a write of
// it that passed its checks is refused (ErrBadRequest).
//
// On the leader, the writes that need no current value (puts, not
// conditional ones) and are small enough to batch are carried out
// together, up to maxTogether at a time. A follower forwards the writes
// small enough to batch to the leader in batches (forwardMany), which the
// leader carries out so in turn. The rest run as a Write each, up to
// maxAloneAtOnce at once.
func (n *Node) WriteMany(ctx context.Context, ops []wire.WriteOp) []WriteResult {
	return n.writeMany(ctx, ops, n.Write, time.Time{})
}

// writeFunc carries out one write: Write, or leaderWrite for writes a
// follower forwarded.
type writeFunc func(context.Context, wire.WriteOp) (store.Version, error)

// maxAloneAtOnce bounds the writes of one WriteMany (or one ForwardBatch
// frame) that run alone at the same time, each on a goroutine of its own.
const maxAloneAtOnce = 64

// writeMany is WriteMany, with write carrying out each write that does
// not go together with others. With startBy, for a batch a follower
// forwarded: nothing is forwarded on (write is leaderWrite, which refuses
// at once when this node does not lead, for the follower to hold and
// retry), and no unit begins after startBy (write refuses the writes that
// would: writeForwarded).
func (n *Node) writeMany(ctx context.Context, ops []wire.WriteOp, write writeFunc, startBy time.Time) []WriteResult {
	res := make([]WriteResult, len(ops))
	n.mu.Lock()
	leading := n.lead != nil
	leaderAddr := n.memberAddrLocked(n.el.Leader())
	forwards := startBy.IsZero() && leaderAddr != "" && n.forwardsInBatchesLocked()
	n.mu.Unlock()
	var together, alone, forward []int
	taken := keySet{ops: ops}
	for i := range ops {
		op := &ops[i]
		if err := n.checkOp(op); err != nil {
			res[i].Err = err
			continue
		}
		if !taken.add(i) {
			res[i].Err = fmt.Errorf("%w: key %q is written twice in one WriteMany", wire.ErrBadRequest, op.Key)
			continue
		}
		switch {
		case len(op.Key)+len(op.Value) >= batchAlone:
			alone = append(alone, i)
		case forwards:
			forward = append(forward, i) // any kind: the leader judges it
		case replication.NeedsCurrent(*op):
			alone = append(alone, i)
		default:
			together = append(together, i)
		}
	}
	if !leading || len(together) < 2 {
		alone = append(alone, together...)
		together = nil
	}
	g := &boundedGroup{limit: maxAloneAtOnce}
	goAlone := func(i int) { g.Go(func() { n.writeAlone(ctx, write, ops[i], &res[i]) }) }
	for _, i := range alone {
		goAlone(i)
	}
	if len(forward) > 0 {
		// Refused while leadership changes hands: carried out alone, by
		// Write, which holds them until a leader takes them.
		for _, i := range n.forwardMany(ctx, leaderAddr, ops, forward, res) {
			goAlone(i)
		}
	}
	for len(together) > 0 {
		if !startBy.IsZero() && time.Now().After(startBy) {
			for _, i := range together {
				goAlone(i) // write refuses it
			}
			break
		}
		part := together[:togetherPart(ops, together)]
		together = together[len(part):]
		// Left before anything was done: for write, which waits for a
		// key's lock or a moving bucket (and Write for a new leader).
		busy, redo := n.writeTogether(ops, part, res)
		if len(busy) >= 2 && (startBy.IsZero() || time.Now().Before(startBy)) {
			// The writes whose key another unit was writing: together
			// again, now that the unit's own time has let most of those
			// end (a write alone costs the leader about three times as
			// much); the ones still busy go alone.
			var redo2 []int
			busy, redo2 = n.writeTogether(ops, busy, res)
			redo = append(redo, redo2...)
		}
		for _, i := range append(busy, redo...) {
			goAlone(i)
		}
	}
	g.Wait()
	return res
}

// keySet is the keys of ops already taken by a WriteMany, by index: a
// scan while few, a map beyond.
type keySet struct {
	ops  []wire.WriteOp
	idx  []int
	keys map[string]bool
}

// add takes ops[i]'s key, and reports false when it was already taken.
func (s *keySet) add(i int) bool {
	key := s.ops[i].Key
	if s.keys == nil && len(s.idx) < 32 {
		if slices.ContainsFunc(s.idx, func(j int) bool { return s.ops[j].Key == key }) {
			return false
		}
		s.idx = append(s.idx, i)
		return true
	}
	if s.keys == nil {
		s.keys = make(map[string]bool, 2*len(s.idx))
		for _, j := range s.idx {
			s.keys[s.ops[j].Key] = true
		}
	}
	if s.keys[key] {
		return false
	}
	s.keys[key] = true
	return true
}

// writeAlone carries out one write of WriteMany with write, on a goroutine
// of its own, into r: a panic (a bug) fails that write as an unknown
// outcome, logged, instead of the process, as the client front does for a
// request.
func (n *Node) writeAlone(ctx context.Context, write writeFunc, op wire.WriteOp, r *WriteResult) {
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("a write panicked", "key", op.Key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			*r = WriteResult{Err: fmt.Errorf("%w: the write failed on a bug (logged)", wire.ErrUnknownOutcome)}
		}
	}()
	r.Version, r.Err = write(ctx, op)
}

// togetherPart is how many of the writes of ops at idx, from the first,
// go in one unit: at least one, and within one replica batch's limits.
func togetherPart(ops []wire.WriteOp, idx []int) int {
	k, size := 0, 0
	for k < len(idx) && k < maxTogether {
		op := &ops[idx[k]]
		size += len(op.Key) + len(op.Value)
		if k > 0 && size > batchMaxBytes {
			break
		}
		k++
	}
	return k
}

// togetherWrite is one write of writeTogether.
type togetherWrite struct {
	i       int // its index in the ops
	op      *wire.WriteOp
	bucket  int
	r       route
	routed  bool        // r counts as a write in flight
	sent    bool        // it passed its checks and went to its replicas
	e       store.Entry // the entry it writes
	backups []error     // each backup's answer
	primary error       // the primary's answer
	err     error       // its outcome
}

// writeTogether carries out, as leader, the writes of ops at idx (checked,
// of distinct keys, needing no current value) as one unit, setting their
// results. It returns those it did not carry out, which were surely not
// performed, for the caller to carry out alone, waiting as Write does:
// in busy, writes of a key whose lock is taken (another write of its
// stripe is on its way), and in redo, writes to a bucket being moved
// (whose gate is closed) and writes refused while leadership changes
// hands (ErrNoLeader).
func (n *Node) writeTogether(ops []wire.WriteOp, idx []int, res []WriteResult) (busy, redo []int) {
	// Once begun, the writes run to their end or their timeout, as
	// leaderWrite's do.
	ctx := n.deadlines.get(time.Now())
	stripeOf := make([]uint64, len(idx)) // of idx[j]'s key
	for j, i := range idx {
		stripeOf[j] = n.stripeOf(ops[i].Key)
	}
	stripes := slices.Compact(slices.Sorted(slices.Values(stripeOf)))
	// The free key locks only: a write whose key is being written goes
	// alone after the others, rather than the unit waiting with the locks
	// of all its keys held (units sharing a stripe would queue behind each
	// other).
	stripes = tryLockAll(n.keyLocks, rankKeyLock, stripes)
	defer unlockAll(n.keyLocks, rankKeyLock, stripes)
	mine := idx[:0:0]
	for j, i := range idx {
		if _, ok := slices.BinarySearch(stripes, stripeOf[j]); ok {
			mine = append(mine, i)
		} else {
			busy = append(busy, i)
		}
	}
	ws, entered, moving := n.enterGates(ops, mine)
	redo = append(redo, moving...)
	defer n.leaveGates(entered)
	now := time.Now()
	n.mu.Lock()
	for _, w := range ws {
		w.r, w.err = n.routeWriteLocked(w.bucket, now)
		w.routed = w.err == nil
	}
	n.mu.Unlock()
	for _, w := range ws {
		if errors.Is(w.err, wire.ErrNoLeader) {
			redo = append(redo, w.i)
		}
	}
	ws = slices.DeleteFunc(ws, func(w *togetherWrite) bool { return errors.Is(w.err, wire.ErrNoLeader) })
	if len(ws) == 0 {
		return busy, redo
	}
	defer func() {
		for _, w := range ws {
			if w.routed {
				w.r.lead.inflight.Add(-1)
			}
		}
	}()

	// From here replicas may change: local reads of the stripes stay off
	// until the writes end, as leaderWrite's do.
	for _, s := range stripes {
		n.writing.begin(s)
	}
	defer func() {
		for _, s := range stripes {
			n.writing.end(s)
		}
	}()
	defer func() {
		// A panic (a bug) half-way may leave any routed write on some
		// replicas only: in doubt, as leaderWrite's failed writes are.
		if p := recover(); p != nil {
			for _, w := range ws {
				if w.routed {
					n.settleDoubt(w.r.term, w.op.Key, wire.ErrUnknownOutcome)
				}
			}
			panic(p)
		}
	}()
	var term uint64 // every route is of the same hold of mu, so of one term
	for _, w := range ws {
		if w.err == nil {
			term = w.r.term
			w.err = n.entryOf(w)
			if w.sent = w.err == nil; w.sent {
				n.metrics.writesTogether.Add(1)
			}
		}
	}
	start := time.Now()
	n.replicateTogether(ctx, term, ws)
	took := time.Since(start).Seconds()
	for _, w := range ws {
		if !w.routed {
			res[w.i].Err = w.err
			continue
		}
		if w.sent {
			n.metrics.replication.Observe(took)
		}
		n.settleDoubt(w.r.term, w.op.Key, w.err)
		switch {
		case w.err == nil:
			ev := changeEvent(w.e)
			ev.Expired = w.op.Expiring
			n.publishChange(w.r.stream, ev)
			res[w.i].Version = w.e.Version
		case errors.Is(w.err, wire.ErrUnknownOutcome) && !kv.IsInternal(w.op.Key):
			// The write may take effect later, unseen by the stream:
			// watchers must re-read.
			n.publishChange(w.r.stream, wire.Event{Reset: true})
		}
		res[w.i].Err = w.err
	}
	return busy, redo
}

// enterGates admits the writes of ops at idx into their buckets' gates,
// each gate once, without waiting: a write whose bucket is being moved is
// returned in redo. The gates entered count as one place in the lock
// order, and leaveGates lets them out.
func (n *Node) enterGates(ops []wire.WriteOp, idx []int) (ws []*togetherWrite, entered, redo []int) {
	var closed []int
	lockWillTake(rankGate)
	for _, i := range idx {
		b := shard.BucketOf(ops[i].Key, n.cfg.Buckets)
		switch {
		case slices.Contains(entered, b):
		case slices.Contains(closed, b) || !n.gates[b].tryEnter():
			closed = append(closed, b)
			redo = append(redo, i)
			continue
		default:
			entered = append(entered, b)
		}
		ws = append(ws, &togetherWrite{i: i, op: &ops[i], bucket: b})
	}
	lockTaken(rankGate)
	return ws, entered, redo
}

// leaveGates lets out the writes enterGates admitted.
func (n *Node) leaveGates(entered []int) {
	lockReleased(rankGate)
	for _, b := range entered {
		n.gates[b].release()
	}
}

// entryOf sets the entry a routed write puts on its replicas, or returns
// why it is refused before any replica is sent it (leaderWrite's checks
// for a write that needs no current value).
func (n *Node) entryOf(w *togetherWrite) error {
	e, err := replication.Result(*w.op, store.Entry{}, false, w.r.now.UnixMilli(), n.cfg.MaxValue)
	if err != nil {
		return err
	}
	if w.r.full != 0 && grows(e, store.Entry{}, false) {
		n.metrics.refusedFull.Inc()
		return fmt.Errorf("%w: node %d holds its --max-memory; deletes and shrinking writes go on",
			wire.ErrInsufficientStorage, w.r.full)
	}
	e.Version = w.r.version
	w.e = e
	return nil
}

// replicateTogether applies each write of ws still without an error to
// its replicas under the leader's term, as replication.Write orders them: every write to all its
// backups at once, then each write that all its backups applied to its
// primary. Each phase sends each replica its writes as one batch. It sets
// each write's err as replication.Write would return it.
func (n *Node) replicateTogether(ctx context.Context, term uint64, ws []*togetherWrite) {
	var backups []*replicaGroup
	for _, w := range ws {
		if w.err != nil {
			continue
		}
		msg := wire.Replicate{Bucket: w.bucket, Since: w.r.since, Entry: w.e}
		w.backups = make([]error, len(w.r.replicas)-1)
		for k := 1; k < len(w.r.replicas); k++ {
			backups = addToReplica(backups, w.r.replicas[k], w.r.batches[k], msg, &w.backups[k-1], len(ws))
		}
	}
	n.sendGroups(ctx, term, backups)
	var primaries []*replicaGroup
	for _, w := range ws {
		if w.err != nil {
			continue
		}
		if w.err = replication.BackupsOutcome(w.backups); w.err != nil {
			continue
		}
		msg := wire.Replicate{Bucket: w.bucket, Since: w.r.since, Entry: w.e}
		primaries = addToReplica(primaries, w.r.replicas[0], w.r.batches[0], msg, &w.primary, len(ws))
	}
	n.sendGroups(ctx, term, primaries)
	for _, w := range ws {
		if w.err == nil {
			w.err = replication.PrimaryOutcome(len(w.backups), w.primary)
		}
	}
}

// replicaGroup is the writes one replica is sent in one phase of
// replicateTogether.
type replicaGroup struct {
	m     wire.Member
	batch bool // it takes wire.ReplicateBatch
	msgs  []wire.Replicate
	outs  []*error // where each write's answer goes
}

// addToReplica adds msg, whose answer goes to out, to replica m's group,
// made with room for most, writes more (the unit's size).
func addToReplica(groups []*replicaGroup, m wire.Member, batch bool, msg wire.Replicate, out *error, most int) []*replicaGroup {
	k := slices.IndexFunc(groups, func(g *replicaGroup) bool { return g.m.ID == m.ID })
	if k < 0 {
		groups = append(groups, &replicaGroup{m: m, batch: batch,
			msgs: make([]wire.Replicate, 0, most), outs: make([]*error, 0, most)})
		k = len(groups) - 1
	}
	groups[k].msgs = append(groups[k].msgs, msg)
	groups[k].outs = append(groups[k].outs, out)
	return groups
}

// sendGroups sends each group to its replica, all at once, under the
// leader's term, and sets each write's answer.
func (n *Node) sendGroups(ctx context.Context, term uint64, groups []*replicaGroup) {
	var wg sync.WaitGroup
	for _, g := range groups[min(1, len(groups)):] {
		wg.Go(func() { n.sendGroup(ctx, term, g) })
	}
	if len(groups) > 0 {
		n.sendGroup(ctx, term, groups[0])
	}
	wg.Wait()
}

// sendGroup sends a group's writes to its replica: applied here when it is
// this node, in batches (replBatcher.doMany) when it takes them, else one
// call each.
func (n *Node) sendGroup(ctx context.Context, term uint64, g *replicaGroup) {
	switch {
	case len(g.msgs) == 1:
		*g.outs[0] = n.replicateTo(ctx, g.m, g.batch, term, &g.msgs[0])
	case g.m.ID == n.cfg.ID:
		ack, err := n.onReplicateBatch(ctx, n.cfg.ID, term, &wire.ReplicateBatch{Items: g.msgs})
		batchOutcomes(ack, err, len(g.msgs), func(i int, err error) {
			n.noteReplicaErr(g.m.ID, false, err)
			*g.outs[i] = err
		})
	case g.batch:
		// Through the replica's batcher: with the writes other clients'
		// pipelines send it at the same time.
		bt := n.batchers.get(g.m.Peer)
		for i, err := range bt.doMany(ctx, g.msgs, bt.send) {
			n.noteReplicaErr(g.m.ID, true, err)
			*g.outs[i] = err
		}
	default:
		var wg sync.WaitGroup
		for i := range g.msgs {
			wg.Go(func() { *g.outs[i] = n.replicateTo(ctx, g.m, false, term, &g.msgs[i]) })
		}
		wg.Wait()
	}
}
