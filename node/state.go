package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// onInstall adopts a cluster state sent by the leader of term.
func (n *Node) onInstall(from shard.NodeID, term uint64, s *wire.ClusterState) (wire.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkLeaderLocked(from, term); err != nil {
		return nil, err
	}
	if s.Epoch() < n.state.Epoch() {
		return nil, fmt.Errorf("%w: have epoch %d, offered %d", wire.ErrStaleEpoch, n.state.Epoch(), s.Epoch())
	}
	n.installLocked(s)
	return &wire.InstallAck{Epoch: n.state.Epoch()}, nil
}

// checkLeaderLocked accepts a request that only the leader of term may
// send: a follower that knows no leader of its current term yet takes the
// sender as that leader.
func (n *Node) checkLeaderLocked(from shard.NodeID, term uint64) error {
	switch {
	case term < n.el.Term():
		return fmt.Errorf("%w: request from term %d, this node is at %d", wire.ErrStaleTerm, term, n.el.Term())
	case n.el.Leader() == from:
		return nil
	case n.el.Leader() == 0 && n.el.Role() == leader.Follower:
		if ok, isNew := n.el.OnLeaderHeartbeat(from, term, leader.LeadingReadWrite, time.Now()); ok {
			if isNew {
				n.log.Info("leader elected", "leader", uint64(from), "term", term)
				n.metrics.leaderChanges.Inc()
				n.resetStream(term)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %d does not lead term %d here", wire.ErrNotLeader, from, term)
}

// installLocked makes s this node's installed state. Buckets it no longer
// holds are dropped only once s's epoch is known to be committed.
func (n *Node) installLocked(s *wire.ClusterState) {
	if s.Epoch() == n.state.Epoch() && n.state != nil {
		return
	}
	n.saveStateLocked(s) // before acting on it: an InstallAck means it is on disk
	n.state = s
	n.noteEpochLocked(s.Epoch())
	for _, m := range s.Members {
		n.learnMemberLocked(m)
	}
	n.el.SetMembers(memberIDs(s.Members))
	n.formed = true
	n.el.SetCampaignAllowed(n.recognisedLocked())
	n.dropUnheldLocked()
	n.updateEligibleLocked()
	n.kickSync()
}

// assignedLocked reports whether the installed state makes this process a
// replica of bucket b.
func (n *Node) assignedLocked(b int) bool {
	return n.state != nil && n.state.Table.Holds(b, n.cfg.ID) && n.recognisedLocked()
}

// dropUnheldLocked forgets the data of buckets this node is no longer
// assigned, once the installed epoch is the committed one. A bucket copied
// for an epoch not committed yet is kept: its table may still switch.
func (n *Node) dropUnheldLocked() {
	if n.state == nil || n.state.Epoch() != n.committed {
		return
	}
	for b, h := range n.held {
		if n.assignedLocked(b) || n.fillEpoch[b] > n.committed {
			continue
		}
		n.held[b] = false
		// The data goes too (also what a failed copy left behind), unless
		// it came from disk and may be placed back here (durable.go).
		if !n.keepLeftoverLocked(b) && (h || n.store.BucketStats(b) != (store.Stats{})) {
			n.store.Drop(b)
		}
	}
}

// inSyncLocked reports whether this node holds the data of every bucket
// the installed state assigns it, and that state is not behind.
func (n *Node) inSyncLocked() bool {
	if n.state == nil || n.state.Epoch() < n.committed || !n.recognisedLocked() {
		return false
	}
	for b := range n.held {
		if n.state.Table.Holds(b, n.cfg.ID) && !n.held[b] {
			return false
		}
	}
	return true
}

// updateEligibleLocked tells the elector whether this node may take over
// from a lower leader.
func (n *Node) updateEligibleLocked() {
	n.el.SetEligible(n.inSyncLocked() && !n.leaving)
}

// onGetState, as leader, returns the committed cluster state.
func (n *Node) onGetState() (wire.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil || n.state == nil {
		return nil, wire.ErrNotLeader
	}
	return &wire.State{State: *n.state}, nil
}

// fetchStateLocked fetches the leader's state in the background (once at a
// time) because this node's installed state is behind.
func (n *Node) fetchStateLocked() {
	if n.fetching || n.lead != nil {
		return
	}
	addr := n.memberAddrLocked(n.el.Leader())
	if addr == "" {
		return
	}
	n.fetching = true
	n.goRun(n.ctx, func(ctx context.Context) {
		defer func() {
			n.mu.Lock()
			n.fetching = false
			n.mu.Unlock()
		}()
		_ = n.fetchState(ctx, addr)
	})
}

// fetchState asks the leader at addr for its state and installs it.
func (n *Node) fetchState(ctx context.Context, addr string) error {
	st, env, err := callFor[wire.State](ctx, n, addr, &wire.GetState{})
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkLeaderLocked(shard.NodeID(env.From), env.Term); err != nil {
		return err
	}
	if st.State.Epoch() > n.state.Epoch() {
		n.installLocked(&st.State)
	}
	if st.State.Epoch() > n.committed {
		n.committed = st.State.Epoch()
	}
	n.dropUnheldLocked()
	n.updateEligibleLocked()
	return nil
}

// refreshState brings the installed state up to date with the leader's,
// for a request that found this node's table stale.
func (n *Node) refreshState(ctx context.Context) error {
	n.mu.Lock()
	leaderID := n.el.Leader()
	addr := n.memberAddrLocked(leaderID)
	leading := n.lead != nil
	n.mu.Unlock()
	switch {
	case leading:
		return nil
	case leaderID == 0 || addr == "":
		return wire.ErrNoLeader
	}
	err := n.fetchState(ctx, addr)
	if errors.Is(err, wire.ErrNotLeader) {
		return wire.ErrNoLeader
	}
	return err
}
