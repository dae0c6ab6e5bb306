package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// plan is a placement change the leader has decided on.
type plan struct {
	old      *wire.ClusterState // the committed state it replaces (nil at formation)
	next     *wire.ClusterState // the state to install
	base     shard.Table        // old's table without copies that no longer count
	affected []int              // buckets whose replica list changes
	why      []any              // log fields saying what changed
}

// reconfigLoop, while this node leads, keeps the placement in line with the
// members: it installs the term's first epoch, adds joining nodes, and
// takes dead or restarted nodes' copies out of the table.
func (n *Node) reconfigLoop(ctx context.Context) {
	every(ctx, 2*n.cfg.Election.HeartbeatInterval, n.kick, func() {
		n.mu.Lock()
		p := n.planLocked(time.Now())
		n.mu.Unlock()
		if p == nil {
			return
		}
		if err := n.switchTo(ctx, p); err != nil && ctx.Err() == nil {
			n.log.Warn("placement change failed; will retry", "epoch", p.next.Epoch(), "err", err)
		}
	})
}

// planLocked returns the placement change needed now, or nil
// (planPlacement decides it from a snapshot of this node's state).
func (n *Node) planLocked(now time.Time) *plan {
	if n.lead == nil || n.lead.pending != 0 || n.el.Mode(now) != leader.LeadingReadWrite {
		return nil
	}
	in := placementInput{
		self:     n.self,
		term:     n.el.Term(),
		buckets:  n.cfg.Buckets,
		replicas: n.cfg.Replicas,
		maxEpoch: n.maxEpoch,
		old:      n.state,
		known:    n.known,
		joins:    map[shard.NodeID]bool{},
		leaving:  n.lead.leaving,
		health:   func(id shard.NodeID) leader.Health { return n.el.Health(id, now) },
	}
	if n.state != nil {
		in.candidates = memberIDs(n.state.Members)
	} else {
		in.candidates = n.el.Members()
	}
	for id := range n.lead.joins {
		in.joins[id] = true
	}
	for id, st := range n.peerStats {
		if len(st.leftover) > 0 {
			if in.leftover == nil {
				in.leftover = map[shard.NodeID][]int{}
			}
			in.leftover[id] = st.leftover
		}
	}
	p, kept := planPlacement(in)
	if p != nil && n.cfg.Replicas > p.next.Replicas {
		n.rareLog.Log("replicas", slog.LevelWarn, "fewer copies than --replicas: too few live members",
			"wanted", n.cfg.Replicas, "have", p.next.Replicas)
	}
	if kept > 0 {
		n.rareLog.Log("kept", slog.LevelWarn, "buckets unavailable until a holder that still has them comes back", "buckets", kept)
	}
	return p
}

// switchTo carries out a placement change: writes to the affected buckets
// wait; every replica of them copies what it lacks from the copies that
// count; the new state is installed on the members; then it is committed
// and the writes go on under it. Once the install has begun it is never
// abandoned while this node leads: some members may already act on it.
func (n *Node) switchTo(ctx context.Context, p *plan) error {
	epoch := p.next.Epoch()
	for _, b := range p.affected {
		n.gates[b].close()
	}
	defer func() {
		for _, b := range p.affected {
			n.gates[b].open()
		}
	}()
	n.mu.Lock()
	if n.lead == nil || n.el.Term() != p.next.Term {
		n.mu.Unlock()
		return wire.ErrNotLeader
	}
	n.lead.pending = epoch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.lead != nil {
			n.lead.pending = 0
		}
		n.mu.Unlock()
	}()

	start := time.Now()
	if err := n.runFills(ctx, p); err != nil {
		return fmt.Errorf("copying buckets: %w", err)
	}
	n.mu.Lock()
	allowed := n.el.SwitchAllowedAt()
	n.mu.Unlock()
	if err := sleepUntil(ctx, allowed); err != nil {
		return err
	}
	if err := n.installEverywhere(ctx, p.next); err != nil {
		return err
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil || n.el.Term() != p.next.Term {
		return wire.ErrNotLeader
	}
	n.saveStateLocked(p.next)
	n.state = p.next
	n.committed = epoch
	n.noteEpochLocked(epoch)
	n.el.SetMembers(memberIDs(p.next.Members))
	for _, m := range p.next.Members {
		delete(n.lead.joins, m.ID)
	}
	for id := range n.lead.leaving {
		if _, member := memberOf(p.next, id); !member {
			delete(n.lead.leaving, id)
		}
	}
	n.dropUnheldLocked()
	n.updateEligibleLocked()
	n.kickSync()
	n.syncSendersLocked(n.lead.ctx, n.lead.stream, p.next.Members)
	moved := len(shard.Moves(p.base, p.next.Table))
	n.metrics.bucketMoves.Add(float64(moved))
	fields := append([]any{"epoch", epoch, "term", p.next.Term, "members", len(p.next.Members),
		"replicas", p.next.Replicas, "copies_moved", moved, "took", time.Since(start).Round(time.Millisecond)}, p.why...)
	n.log.Info("placement committed", fields...)
	return nil
}

// runFills tells every replica of every affected bucket to copy it from the
// copies that count, all nodes at once, and waits for all of them.
func (n *Node) runFills(ctx context.Context, p *plan) error {
	oldReplicas := func(b int) []shard.NodeID {
		if p.old == nil {
			return nil
		}
		return p.old.Table.Replicas(b)
	}
	// A source's address is its newest: a node that restarted from its
	// data directory (same ID and incarnation, so its copies count) may
	// have come back at another address. A leaver is in the old state only.
	source := func(id shard.NodeID) (wire.Member, bool) {
		if m, ok := memberOf(p.next, id); ok {
			return m, true
		}
		return memberOf(p.old, id)
	}
	byNode, lost := replication.FillPlan(p.affected, p.base, p.next.Table, oldReplicas, source)
	for _, b := range lost {
		n.log.Error("every holder of a bucket restarted or left: its data is lost", "bucket", b, "had", fmtIDs(oldReplicas(b)))
	}

	ctx, cancel := context.WithTimeout(ctx, n.cfg.FillTimeout)
	defer cancel()
	errs := make(chan error, len(byNode))
	for id, items := range byNode {
		go func() {
			if id == n.cfg.ID {
				errs <- n.fill(ctx, fillStamp{p.next.Term, p.next.Epoch()}, items)
				return
			}
			m, _ := memberOf(p.next, id)
			_, err := n.call(ctx, m.Peer, &wire.Fill{Epoch: p.next.Epoch(), Buckets: items})
			if err != nil {
				err = fmt.Errorf("node %d: %w", id, err)
			}
			errs <- err
		}()
	}
	var first error
	for range byNode {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// installEverywhere installs s on every member that is not dead and waits
// until more than half of the members have it. Members that did not take
// it are then waited out: any read lease this leader granted them ends
// before s is committed.
func (n *Node) installEverywhere(ctx context.Context, s *wire.ClusterState) error {
	acked := map[shard.NodeID]bool{n.cfg.ID: true}
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		if n.lead == nil || n.el.Term() != s.Term {
			n.mu.Unlock()
			return wire.ErrNotLeader
		}
		now := time.Now()
		var targets []wire.Member
		for _, m := range s.Members {
			if !acked[m.ID] && n.el.Health(m.ID, now) != leader.Dead {
				targets = append(targets, m)
			}
		}
		if attempt == 0 {
			// Leaving nodes learn from the install that they are out.
			for id := range n.lead.leaving {
				if _, member := memberOf(s, id); !member && id != n.cfg.ID {
					targets = append(targets, n.known[id])
				}
			}
		}
		n.mu.Unlock()
		for _, id := range n.broadcastInstall(ctx, s, targets) {
			acked[id] = true
		}
		if len(acked) > len(s.Members)/2 {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(n.cfg.Election.HeartbeatInterval)); err != nil {
			return err
		}
	}
	n.mu.Lock()
	if n.lead == nil || n.el.Term() != s.Term {
		n.mu.Unlock()
		return wire.ErrNotLeader
	}
	waitUntil := time.Now()
	for _, m := range s.Members {
		if g, ok := n.lead.grants[m.ID]; ok && !acked[m.ID] {
			if until := g.Add(n.cfg.Election.ReadLease * 5 / 4); until.After(waitUntil) {
				waitUntil = until
			}
		}
	}
	n.mu.Unlock()
	return sleepUntil(ctx, waitUntil)
}

// broadcastInstall sends s to targets at once; it returns who took it.
func (n *Node) broadcastInstall(ctx context.Context, s *wire.ClusterState, targets []wire.Member) []shard.NodeID {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	ok := make(chan shard.NodeID, len(targets))
	for _, m := range targets {
		go func() {
			a, _, err := callFor[wire.InstallAck](ctx, n, m.Peer, &wire.Install{State: *s})
			if err == nil && a.Epoch >= s.Epoch() {
				ok <- m.ID
				return
			}
			ok <- 0
		}()
	}
	var out []shard.NodeID
	for range targets {
		if id := <-ok; id != 0 {
			out = append(out, id)
		}
	}
	return out
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
