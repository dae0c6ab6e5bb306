package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// discoverLoop finds the cluster named by --join. When some node already
// follows a leader, this node asks that leader to add it; when no node
// belongs to a cluster yet (a cluster starting), it forms one from the nodes
// that answered, once all of them have (or more than half, after
// dead-after). It ends when this node is a member of an installed state.
func (n *Node) discoverLoop(ctx context.Context) {
	view := newJoinView(n.cfg.Join, max(n.cfg.DeadAfter, minJoinSettle), time.Now())
	if len(n.cfg.Join) == 0 {
		n.mu.Lock()
		n.formLocked([]shard.NodeID{n.cfg.ID})
		n.mu.Unlock()
		return
	}
	t := time.NewTicker(max(2*n.cfg.Election.HeartbeatInterval, 20*time.Millisecond))
	defer t.Stop()
	for {
		if n.discoverOnce(ctx, view) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// discoverOnce greets every join address once; it reports whether this
// node has become a recognised member.
func (n *Node) discoverOnce(ctx context.Context, view *joinView) bool {
	addrs, unresolved := n.resolveJoin(ctx)
	settled := view.observe(addrs, unresolved, time.Now())
	answers, refused := n.greet(ctx, addrs)

	n.mu.Lock()
	answered := []shard.NodeID{n.cfg.ID}
	leaderID := n.el.Leader()
	existing := false // some node already belongs to a cluster
	var cluster []shard.NodeID
	var clusterEpoch uint64
	for _, a := range answers {
		n.learnMemberLocked(a.Self)
		for _, m := range a.Members {
			n.learnMemberLocked(m)
		}
		answered = append(answered, a.Self.ID)
		if leaderID == 0 && a.Leader != 0 && a.Leader != n.cfg.ID {
			leaderID = a.Leader // (this ID leading was this node before a restart)
		}
		existing = existing || a.Epoch > 0
		if a.Epoch > clusterEpoch {
			cluster, clusterEpoch = a.Cluster, a.Epoch
		}
	}
	if existing && leaderID == 0 && n.state == nil && slices.Contains(cluster, n.cfg.ID) {
		// This node belongs to a cluster that has lost its leader (maybe
		// this node, before it restarted): it may stand with the others.
		// Whoever wins starts from the newest state a majority holds.
		n.el.SetMembers(cluster)
		n.el.SetCampaignAllowed(true)
	}
	if n.recognisedLocked() {
		n.mu.Unlock()
		return true
	}
	if leaderID != 0 && leaderID != n.cfg.ID {
		addr := n.memberAddrLocked(leaderID)
		n.mu.Unlock()
		if addr != "" {
			n.join(ctx, addr)
		}
		return false
	}
	// A new cluster forms only from nodes that belong to none, and only
	// when more than half of the join list (counting this node) answered:
	// a node restarted while its cluster is unreachable must wait for it,
	// not start another.
	// A DNS name in the join list may not list every peer yet (a peer
	// starting at the same moment): the view must have settled first, or
	// nodes started together each form a cluster of their own. A name that
	// does not resolve counts as a node that has not answered, so a lone
	// node whose name is not in DNS yet does not form alone.
	quorum := len(answers)+1 > (len(addrs)+len(unresolved)+1)/2
	if !n.formed && leaderID == 0 && !refused && !existing && quorum && settled &&
		(len(answers) == len(addrs) || time.Since(view.start) >= n.cfg.DeadAfter) {
		n.formLocked(answered)
	}
	n.mu.Unlock()
	return false
}

// greet sends Hello to every address at once and returns the answers, and
// whether any node refused this one (it must then not form a cluster of
// its own).
func (n *Node) greet(ctx context.Context, addrs []string) ([]*wire.HelloResp, bool) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout/2)
	defer cancel()
	hello := &wire.Hello{Self: n.self, Buckets: n.cfg.Buckets}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []*wire.HelloResp
	refused := false
	for _, addr := range addrs {
		wg.Go(func() {
			r, _, err := callFor[wire.HelloResp](ctx, n, addr, hello)
			if errors.Is(err, wire.ErrRefused) {
				n.logRefusal(addr, err)
				mu.Lock()
				refused = true
				mu.Unlock()
				return
			}
			if err == nil && r.Self.ID != 0 {
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, refused
}

// logRefusal reports, at most once a minute per address, that a cluster
// member refused this node.
func (n *Node) logRefusal(addr string, err error) {
	n.rareLog.Log("refused:"+addr, slog.LevelError, "refused by a member of the cluster (repeated at most once a minute)", "addr", addr, "err", err)
}

// join asks the leader at addr to add this node.
func (n *Node) join(ctx context.Context, addr string) {
	_, err := n.call(ctx, addr, &wire.Join{Member: n.self, Buckets: n.cfg.Buckets})
	switch {
	case errors.Is(err, wire.ErrRefused):
		n.logRefusal(addr, err)
	case err != nil:
		n.log.Debug("join request failed", "leader", addr, "err", err)
	}
}

// formLocked ends formation: ids are the members a first leader places
// buckets on, and elections may start.
func (n *Node) formLocked(ids []shard.NodeID) {
	if n.formed {
		return
	}
	n.formed = true
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if n.state == nil {
		n.el.SetMembers(ids)
	}
	n.el.SetCampaignAllowed(true)
	n.log.Info("cluster formation", "members", fmtIDs(ids))
}

// resolveJoin expands the join list into peer addresses, without this
// node's own, and the DNS names that could not be resolved.
func (n *Node) resolveJoin(ctx context.Context) (out, unresolved []string) {
	for _, j := range n.cfg.Join {
		host, port, err := net.SplitHostPort(j)
		if err != nil {
			n.log.Warn("ignoring a --join entry that is not host:port", "entry", j)
			continue
		}
		hosts := []string{host}
		if net.ParseIP(host) == nil {
			if hosts, err = n.lookup(ctx, host); err != nil {
				unresolved = append(unresolved, host)
				// Routine while replicas start (a name lists a task or pod
				// only once it runs): info, not a warning.
				n.rareLog.Log("resolve:"+host, slog.LevelInfo, "cannot resolve a --join name yet; it counts as a node that has not answered (repeated at most once a minute)", "host", host, "err", err)
				continue
			}
		}
		for _, h := range hosts {
			if a := net.JoinHostPort(h, port); a != n.cfg.PeerAddr && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, unresolved
}

func (n *Node) lookup(ctx context.Context, host string) ([]string, error) {
	if n.cfg.Resolve != nil {
		return n.cfg.Resolve(host)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout/2)
	defer cancel()
	return net.DefaultResolver.LookupHost(ctx, host)
}

// onHello answers a node that greets this one.
func (n *Node) onHello(h *wire.Hello) (wire.Message, error) {
	if h.Buckets != n.cfg.Buckets {
		n.log.Error("refusing a node with another bucket count", "node", uint64(h.Self.ID), "its_buckets", h.Buckets, "buckets", n.cfg.Buckets)
		return nil, fmt.Errorf("%w: this cluster uses --buckets %d, the node has %d", wire.ErrRefused, n.cfg.Buckets, h.Buckets)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.learnMemberLocked(h.Self)
	resp := &wire.HelloResp{Self: n.self, Leader: n.el.Leader(), Epoch: n.state.Epoch()}
	if n.state != nil {
		resp.Cluster = memberIDs(n.state.Members)
	}
	for _, m := range n.known {
		resp.Members = append(resp.Members, m)
	}
	return resp, nil
}

// onJoin, as leader, takes a node into the cluster (or back, restarted).
func (n *Node) onJoin(j *wire.Join) (wire.Message, error) {
	if j.Buckets != n.cfg.Buckets {
		return nil, fmt.Errorf("%w: this cluster uses --buckets %d, the node has %d", wire.ErrRefused, n.cfg.Buckets, j.Buckets)
	}
	if j.Member.ID == 0 || j.Member.Peer == "" {
		return nil, fmt.Errorf("%w: join without an ID or peer address", wire.ErrBadRequest)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil {
		return nil, wire.ErrNotLeader
	}
	n.learnMemberLocked(j.Member)
	if m, ok := memberOf(n.state, j.Member.ID); ok && m == j.Member {
		return &wire.OK{}, nil
	}
	if _, ok := n.lead.joins[j.Member.ID]; !ok && !slices.Contains(n.el.Members(), j.Member.ID) {
		n.log.Info("node asks to join", "id", uint64(j.Member.ID), "peer", j.Member.Peer)
	}
	n.lead.joins[j.Member.ID] = j.Member
	delete(n.lead.leaving, j.Member.ID) // a node asking to join is not leaving
	n.kickReconfig()
	return &wire.OK{}, nil
}

// learnMemberLocked records a node's identity and addresses. A higher
// incarnation means the node restarted and lost its memory.
func (n *Node) learnMemberLocked(m wire.Member) {
	if m.ID == 0 || m.ID == n.cfg.ID || m.Peer == "" {
		return
	}
	old, ok := n.known[m.ID]
	if ok && (old == m || old.Incarnation > m.Incarnation) {
		return
	}
	n.known[m.ID] = m
	n.learnedAt[m.ID] = time.Now()
	if ok && old.Incarnation != m.Incarnation {
		n.log.Info("node restarted (new incarnation)", "id", uint64(m.ID), "incarnation", m.Incarnation)
		if n.lead != nil {
			n.kickReconfig()
		}
	}
}

// recognisedLocked reports whether the installed state counts this process
// (this incarnation) as a member.
func (n *Node) recognisedLocked() bool {
	m, ok := memberOf(n.state, n.cfg.ID)
	return ok && m.Incarnation == n.cfg.Incarnation
}

func memberIDs(ms []wire.Member) []shard.NodeID {
	ids := make([]shard.NodeID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func fmtIDs(ids []shard.NodeID) []uint64 {
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out
}

// minJoinSettle is the least time a DNS join view must stay the same
// before a node forms a cluster from it (the settle time is --dead-after,
// but not less): a DNS name's records reach every host within a moment
// (Swarm spreads them by gossip), and --dead-after lowered for a quicker
// failover must not make two nodes each settle on a view without the
// other.
const minJoinSettle = 2 * time.Second

// joinView tracks what the join list resolves to while a node looks for
// its cluster. A list of addresses is complete from the start. A DNS name
// lists peers as they start (a Swarm service, a headless Kubernetes
// Service), so a node started at the same moment as its peers may see only
// itself: the view counts as settled only once it has stayed the same for
// a settle time, measured from the start as well. The view is every
// address seen so far (a DNS server may answer with a different subset
// each time: the union changes only when it grows) and the names that do
// not resolve now.
type joinView struct {
	named   bool                // the join list holds a DNS name
	settle  time.Duration       // how long the view must stay the same
	start   time.Time           // when discovery began
	seen    map[string]struct{} // every address resolved so far
	last    []string            // the view last observed, sorted
	changed time.Time           // when it last changed
}

// newJoinView returns the view of a join list, discovery starting at now.
func newJoinView(join []string, settle time.Duration, now time.Time) *joinView {
	v := &joinView{settle: settle, start: now, changed: now, seen: map[string]struct{}{}}
	for _, j := range join {
		if host, _, err := net.SplitHostPort(j); err == nil && net.ParseIP(host) == nil {
			v.named = true
		}
	}
	return v
}

// observe records the addresses resolved at now and the names that did not
// resolve, and reports whether the view has settled: always for a list of
// addresses; with a DNS name, once neither the addresses seen nor the
// unresolved names have changed for the settle time.
func (v *joinView) observe(addrs, unresolved []string, now time.Time) bool {
	if !v.named {
		return true
	}
	for _, a := range addrs {
		v.seen[a] = struct{}{}
	}
	view := make([]string, 0, len(v.seen)+len(unresolved))
	for a := range v.seen {
		view = append(view, a)
	}
	for _, u := range unresolved {
		view = append(view, "?"+u) // no address starts with '?'
	}
	slices.Sort(view)
	if !slices.Equal(view, v.last) {
		v.last, v.changed = view, now
	}
	return now.Sub(v.changed) >= v.settle
}
