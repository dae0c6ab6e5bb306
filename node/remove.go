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
	_, member := memberOf(n.state, id)
	health := n.el.Health(id, now)
	leading := n.lead != nil
	addr := n.memberAddrLocked(n.el.Leader())
	n.mu.Unlock()
	switch {
	case !member:
		return fmt.Errorf("%w: node %d is not a member", wire.ErrNotFound, id)
	case id == n.cfg.ID:
		return fmt.Errorf("%w: node %d is this node: remove it from another one, once it is stopped", wire.ErrBadRequest, id)
	case health != leader.Dead:
		return fmt.Errorf("%w: node %d is %s: only a dead member can be removed (stop it with SIGTERM to have it leave)", wire.ErrBadRequest, id, health)
	}
	if leading {
		n.mu.Lock()
		if n.lead != nil && n.el.Mode(now) == leader.LeadingReadOnly {
			err := n.readOnlyLocked(now)
			n.mu.Unlock()
			return fmt.Errorf("%w (a member is removed only with a majority reachable)", err)
		}
		if n.lead != nil {
			n.log.Warn("removing a dead member on request", "id", uint64(id))
			n.markLeavingLocked(id)
		}
		n.mu.Unlock()
	} else {
		if addr == "" {
			return wire.ErrNoLeader
		}
		if _, err := n.call(ctx, addr, &wire.Leave{ID: id}); err != nil {
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
			return fmt.Errorf("%w: node %d's removal was asked for but not yet committed: %v", wire.ErrUnknownOutcome, id, ctx.Err())
		case <-poll.C:
		}
	}
}
