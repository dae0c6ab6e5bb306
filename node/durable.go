package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/persist"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// Durability (Config.DataDir). Every change to the store is logged before
// it is applied to memory (persist.Durable), so a replica acknowledges only
// what its log holds (on disk under --fsync always). A node restarted from
// its data directory comes back as itself: the same ID and incarnation (so
// the leader counts its copies again), its entries, the cluster state it
// last installed and the buckets it held completely. Data it recovered for
// buckets it no longer holds is kept for Config.LeftoverGrace, so that a
// node placed back where it was copies only what changed (fill.go).

// openData opens cfg's data directory into mem and settles the node's
// identity: the directory's, when it has one (an --id that differs is
// refused), else cfg's, which is recorded.
func openData(cfg *Config, explicitID bool, mem *store.Store, observeFsync func(time.Duration)) (*persist.Durable, persist.Recovered, error) {
	pc := persist.DefaultConfig(cfg.DataDir, cfg.Buckets)
	pc.Log.ObserveFsync = observeFsync
	pc.Log.Fsync = cfg.Fsync
	pc.Log.FS = cfg.DataFS
	pc.Log.MaxRecord = max(pc.Log.MaxRecord, cfg.MaxFrame())
	pc.Logger = cfg.Logger
	start := time.Now()
	d, rec, dir, err := openSlot(pc, cfg.DataDir, mem)
	if err != nil {
		return nil, persist.Recovered{}, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dir
	switch id := shard.NodeID(rec.Identity.ID); {
	case id != 0 && explicitID && id != cfg.ID:
		_ = d.Close()
		return nil, persist.Recovered{}, fmt.Errorf("--data-dir %s belongs to node %d, not --id %d: give each node its own directory", cfg.DataDir, id, cfg.ID)
	case id != 0:
		cfg.ID, cfg.Incarnation, cfg.Election.ID = id, rec.Identity.Incarnation, id
	default:
		if err := d.SaveIdentity(persist.Identity{ID: uint64(cfg.ID), Incarnation: cfg.Incarnation}); err != nil {
			_ = d.Close()
			return nil, persist.Recovered{}, fmt.Errorf("--data-dir %s: recording the node's identity: %w", cfg.DataDir, err)
		}
	}
	fields := []any{"dir", cfg.DataDir, "fsync", cfg.Fsync.String(), "node", uint64(cfg.ID), "entries", rec.Entries,
		"keys", mem.Stats().Keys, "took", time.Since(start).Round(time.Millisecond)}
	if t := rec.Log.Torn; t != nil {
		fields = append(fields, "torn_record_bytes", t.Bytes, "torn_file", t.File, "torn_offset", t.Offset)
	}
	cfg.Logger.Info("data directory opened", fields...)
	return d, rec, nil
}

// SlotPlaceholder in a data directory path is replaced by the first slot
// number (1, 2, ...) whose directory no other process holds, so that the
// replicas of a scaled service sharing one volume each claim a directory
// of their own (docker-compose.yml uses /data/node-{slot}). A directory
// carries its node's identity, so whichever replica claims it comes back
// as that node, with its data.
const SlotPlaceholder = "{slot}"

// maxSlots bounds the slots tried.
const maxSlots = 1024

// openSlot opens dir, or with SlotPlaceholder in it the first free slot,
// and returns the directory it opened.
func openSlot(pc persist.Config, dir string, mem *store.Store) (*persist.Durable, persist.Recovered, string, error) {
	if !strings.Contains(dir, SlotPlaceholder) {
		pc.Log.Dir = dir
		d, rec, err := persist.Open(pc, mem)
		return d, rec, dir, err
	}
	for slot := 1; slot <= maxSlots; slot++ {
		pc.Log.Dir = strings.ReplaceAll(dir, SlotPlaceholder, strconv.Itoa(slot))
		d, rec, err := persist.Open(pc, mem)
		if !errors.Is(err, wal.ErrLocked) {
			return d, rec, pc.Log.Dir, err
		}
	}
	return nil, persist.Recovered{}, "", fmt.Errorf("all %d slots are held by other processes", maxSlots)
}

// restore makes what the data directory held this node's own: the state it
// last installed, the buckets that state gives it and it held completely,
// and the newest term it has seen (no lower than any version it holds).
func (n *Node) restore(rec persist.Recovered) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.restarted = time.Now()
	term := rec.MaxTerm
	if rec.State != nil {
		msg, err := wire.Decode(wire.TypeState, rec.State)
		st, ok := msg.(*wire.State)
		if err == nil && !ok {
			err = fmt.Errorf("%w: not a state", wire.ErrBadFrame)
		}
		if err == nil {
			err = n.checkStateShape(&st.State)
		}
		if err != nil {
			return fmt.Errorf("--data-dir %s: the recorded cluster state is damaged: %w", n.cfg.DataDir, err)
		}
		s := &st.State
		n.state = s
		n.noteEpochLocked(s.Epoch())
		for _, m := range s.Members {
			n.learnMemberLocked(m)
		}
		n.el.SetMembers(memberIDs(s.Members))
		n.formed = true
		recognised := n.recognisedLocked()
		n.el.SetCampaignAllowed(recognised)
		for b := range n.held {
			n.held[b] = recognised && rec.Held[b] && s.Table.Holds(b, n.cfg.ID)
		}
		term = max(term, s.Term)
	}
	held := 0
	for b := range n.held {
		if n.held[b] {
			held++
		}
		// Data from disk, held or not: should the bucket go elsewhere
		// while this node was away, it is kept for a while in case it
		// comes back here.
		n.leftover[b] = n.store.BucketStats(b) != (store.Stats{})
	}
	n.el.ObserveTerm(term)
	n.updateEligibleLocked()
	n.log.Info("restored from the data directory", "epoch", n.state.Epoch(), "term", term, "buckets_held", held,
		"keys", n.store.Stats().Keys)
	return nil
}

// keepLeftoverLocked reports whether bucket b's data, recovered from disk
// and not held, is still kept for a fill that may place it back here.
func (n *Node) keepLeftoverLocked(b int) bool {
	if !n.leftover[b] {
		return false
	}
	if time.Since(n.restarted) < n.cfg.LeftoverGrace {
		return true
	}
	n.leftover[b] = false
	return false
}

// leftoverBucketsLocked lists the buckets whose data this node recovered
// from disk, held or not (for the leader's placement: see
// placementInput.leftover; where this node's copy counts the hint changes
// nothing, and right after a restart this node cannot know yet which of
// its copies still count).
func (n *Node) leftoverBucketsLocked() []int {
	if n.persist == nil || time.Since(n.restarted) >= n.cfg.LeftoverGrace {
		return nil
	}
	var out []int
	for b, l := range n.leftover {
		if l {
			out = append(out, b)
		}
	}
	return out
}

// saveStateLocked records s, which this node is installing, in its data
// directory before it acts on it. A failure is logged: the state is still
// installed in memory, and the next install records a newer one.
func (n *Node) saveStateLocked(s *wire.ClusterState) {
	if n.persist == nil || s == nil {
		return
	}
	raw, err := wire.Encode(&wire.State{State: *s})
	if err == nil {
		err = n.persist.SaveState(raw)
	}
	if err != nil {
		n.log.Error("could not record the cluster state in the data directory", "epoch", s.Epoch(), "err", err)
	}
}

// markHeld records that this node's copy of bucket b is complete, before
// it counts as held.
func (n *Node) markHeld(b int) error {
	if n.persist == nil {
		return nil
	}
	return storageErr(n.persist.MarkHeld(b))
}

// applyChecked applies entries of bucket b if check, called under mu,
// allows them. With a data directory they are logged first (outside mu, so
// that writes to different keys share an fsync), then applied under mu if
// check still allows them: the check and the apply stay one step, as
// replication.FenceWrite requires.
func (n *Node) applyChecked(b int, es []store.Entry, check func() error) (applied bool, err error) {
	return n.applyCheckedAs(b, es, check, false)
}

// applyCheckedAs is applyChecked; inline, on a connection's reader, it
// does not wait for the disk or other writers: it returns
// transport.ErrWouldBlock, having changed nothing, when the data
// directory's log cannot take the entries at once (persist.TryAppend).
func (n *Node) applyCheckedAs(b int, es []store.Entry, check func() error, inline bool) (applied bool, err error) {
	if n.persist == nil {
		n.mu.Lock()
		defer n.mu.Unlock()
		if err := check(); err != nil {
			return false, err
		}
		for _, e := range es {
			applied = n.store.Apply(b, e) || applied
		}
		return applied, nil
	}
	n.mu.Lock()
	err = check()
	n.mu.Unlock()
	if err != nil {
		return false, err
	}
	apply := func() error {
		n.mu.Lock()
		defer n.mu.Unlock()
		if err := check(); err != nil {
			return err
		}
		for _, e := range es {
			applied = n.store.Apply(b, e) || applied
		}
		return nil
	}
	if inline {
		err = n.persist.TryAppend(b, es, apply)
		if errors.Is(err, wal.ErrWouldWait) {
			return false, transport.ErrWouldBlock
		}
	} else {
		err = n.persist.Append(b, es, apply)
	}
	return applied, storageErr(err)
}

// applyCopied applies entries copied into bucket b by a fill, which no
// lock guards (fill.go runs one copy of a bucket at a time).
func (n *Node) applyCopied(b int, es []store.Entry) error {
	apply := func() error {
		for _, e := range es {
			n.store.Apply(b, e)
		}
		return nil
	}
	if n.persist == nil {
		return apply()
	}
	return storageErr(n.persist.Append(b, es, apply))
}

// purgeTombstone removes key's tombstone at v from bucket b, logged first.
func (n *Node) purgeTombstone(b int, key string, v store.Version) (purged bool, err error) {
	apply := func() error {
		purged = n.store.PurgeTombstone(b, key, v)
		return nil
	}
	if n.persist == nil {
		return purged, apply()
	}
	return purged, storageErr(n.persist.Purge(b, key, v, apply))
}

// forget removes key's entry at v from bucket b, logged first.
func (n *Node) forget(b int, key string, v store.Version) error {
	apply := func() error {
		n.store.Forget(b, key, v)
		return nil
	}
	if n.persist == nil {
		return apply()
	}
	return storageErr(n.persist.Forget(b, key, v, apply))
}

// storageErr maps a data directory's refusal to the wire's: a full or
// failing disk is ErrInsufficientStorage (507), which the leader reports to
// the client; nothing was applied.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrNoSpace), errors.Is(err, wal.ErrIO):
		return fmt.Errorf("%w: the data directory refused a write: %v", wire.ErrInsufficientStorage, err)
	case errors.Is(err, wal.ErrClosed):
		return fmt.Errorf("%w: the node is stopping", wire.ErrUnavailable)
	}
	return err
}
