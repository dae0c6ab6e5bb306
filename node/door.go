package node

import (
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// The peer door: every message from a peer, request or answer, passes
// admit before any handler (or the election) sees it. It checks what can
// be checked of a message on its own: shapes, bounds, IDs, terms and
// versions. Handlers may then assume a well-formed message. What it cannot
// check (that a sender really is the leader of its term, say) the handlers
// still decide against the node's state.

// MaxTermAhead bounds how far ahead of this node a peer's term may be.
// Terms are microsecond clock readings (leader.PreVoteTerm), so a term more
// than this ahead of both this node's clock and the newest term it has seen
// cannot come from a node whose clock agrees with ours within this bound:
// it is refused and logged. One frame a day ahead once deposed a leader
// and left the cluster on a bogus term; one at 2^64-1 made term+1 wrap and
// stopped every election. Node clocks must agree within this bound (NTP
// keeps them within milliseconds).
const MaxTermAhead = time.Minute

// maxEpoch bounds table epochs from peers. Epochs count placement changes,
// one at most every few heartbeats, so no real cluster comes near it;
// below it, epoch+1 never wraps.
const maxEpoch = 1 << 48

// maxMembers bounds the members a peer's message may list.
const maxMembers = 4096

// maxAddr bounds a member's advertised addresses.
const maxAddr = 256

// maxContentType bounds a stored content type.
const maxContentType = 1024

// admit validates one message from the peer from, stamped with term, at
// now. A nil error means handlers may act on it.
func (n *Node) admit(from, term uint64, msg wire.Message, now time.Time) error {
	if _, refusal := msg.(*wire.ErrorMsg); from == 0 && !refusal {
		// (An error answer may come before the sender is known: a peer
		// that refuses this node without a cluster secret says so
		// unauthenticated.)
		return fmt.Errorf("%w: a message without a sender ID", wire.ErrBadRequest)
	}
	if err := n.checkTerm(term, now); err != nil {
		return err
	}
	return n.checkShape(shard.NodeID(from), term, msg, now)
}

// checkTerm refuses a term too far ahead (see MaxTermAhead).
func (n *Node) checkTerm(term uint64, now time.Time) error {
	ceiling := max(n.el.Term(), uint64(max(now.UnixMicro(), 0))) + uint64(MaxTermAhead.Microseconds())
	if term > ceiling {
		return fmt.Errorf("%w: term %d is more than %v ahead of this node's clock and newest term", wire.ErrBadRequest, term, MaxTermAhead)
	}
	return nil
}

// checkShape checks one message's fields against the node's limits.
func (n *Node) checkShape(from shard.NodeID, term uint64, msg wire.Message, now time.Time) error {
	switch m := msg.(type) {
	case *wire.Heartbeat:
		return n.checkHeartbeat(from, m)
	case *wire.HeartbeatAck:
		return n.checkHeartbeat(from, &m.Heartbeat)
	case *wire.Hello:
		return n.checkSelf(from, m.Self)
	case *wire.HelloResp:
		if err := n.checkSelf(from, m.Self); err != nil {
			return err
		}
		if m.Epoch > maxEpoch {
			return fmt.Errorf("%w: epoch %d", wire.ErrBadRequest, m.Epoch)
		}
		return checkMembers(m.Members)
	case *wire.Vote:
		if m.Epoch > maxEpoch {
			return fmt.Errorf("%w: epoch %d", wire.ErrBadRequest, m.Epoch)
		}
		return n.checkTerm(m.Term, now)
	case *wire.VoteResp:
		if m.State != nil {
			if err := n.checkState(m.State, now); err != nil {
				return err
			}
		}
		return checkMembers(m.Members)
	case *wire.Join:
		return n.checkSelf(from, m.Member)
	case *wire.Leave:
		if m.ID != from && !m.Remove {
			return fmt.Errorf("%w: node %d cannot leave for node %d", wire.ErrRefused, from, m.ID)
		}
	case *wire.Install:
		if m.State.Leader != from || m.State.Term != term {
			return fmt.Errorf("%w: a state of leader %d term %d sent by %d at term %d", wire.ErrBadRequest, m.State.Leader, m.State.Term, from, term)
		}
		return n.checkState(&m.State, now)
	case *wire.State:
		return n.checkState(&m.State, now)
	case *wire.InstallAck:
		if m.Epoch > maxEpoch {
			return fmt.Errorf("%w: epoch %d", wire.ErrBadRequest, m.Epoch)
		}
	case *wire.Fill:
		if m.Epoch > maxEpoch || len(m.Buckets) > n.cfg.Buckets {
			return fmt.Errorf("%w: fill of %d buckets for epoch %d", wire.ErrBadRequest, len(m.Buckets), m.Epoch)
		}
		for _, fb := range m.Buckets {
			if err := n.checkBucket(fb.Bucket); err != nil {
				return err
			}
			if err := checkMembers(fb.Sources); err != nil {
				return err
			}
		}
	case *wire.Pull:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		return n.checkKeyBound(m.After)
	case *wire.Chunk:
		return n.checkEntries(term, m.Entries)
	case *wire.Digests:
		return n.checkBuckets(m.Buckets)
	case *wire.Replicate:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		return n.checkEntries(term, []store.Entry{m.Entry})
	case *wire.ReplicateBatch:
		if len(m.Items) == 0 || len(m.Items) > maxBatchItems {
			return fmt.Errorf("%w: a batch of %d writes: want 1 to %d", wire.ErrBadRequest, len(m.Items), maxBatchItems)
		}
		// Each write's own fields are checked with it (onReplicateBatch):
		// one refused write must not refuse the others.
		for i := range m.Items {
			if err := n.checkBucket(m.Items[i].Bucket); err != nil {
				return err
			}
		}
	case *wire.ReplicateBatchAck:
		if len(m.Results) > maxBatchItems {
			return fmt.Errorf("%w: %d answers to a batch: at most %d", wire.ErrBadRequest, len(m.Results), maxBatchItems)
		}
	case *wire.Read:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		return n.checkKey(m.Key)
	case *wire.ReadResp:
		if m.Found {
			return n.checkEntries(term, []store.Entry{m.Entry})
		}
	case *wire.ReadBatch:
		if len(m.Reads) == 0 || len(m.Reads) > maxBatchItems {
			return fmt.Errorf("%w: a batch of %d reads: want 1 to %d", wire.ErrBadRequest, len(m.Reads), maxBatchItems)
		}
		// Each read's key is checked with it (onReadBatch): one refused
		// read must not refuse the others.
		for i := range m.Reads {
			r := &m.Reads[i]
			if err := n.checkBucket(r.Bucket); err != nil {
				return err
			}
			if r.ViaLeader || r.Acting || r.Raw {
				return fmt.Errorf("%w: only plain reads of a primary travel in a batch", wire.ErrBadRequest)
			}
		}
	case *wire.ReadBatchResp:
		if len(m.Results) > maxBatchItems {
			return fmt.Errorf("%w: %d answers to a batch: at most %d", wire.ErrBadRequest, len(m.Results), maxBatchItems)
		}
		for i := range m.Results {
			if r := &m.Results[i]; r.Found {
				if err := n.checkEntries(term, []store.Entry{r.Entry}); err != nil {
					return err
				}
			}
		}
	case *wire.Forward:
		return n.checkOp(&m.Op)
	case *wire.ForwardBatch:
		if len(m.Ops) == 0 || len(m.Ops) > maxBatchItems {
			return fmt.Errorf("%w: a batch of %d writes: want 1 to %d", wire.ErrBadRequest, len(m.Ops), maxBatchItems)
		}
		// Each write is checked with it (WriteMany): one refused write
		// must not refuse the others.
	case *wire.ForwardBatchResp:
		if len(m.Results) > maxBatchItems {
			return fmt.Errorf("%w: %d answers to a batch: at most %d", wire.ErrBadRequest, len(m.Results), maxBatchItems)
		}
	case *wire.List:
		if err := n.checkBuckets(m.Buckets); err != nil {
			return err
		}
		if err := n.checkKeyBound(m.Prefix); err != nil {
			return err
		}
		return n.checkKeyBound(m.After)
	case *wire.Summary:
		return n.checkBucket(m.Bucket)
	case *wire.Fetch:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		for _, k := range m.Keys {
			if err := n.checkKeyBound(k); err != nil {
				return err
			}
		}
	case *wire.Repair:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		return n.checkEntries(term, m.Entries)
	case *wire.Purge:
		if err := n.checkBucket(m.Bucket); err != nil {
			return err
		}
		for _, kv := range m.Keys {
			if err := n.checkKeyBound(kv.Key); err != nil {
				return err
			}
		}
	case *wire.Events:
		if err := n.checkTerm(m.Term, now); err != nil {
			return err
		}
		for _, e := range m.Events {
			if e.Reset {
				continue
			}
			if err := n.checkEntries(m.Term, []store.Entry{{Key: e.Key, Value: e.Value, Version: e.Version}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *Node) checkHeartbeat(from shard.NodeID, hb *wire.Heartbeat) error {
	if err := n.checkSelf(from, hb.Self); err != nil {
		return err
	}
	switch {
	case hb.Epoch > maxEpoch || hb.Committed > maxEpoch:
		return fmt.Errorf("%w: epoch %d, committed %d", wire.ErrBadRequest, hb.Epoch, hb.Committed)
	case hb.Leading > 2:
		return fmt.Errorf("%w: leading mode %d", wire.ErrBadRequest, hb.Leading)
	}
	return n.checkBuckets(hb.Leftover)
}

// checkSelf checks a sender's description of itself.
func (n *Node) checkSelf(from shard.NodeID, m wire.Member) error {
	if m.ID != from {
		return fmt.Errorf("%w: node %d speaks for node %d", wire.ErrRefused, from, m.ID)
	}
	return checkMember(m)
}

func checkMember(m wire.Member) error {
	if m.ID == 0 || m.Peer == "" || len(m.Peer) > maxAddr || len(m.HTTP) > maxAddr {
		return fmt.Errorf("%w: member %d with peer address %.64q", wire.ErrBadRequest, m.ID, m.Peer)
	}
	return nil
}

func checkMembers(ms []wire.Member) error {
	if len(ms) > maxMembers {
		return fmt.Errorf("%w: %d members", wire.ErrBadRequest, len(ms))
	}
	for _, m := range ms {
		if err := checkMember(m); err != nil {
			return err
		}
	}
	return nil
}

// checkState checks a cluster state's shape: a table of exactly this
// cluster's bucket count, each bucket placed on distinct members, epochs
// in order, a term not from the future.
func (n *Node) checkState(s *wire.ClusterState, now time.Time) error {
	if err := n.checkTerm(s.Term, now); err != nil {
		return err
	}
	return n.checkStateShape(s)
}

// checkStateShape checks a cluster state's shape (checkState without the
// term's bound, for a state read back from disk).
func (n *Node) checkStateShape(s *wire.ClusterState) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: cluster state of epoch %d: %s", wire.ErrBadRequest, s.Table.Epoch, fmt.Sprintf(format, args...))
	}
	if err := checkMembers(s.Members); err != nil {
		return err
	}
	t := &s.Table
	switch {
	case t.Epoch == 0 || t.Epoch > maxEpoch:
		return bad("epoch out of range")
	case len(t.Buckets) != n.cfg.Buckets || len(t.Since) != n.cfg.Buckets:
		return bad("%d buckets and %d epochs, this cluster has %d buckets", len(t.Buckets), len(t.Since), n.cfg.Buckets)
	case len(s.Members) == 0:
		return bad("no members")
	case s.Replicas < 0 || s.Replicas > len(s.Members):
		return bad("%d replicas of %d members", s.Replicas, len(s.Members))
	}
	ids := make(map[shard.NodeID]bool, len(s.Members))
	for _, m := range s.Members {
		if ids[m.ID] {
			return bad("member %d listed twice", m.ID)
		}
		ids[m.ID] = true
	}
	if !ids[s.Leader] {
		return bad("leader %d is not a member", s.Leader)
	}
	for b, reps := range t.Buckets {
		if t.Since[b] > t.Epoch {
			return bad("bucket %d assigned at epoch %d, after the table's", b, t.Since[b])
		}
		if len(reps) > len(s.Members) {
			return bad("bucket %d has %d replicas", b, len(reps))
		}
		for i, id := range reps {
			if !ids[id] {
				return bad("bucket %d placed on non-member %d", b, id)
			}
			for _, prev := range reps[:i] {
				if prev == id {
					return bad("bucket %d placed twice on %d", b, id)
				}
			}
		}
	}
	return nil
}

func (n *Node) checkBucket(b int) error {
	if b < 0 || b >= n.cfg.Buckets {
		return fmt.Errorf("%w: bucket %d out of range", wire.ErrBadRequest, b)
	}
	return nil
}

func (n *Node) checkBuckets(bs []int) error {
	if len(bs) > n.cfg.Buckets {
		return fmt.Errorf("%w: %d buckets asked of %d", wire.ErrBadRequest, len(bs), n.cfg.Buckets)
	}
	for _, b := range bs {
		if err := n.checkBucket(b); err != nil {
			return err
		}
	}
	return nil
}

// checkKeyBound checks a key-like string that may be empty (a prefix, a
// listing position).
func (n *Node) checkKeyBound(k string) error {
	if len(k) > n.cfg.MaxKey {
		return fmt.Errorf("%w: %d bytes, the limit is %d", wire.ErrKeyTooLong, len(k), n.cfg.MaxKey)
	}
	return nil
}

// checkEntries checks stored entries a peer sends: valid keys, values
// within the limit, and versions no newer than the term of the message
// that carries them (no node holds a version of a term it has not seen).
func (n *Node) checkEntries(term uint64, es []store.Entry) error {
	for i := range es {
		e := &es[i]
		if err := n.checkKey(e.Key); err != nil {
			return err
		}
		switch {
		case len(e.Value) > n.cfg.MaxValue:
			return fmt.Errorf("%w: value of %q is %d bytes, the limit is %d", wire.ErrTooLarge, e.Key, len(e.Value), n.cfg.MaxValue)
		case len(e.ContentType) > maxContentType:
			return fmt.Errorf("%w: content type of %q is %d bytes", wire.ErrBadRequest, e.Key, len(e.ContentType))
		case e.Version.IsZero() || e.Version.Term > term:
			return fmt.Errorf("%w: %q at version %s in a message of term %d", wire.ErrBadRequest, e.Key, e.Version, term)
		}
	}
	return nil
}
