package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// vote is one voter's answer.
type vote struct {
	from shard.NodeID
	resp *wire.VoteResp
}

// campaign runs a pre-vote and, if at least half of the members would
// vote, an election. Only one runs at a time (n.campaigning).
func (n *Node) campaign(ctx context.Context) {
	defer func() {
		n.mu.Lock()
		n.campaigning = false
		n.mu.Unlock()
	}()
	n.mu.Lock()
	term := n.el.PreVoteTerm(time.Now())
	voters := n.votersLocked()
	req := wire.Vote{Term: term, PreVote: true, Incarnation: n.cfg.Incarnation, Epoch: n.state.Epoch()}
	n.mu.Unlock()

	pre := n.askVotes(ctx, voters, &req)
	n.mu.Lock()
	ok := n.el.PreVotePassed(term, append(granted(pre), n.cfg.ID)) && n.el.BeginElection(term)
	n.mu.Unlock()
	if !ok {
		return
	}

	req.PreVote = false
	votes := n.askVotes(ctx, voters, &req)
	n.mu.Lock()
	defer n.mu.Unlock()
	grants := []leader.Grant{{From: n.cfg.ID}}
	for _, v := range votes {
		if v.resp.Granted {
			grants = append(grants, leader.Grant{From: v.from, AfterResign: v.resp.AfterResign})
		}
	}
	mode := n.el.FinishElection(term, grants, time.Now())
	if mode == leader.NotLeading {
		n.log.Debug("election lost", "term", term, "votes", len(grants), "members", len(n.el.Members()))
		return
	}
	n.becomeLeaderLocked(term, mode, votes)
}

// votersLocked returns the members to ask for votes (not this node).
func (n *Node) votersLocked() []wire.Member {
	var out []wire.Member
	for _, id := range n.el.Members() {
		if m, ok := n.known[id]; ok && id != n.cfg.ID && m.Peer != "" {
			out = append(out, m)
		}
	}
	return out
}

// askVotes sends req to every voter at once and returns the answers that
// came within a quarter of dead-after.
func (n *Node) askVotes(ctx context.Context, voters []wire.Member, req *wire.Vote) []vote {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DeadAfter/4)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []vote
	for _, m := range voters {
		wg.Go(func() {
			r, env, err := callFor[wire.VoteResp](ctx, n, m.Peer, req)
			if err == nil && shard.NodeID(env.From) == m.ID {
				mu.Lock()
				out = append(out, vote{from: m.ID, resp: r})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func granted(vs []vote) []shard.NodeID {
	var ids []shard.NodeID
	for _, v := range vs {
		if v.resp.Granted {
			ids = append(ids, v.from)
		}
	}
	return ids
}

// becomeLeaderLocked starts this node's leadership of term: it adopts the
// newest cluster state among its voters' (a new leader starts from the
// newest table a majority holds) and wakes the reconfigurator, which
// installs the term's first epoch before any write is taken.
func (n *Node) becomeLeaderLocked(term uint64, mode leader.Mode, votes []vote) {
	best := n.state
	for _, v := range votes {
		if !v.resp.Granted {
			continue
		}
		for _, m := range v.resp.Members {
			n.learnMemberLocked(m)
		}
		if s := v.resp.State; s != nil && s.Epoch() > best.Epoch() {
			best = s
		}
		n.noteEpochLocked(v.resp.State.Epoch())
	}
	if best != n.state {
		n.log.Info("adopting newer cluster state from a voter", "epoch", best.Epoch(), "had", n.state.Epoch())
		for _, m := range best.Members {
			n.learnMemberLocked(m)
		}
		n.saveStateLocked(best)
		n.state = best
		n.el.SetMembers(memberIDs(best.Members))
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.lead = &leaderState{
		term:    term,
		ctx:     ctx,
		cancel:  cancel,
		stream:  n.startStreamLocked(term),
		grants:  map[shard.NodeID]time.Time{},
		joins:   map[shard.NodeID]wire.Member{},
		leaving: map[shard.NodeID]bool{},
	}
	if n.state != nil {
		n.syncSendersLocked(ctx, n.lead.stream, n.state.Members)
	}
	n.seq.Store(0)
	what := "read-write"
	if mode == leader.LeadingReadOnly {
		what = "read-only (only half of the members voted)"
	}
	n.log.Info("leader elected", "leader", uint64(n.cfg.ID), "term", term, "mode", what)
	n.metrics.leaderChanges.Inc()
	n.kickReconfig()
}

// onVote answers a vote or pre-vote request.
func (n *Node) onVote(from shard.NodeID, v *wire.Vote) *wire.VoteResp {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	ok, reason := n.el.HandleVote(from, v.Term, v.PreVote, now)
	resp := &wire.VoteResp{Granted: ok, Reason: reason, AfterResign: n.el.VoteAfterResign(now)}
	if ok && !v.PreVote {
		n.log.Info("voted", "candidate", uint64(from), "term", v.Term)
		resp.State = n.state
		for _, m := range n.known {
			resp.Members = append(resp.Members, m)
		}
	}
	return resp
}

// preempt asks a lower leader to resign in favour of this node.
func (n *Node) preempt(ctx context.Context, addr string) {
	if _, err := n.call(ctx, addr, &wire.Preempt{}); err != nil {
		n.log.Debug("preemption refused", "err", err)
	}
}

// onPreempt resigns in favour of from when from is a higher member that is
// alive and caught up.
func (n *Node) onPreempt(from shard.NodeID) (wire.Message, error) {
	now := time.Now()
	n.mu.Lock()
	st, ok := n.peerStats[from]
	m, isMember := memberOf(n.state, from)
	if n.lead == nil || from <= n.cfg.ID || !isMember || !ok || !st.inSync ||
		st.epoch < n.committed || st.inc != m.Incarnation || n.el.Health(from, now) != leader.Alive {
		n.mu.Unlock()
		return nil, wire.ErrRefused
	}
	n.mu.Unlock()
	n.resign(fmt.Sprintf("in favour of higher node %d", from))
	return &wire.OK{}, nil
}

// onResign forgets a leader that resigned.
func (n *Node) onResign(from shard.NodeID, term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.el.Leader() == from {
		n.log.Info("leader resigned", "leader", uint64(from), "term", term)
	}
	n.el.OnResign(from, term, time.Now())
}
