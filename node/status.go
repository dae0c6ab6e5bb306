package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// Status is a node's own view of itself and the cluster (/admin/status).
type Status struct {
	ID             shard.NodeID   `json:"id"`
	Name           string         `json:"name,omitempty"`
	Role           string         `json:"role"`
	Leader         shard.NodeID   `json:"leader"`
	Term           uint64         `json:"term"`
	Epoch          uint64         `json:"epoch"`
	Keys           int64          `json:"keys"`
	BucketsPrimary int            `json:"buckets_primary"`
	BucketsBackup  int            `json:"buckets_backup"`
	Members        []MemberStatus `json:"members"`
	// Incarnation tells this process apart from earlier ones with the
	// same ID (it changes at every restart without a data directory).
	Incarnation uint64 `json:"incarnation"`
	// InSync: this node holds every bucket copy it is assigned.
	InSync bool `json:"in_sync"`
	// Mode is the leader's mode as this node knows it: read-write,
	// read-only (exactly half of the members reachable: writes are
	// refused) or no-quorum; empty while no leader is known.
	Mode string `json:"mode,omitempty"`
	// Durability: the data directory ("" in memory only) and the fsync
	// mode of its log, with the log's size.
	DataDir  string `json:"data_dir"`
	Fsync    string `json:"fsync,omitempty"`
	LogBytes int64  `json:"log_bytes,omitempty"`
	// Memory: the data held, as counted against the limit (0: none).
	MemoryUsed  int64 `json:"memory_used"`
	MemoryLimit int64 `json:"memory_limit"`
}

// MemberStatus is a member as this node sees it.
type MemberStatus struct {
	ID    shard.NodeID `json:"id"`
	Name  string       `json:"name,omitempty"`
	Peer  string       `json:"peer"`
	HTTP  string       `json:"http"`
	State string       `json:"state"`
}

// Leader returns the leader this node follows (itself when leading), or 0.
func (n *Node) Leader() shard.NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.el.Leader()
}

// Term returns the newest term this node has seen.
func (n *Node) Term() uint64 { return n.el.Term() }

// Status returns this node's own view.
func (n *Node) Status() Status {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Status{
		ID:          n.cfg.ID,
		Name:        n.cfg.Name,
		Role:        n.el.Role().String(),
		Leader:      n.el.Leader(),
		Term:        n.el.Term(),
		Epoch:       n.state.Epoch(),
		Keys:        n.heldKeysLocked(),
		Incarnation: n.cfg.Incarnation,
		InSync:      n.inSyncLocked(),
		DataDir:     n.cfg.DataDir,
		MemoryUsed:  n.memoryUsed(),
		MemoryLimit: n.cfg.MaxMemory,
	}
	if n.persist != nil {
		st, _, _ := n.persist.Stats()
		s.Fsync, s.LogBytes = st.Fsync.String(), st.LogBytes+st.SnapshotBytes
	}
	if n.el.Leader() != 0 {
		s.Mode = modeName(n.el.LeaderMode(now))
	}
	if n.state != nil {
		s.BucketsPrimary, s.BucketsBackup = n.state.Table.Counts(n.cfg.ID)
	}
	for _, id := range n.el.Members() {
		m := n.self
		if id != n.cfg.ID {
			m = n.known[id]
		}
		s.Members = append(s.Members, MemberStatus{ID: id, Name: m.Name, Peer: m.Peer, HTTP: m.HTTP, State: n.el.Health(id, now).String()})
	}
	return s
}

func modeName(m leader.Mode) string {
	switch m {
	case leader.LeadingReadWrite:
		return "read-write"
	case leader.LeadingReadOnly:
		return "read-only"
	}
	return "no-quorum"
}

// Ready reports whether a leader is known and this node holds every bucket
// it is assigned; when not, it says why. A ready node of a read-only
// cluster (exactly half of the members reachable) says that: it serves
// reads, and refuses writes.
func (n *Node) Ready() (bool, string) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.el.Leader() == 0:
		return false, "no leader known"
	case n.state == nil:
		return false, "no placement table installed yet"
	case !n.inSyncLocked():
		return false, "this node's buckets are not in sync"
	case n.el.LeaderMode(now) == leader.LeadingReadOnly:
		return true, n.readOnlyLocked(now).Error()
	}
	return true, ""
}

// readOnlyError refuses a write while the cluster is read-only, saying how
// many members are reachable. It wraps wire.ErrReadOnly.
type readOnlyError struct{ reachable, members int }

func (e *readOnlyError) Error() string {
	return fmt.Sprintf("read-only: %d of %d members reachable, writes need a majority (%d)", e.reachable, e.members, e.members/2+1)
}

func (e *readOnlyError) Unwrap() error { return wire.ErrReadOnly }

// readOnlyLocked returns the refusal of a write in a read-only cluster,
// counting the members this node hears.
func (n *Node) readOnlyLocked(now time.Time) *readOnlyError {
	members := n.el.Members()
	reachable := 0
	for _, id := range members {
		if id == n.cfg.ID || n.el.Health(id, now) != leader.Dead {
			reachable++
		}
	}
	return &readOnlyError{reachable: reachable, members: len(members)}
}

// Cluster returns the cluster overview: the leader's, or this node's own
// view when the leader cannot be asked.
func (n *Node) Cluster(ctx context.Context) (wire.ClusterInfo, error) {
	n.mu.Lock()
	leading := n.lead != nil
	addr := n.memberAddrLocked(n.el.Leader())
	n.mu.Unlock()
	if !leading && addr != "" {
		if ci, _, err := callFor[wire.ClusterInfo](ctx, n, addr, &wire.ClusterReq{}); err == nil {
			return *ci, nil
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clusterInfoLocked(time.Now()), nil
}

// onClusterReq answers, as leader, with the cluster overview.
func (n *Node) onClusterReq() (wire.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead == nil {
		return nil, wire.ErrNotLeader
	}
	ci := n.clusterInfoLocked(time.Now())
	return &ci, nil
}

func (n *Node) clusterInfoLocked(now time.Time) wire.ClusterInfo {
	ci := wire.ClusterInfo{
		Leader:  n.el.Leader(),
		Term:    n.el.Term(),
		Epoch:   n.state.Epoch(),
		Buckets: n.cfg.Buckets,
		Nodes:   []wire.NodeInfo{},
	}
	if n.state == nil {
		return ci
	}
	ci.Replicas = n.state.Replicas
	if ci.Leader != 0 {
		ci.Mode = modeName(n.el.LeaderMode(now))
		if ci.Mode == "read-only" {
			ci.Warnings = append(ci.Warnings, n.readOnlyLocked(now).Error())
		}
	}
	if want := n.cfg.Replicas; want > ci.Replicas {
		ci.ReplicasWanted = want
		ci.Warnings = append(ci.Warnings, fmt.Sprintf("replicas: wanted %d, have %d (%d members)", want, ci.Replicas, len(n.state.Members)))
	}
	for _, m := range n.state.Members {
		ni := wire.NodeInfo{ID: m.ID, Name: m.Name, HTTP: m.HTTP, Peer: m.Peer, State: n.el.Health(m.ID, now).String(), Role: "follower"}
		if m.ID == ci.Leader {
			ni.Role = "leader"
		}
		ni.BucketsPrimary, ni.BucketsBackup = n.state.Table.Counts(m.ID)
		if m.ID == n.cfg.ID {
			ni.Keys = n.heldKeysLocked()
		} else {
			ni.Keys = n.peerStats[m.ID].keys
		}
		ci.Nodes = append(ci.Nodes, ni)
	}
	return ci
}

// Placement returns a copy of the installed cluster state, or nil before
// the first. The dashboard and tests read the bucket map from it.
func (n *Node) Placement() *wire.ClusterState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == nil {
		return nil
	}
	s := *n.state
	s.Members = slices.Clone(s.Members)
	s.Table = s.Table.Clone()
	return &s
}

// Known returns the other nodes this one knows of and heartbeats: the
// members, the nodes asking to join, and departed nodes until they have
// been silent for dead-after.
func (n *Node) Known() []shard.NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := make([]shard.NodeID, 0, len(n.known))
	for id := range n.known {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// heldKeysLocked counts the live keys of the buckets this node holds:
// its copies, primary and backup. Data it keeps without holding (a copy
// being filled, or recovered from disk and not placed here: durable.go)
// is not counted.
func (n *Node) heldKeysLocked() int64 {
	if n.persist == nil {
		return n.store.Stats().Keys // memory only: nothing is kept unheld for long
	}
	var keys int64
	for b, h := range n.held {
		if h {
			keys += n.store.BucketStats(b).Keys
		}
	}
	return keys
}
