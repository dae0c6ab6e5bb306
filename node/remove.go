package node

import (
	"context"
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// RemoveMember takes a dead member out of the cluster for good, for a node
// that will not come back (`jumpkv member remove`): the leader plans a
// table without it, re-replicating its copies from the others, and it is
// no longer listed. A bucket whose only copies were on it is re-placed
// empty. If the node returns, it joins again like a new one.
//
// It refuses (ErrBadRequest) a member this node does not see as dead, and
// this node itself; ErrNotFound for an ID that is not a member. A node
// that does not lead asks the leader. It returns once the leader has
// committed a table without the member, or ctx ends.
func (n *Node) RemoveMember(ctx context.Context, id shard.NodeID) error {
	now := time.Now()
	n.mu.Lock()
	err := n.checkRemovableLocked(id, now)
	leading := n.lead != nil
	if err == nil && leading {
		err = n.removeLocked(id, now)
	}
	addr := n.memberAddrLocked(n.el.Leader())
	n.mu.Unlock()
	switch {
	case err != nil:
		return err
	case !leading && addr == "":
		return wire.ErrNoLeader
	case !leading:
		if _, err := n.call(ctx, addr, &wire.Leave{ID: id, Remove: true}); err != nil {
			return err
		}
	}
	poll := time.NewTicker(n.cfg.Election.HeartbeatInterval)
	defer poll.Stop()
	for {
		n.mu.Lock()
		_, still := memberOf(n.state, id)
		n.mu.Unlock()
		if !still {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: node %d's removal was asked for but is not committed yet: %v", wire.ErrUnknownOutcome, id, ctx.Err())
		case <-poll.C:
		}
	}
}

// checkRemovableLocked refuses the removal of id unless it is a member
// this node sees dead (and not this node).
func (n *Node) checkRemovableLocked(id shard.NodeID, now time.Time) error {
	if _, member := memberOf(n.state, id); !member {
		return fmt.Errorf("%w: node %d is not a member", wire.ErrNotFound, id)
	}
	if id == n.cfg.ID {
		return fmt.Errorf("%w: node %d is the node asked: ask another one, once it is stopped", wire.ErrBadRequest, id)
	}
	if h := n.el.Health(id, now); h != leader.Dead {
		return fmt.Errorf("%w: node %d is %s: only a dead member can be removed (SIGTERM makes a node leave by itself)", wire.ErrBadRequest, id, h)
	}
	return nil
}

// removeLocked, as leader, takes the dead member id out of the next
// placement (as a member that leaves, whose copies no longer count).
func (n *Node) removeLocked(id shard.NodeID, now time.Time) error {
	if n.lead == nil {
		return wire.ErrNotLeader
	}
	if err := n.checkRemovableLocked(id, now); err != nil {
		return err
	}
	if n.el.Mode(now) != leader.LeadingReadWrite {
		return fmt.Errorf("%w (a member can be removed only while a majority is reachable)", n.readOnlyLocked(now))
	}
	n.log.Warn("removing a dead member on request: its copies no longer count", "id", uint64(id))
	n.markLeavingLocked(id)
	return nil
}
