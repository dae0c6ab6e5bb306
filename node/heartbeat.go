package node

import (
	"context"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// tickLoop drives the elector and sends heartbeats every heartbeat interval.
func (n *Node) tickLoop(ctx context.Context) {
	every(ctx, n.cfg.Election.HeartbeatInterval, nil, func() { n.tick(ctx) })
}

// every calls f each interval, and at once whenever kick (nil: never)
// delivers, until ctx ends.
func every(ctx context.Context, interval time.Duration, kick <-chan struct{}, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		f()
	}
}

// tick runs one round: the elector's decisions, then a heartbeat to every
// known node whose previous heartbeat has been answered.
func (n *Node) tick(ctx context.Context) {
	now := time.Now()
	n.mu.Lock()
	act := n.el.Tick(now)
	if act.SteppedDown {
		n.log.Warn("stepping down: no quorum acknowledged the lease", "term", n.el.Term())
		n.endLeadershipLocked()
	}
	if act.LeaderLost {
		n.log.Warn("leader silent: forgetting it", "dead_after", n.cfg.DeadAfter)
	}
	campaign := act.Campaign && !n.campaigning
	if campaign {
		n.campaigning = true
	}
	var preemptAddr string
	if act.Preempt {
		preemptAddr = n.memberAddrLocked(n.el.Leader())
	}
	n.forgetDepartedLocked(now)
	hb := n.heartbeatLocked(now)
	targets := make([]wire.Member, 0, len(n.known))
	for id, m := range n.known {
		if id != n.cfg.ID && !n.inflightBeats[id] && m.Peer != "" {
			n.inflightBeats[id] = true
			targets = append(targets, m)
		}
	}
	n.mu.Unlock()

	for _, m := range targets {
		n.goRun(ctx, func(ctx context.Context) { n.beat(ctx, m, hb, now) })
	}
	if campaign {
		n.goRun(ctx, n.campaign)
	}
	if preemptAddr != "" {
		n.goRun(ctx, func(ctx context.Context) { n.preempt(ctx, preemptAddr) })
	}
}

// forgetDepartedLocked forgets the nodes that are neither members of the
// installed state nor asking to join, once they have been silent for
// dead-after: they are no longer heartbeated, listed or voted with. A
// departed node that comes back greets or joins again like a new one.
func (n *Node) forgetDepartedLocked(now time.Time) {
	for id := range n.known {
		_, member := memberOf(n.state, id)
		if member || now.Sub(n.el.LastAck(id)) < n.cfg.DeadAfter || now.Sub(n.learnedAt[id]) < n.cfg.DeadAfter {
			continue
		}
		if n.lead != nil {
			if _, joining := n.lead.joins[id]; joining {
				continue
			}
		}
		if n.state == nil || n.inflightBeats[id] {
			continue // still forming: every greeted node may become a member
		}
		delete(n.known, id)
		delete(n.learnedAt, id)
		delete(n.peerStats, id)
		n.el.Forget(id)
		n.log.Info("forgot a departed node", "id", uint64(id))
	}
}

// heartbeatLocked builds this node's heartbeat.
func (n *Node) heartbeatLocked(now time.Time) *wire.Heartbeat {
	hb := &wire.Heartbeat{
		Self:           n.self,
		Leader:         n.el.AckLeader(now),
		Epoch:          n.state.Epoch(),
		Committed:      n.committed,
		Keys:           n.heldKeysLocked(),
		InSync:         n.inSyncLocked(),
		Leading:        uint8(n.el.Claim()),
		Leaving:        n.leaving,
		Leftover:       n.leftoverBucketsLocked(),
		Full:           n.memoryFull(),
		Batches:        true,
		ReadBatches:    true,
		ForwardBatches: true,
	}
	return hb
}

// beat sends one heartbeat and takes its answer.
func (n *Node) beat(ctx context.Context, to wire.Member, hb *wire.Heartbeat, sentAt time.Time) {
	defer func() {
		n.mu.Lock()
		delete(n.inflightBeats, to.ID)
		n.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, n.cfg.DeadAfter/2)
	defer cancel()
	ack, env, err := callFor[wire.HeartbeatAck](cctx, n, to.Peer, hb)
	from := shard.NodeID(env.From)
	if err != nil || from != to.ID || ack.Self.ID != from {
		return
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.el.RoundTrip(from, now)
	n.learnMemberLocked(ack.Self)
	n.recordStatLocked(from, &ack.Heartbeat)
	if ack.Leader == n.cfg.ID {
		n.el.OnLeaderAck(from, sentAt, env.Term, ack.Leader)
	}
	if ack.Leading != 0 {
		n.acceptLeaderLocked(from, env.Term, &ack.Heartbeat, now)
	}
	if ack.Lease {
		n.el.OnReadLease(from, env.Term, sentAt)
	}
}

// onHeartbeat answers a heartbeat; as leader it may grant the sender a read
// lease.
func (n *Node) onHeartbeat(from shard.NodeID, term uint64, hb *wire.Heartbeat) *wire.HeartbeatAck {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if hb.Self.ID != from {
		return &wire.HeartbeatAck{Heartbeat: *n.heartbeatLocked(now)}
	}
	n.learnMemberLocked(hb.Self)
	n.recordStatLocked(from, hb)
	if hb.Leading != 0 {
		n.acceptLeaderLocked(from, term, hb, now)
	}
	lease := false
	if n.lead != nil && hb.Leader == n.cfg.ID && term == n.el.Term() {
		lease = n.grantLeaseLocked(from, hb, now)
	}
	return &wire.HeartbeatAck{Heartbeat: *n.heartbeatLocked(now), Lease: lease}
}

// acceptLeaderLocked takes a heartbeat (or ack) from a node that claims to
// lead, and follows its commits.
func (n *Node) acceptLeaderLocked(from shard.NodeID, term uint64, hb *wire.Heartbeat, now time.Time) {
	accepted, isNew := n.el.OnLeaderHeartbeat(from, term, leader.Mode(hb.Leading), now)
	if !accepted {
		return
	}
	if isNew {
		n.endLeadershipLocked()
		n.log.Info("leader elected", "leader", uint64(from), "term", term)
		n.metrics.leaderChanges.Inc()
		n.kickSync()
		n.resetStream(term)
	}
	n.noteEpochLocked(hb.Epoch)
	if hb.Committed > n.committed {
		n.committed = hb.Committed
	}
	if n.state.Epoch() < n.committed || n.state.Epoch() < hb.Epoch {
		n.fetchStateLocked()
		return
	}
	n.dropUnheldLocked()
	n.updateEligibleLocked()
}

// grantLeaseLocked decides, as leader, whether a member's heartbeat earns it
// a read lease: the member must be current (its installed epoch not behind
// the committed one, nor behind one being installed) and recognised (its
// incarnation is the one the table counts on).
func (n *Node) grantLeaseLocked(from shard.NodeID, hb *wire.Heartbeat, now time.Time) bool {
	if n.el.Mode(now) == leader.NotLeading || n.state == nil {
		return false
	}
	m, ok := memberOf(n.state, from)
	if !ok || m.Incarnation != hb.Self.Incarnation || hb.Epoch < n.committed {
		return false
	}
	if n.lead.pending != 0 && hb.Epoch < n.lead.pending {
		return false
	}
	n.lead.grants[from] = now
	n.el.NoteLeaseGranted(now)
	return true
}

// recordStatLocked keeps what a node reported of itself.
func (n *Node) recordStatLocked(from shard.NodeID, hb *wire.Heartbeat) {
	n.peerStats[from] = peerStat{keys: hb.Keys, epoch: hb.Epoch, inSync: hb.InSync, inc: hb.Self.Incarnation, leftover: hb.Leftover, full: hb.Full, batches: hb.Batches, reads: hb.ReadBatches, forwards: hb.ForwardBatches}
	n.noteEpochLocked(hb.Epoch)
	n.el.SetLeaving(from, hb.Leaving)
	if hb.Leaving && n.lead != nil && !n.lead.leaving[from] {
		n.markLeavingLocked(from)
	}
}

func (n *Node) noteEpochLocked(e uint64) {
	if e > n.maxEpoch {
		n.maxEpoch = e
	}
}

// memberOf finds id among s's members.
func memberOf(s *wire.ClusterState, id shard.NodeID) (wire.Member, bool) {
	if s == nil {
		return wire.Member{}, false
	}
	for _, m := range s.Members {
		if m.ID == id {
			return m, true
		}
	}
	return wire.Member{}, false
}
