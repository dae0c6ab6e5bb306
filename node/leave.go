package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// Leave hands this node's buckets off and takes it out of the cluster, for
// a graceful shutdown: it stops standing for election (resigning first if
// it leads), asks the leader to move its buckets to the other members, and
// returns once a committed state no longer counts it, or ctx ends. The node
// keeps serving until then; stop it with Run's context afterwards.
func (n *Node) Leave(ctx context.Context) error {
	n.mu.Lock()
	n.leaving = true
	n.el.SetLeaving(n.cfg.ID, true)
	n.updateEligibleLocked()
	n.mu.Unlock()
	n.log.Info("leaving the cluster: handing buckets off")
	poll := time.NewTicker(n.cfg.Election.HeartbeatInterval)
	defer poll.Stop()
	for {
		done, err := n.leaveStep(ctx)
		if done {
			n.log.Info("left the cluster")
			return nil
		}
		if err != nil {
			n.log.Debug("leave: not yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leaving: %w (the cluster will re-replicate after --dead-after)", ctx.Err())
		case <-poll.C:
		}
	}
}

// leaveStep moves the leave forward once; it reports whether it is done.
func (n *Node) leaveStep(ctx context.Context) (bool, error) {
	n.mu.Lock()
	if n.state == nil || !n.recognisedLocked() {
		n.mu.Unlock()
		return true, nil
	}
	leading := n.lead != nil
	leaderID := n.el.Leader()
	addr := n.memberAddrLocked(leaderID)
	others := 0
	now := time.Now()
	for _, m := range n.state.Members {
		if m.ID != n.cfg.ID && n.el.Health(m.ID, now) != leader.Dead && !n.el.Leaving(m.ID) {
			others++
		}
	}
	n.mu.Unlock()
	switch {
	case others == 0:
		n.log.Warn("no other live member to hand buckets to: leaving with them")
		return true, nil
	case leading:
		n.resign("leaving the cluster")
		return false, nil
	case leaderID == 0 || addr == "":
		return false, wire.ErrNoLeader
	}
	if _, err := n.call(ctx, addr, &wire.Leave{ID: n.cfg.ID}); err != nil {
		return false, err
	}
	err := n.fetchState(ctx, addr)
	if errors.Is(err, wire.ErrNotLeader) {
		err = nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state != nil && !n.recognisedLocked(), err
}

// onLeave, as leader, starts moving a member's buckets to the others.
func (n *Node) onLeave(l *wire.Leave) (wire.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil {
		return nil, wire.ErrNotLeader
	}
	if l.Remove {
		if err := n.removeLocked(l.ID, time.Now()); err != nil {
			return nil, err
		}
		return &wire.OK{}, nil
	}
	if _, ok := memberOf(n.state, l.ID); !ok {
		return &wire.OK{}, nil
	}
	n.markLeavingLocked(l.ID)
	return &wire.OK{}, nil
}

// markLeavingLocked, as leader, takes a member out of the next placement.
// A node that is no longer a member is not marked: a leaver goes on
// heartbeating "leaving" for a moment after the placement that removed it
// commits, and a mark taken then outlived it, so that the same node,
// restarted and admitted again, was evicted by the next placement.
func (n *Node) markLeavingLocked(id shard.NodeID) {
	if _, member := memberOf(n.state, id); n.lead.leaving[id] || id == n.cfg.ID || !member {
		return
	}
	n.log.Info("node is leaving: moving its buckets", "id", uint64(id))
	n.lead.leaving[id] = true
	n.kickReconfig()
}

// resign steps down from leading so that another node is elected, and
// tells the members at once. First it stops taking writes (Write holds
// them until the successor takes over) and lets those in flight finish,
// for up to the write timeout: a write cut off by the resign would end
// with an unknown outcome.
func (n *Node) resign(why string) {
	n.mu.Lock()
	if n.lead == nil {
		n.mu.Unlock()
		return
	}
	lead := n.lead
	lead.handover = true
	n.mu.Unlock()
	drained := time.NewTimer(n.writeTimeout())
	defer drained.Stop()
	poll := time.NewTicker(n.cfg.Election.HeartbeatInterval / 10)
	defer poll.Stop()
drain:
	for lead.inflight.Load() > 0 {
		select {
		case <-drained.C:
			n.log.Warn("resigning with writes still in flight", "writes", lead.inflight.Load())
			break drain
		case <-poll.C:
		}
	}
	n.mu.Lock()
	if n.lead != lead {
		n.mu.Unlock()
		return // the leadership ended meanwhile
	}
	term := n.el.Term()
	n.el.Resign(time.Now())
	n.endLeadershipLocked()
	voters := n.votersLocked()
	ctx := n.ctx
	n.mu.Unlock()
	n.log.Info("resigning", "why", why, "term", term)
	n.broadcastResign(ctx, voters)
}

// broadcastResign tells voters this node stopped leading, in the background.
func (n *Node) broadcastResign(ctx context.Context, voters []wire.Member) {
	n.goRun(ctx, func(ctx context.Context) {
		done := make(chan struct{}, len(voters))
		for _, v := range voters {
			go func() {
				_, _ = n.call(ctx, v.Peer, &wire.Resign{})
				done <- struct{}{}
			}()
		}
		for range voters {
			<-done
		}
	})
}
