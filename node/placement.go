package node

import (
	"slices"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// placementInput is what a leader's placement decision depends on: a
// snapshot of its state taken under mu. planPlacement is a pure function
// of it.
type placementInput struct {
	self     wire.Member
	term     uint64
	buckets  int
	replicas int    // configured copies; 0 = auto
	maxEpoch uint64 // highest epoch seen anywhere
	old      *wire.ClusterState
	// candidates are the members to start from: the installed state's,
	// or the elector's at formation (old == nil).
	candidates []shard.NodeID
	known      map[shard.NodeID]wire.Member
	joins      map[shard.NodeID]bool // nodes asking to join
	leaving    map[shard.NodeID]bool // members handing off to leave
	health     func(shard.NodeID) leader.Health
	// leftover lists, by node, the buckets whose data it recovered from
	// its data directory without holding them now. Such a copy does not
	// count (it must be filled), but placing the bucket back there costs
	// only what changed, so the plan prefers it.
	leftover map[shard.NodeID][]int
}

// planPlacement returns the placement change the input calls for, or nil,
// and how many buckets it keeps where they were although no holder can be
// copied from now (see keepUnrecoverable).
func planPlacement(in placementInput) (*plan, int) {
	old := in.old
	members, why := nextMembers(in)
	var live []shard.NodeID
	for _, m := range members {
		if in.health(m.ID) != leader.Dead {
			live = append(live, m.ID)
		}
	}
	base := countedCopies(in, members, live)
	replicas := in.replicas
	if replicas == 0 {
		replicas = shard.AutoReplicas(len(live))
	}
	replicas = min(replicas, len(live))
	table := shard.Plan(withLeftovers(base, in.leftover, live), in.buckets, live, replicas)
	table.Epoch = max(in.maxEpoch, old.Epoch()) + 1
	kept := keepUnrecoverable(old, base, members, &table)
	var affected []int
	for b := range table.Buckets {
		// A bucket is affected when its replica list changes, or when a
		// copy in it no longer counts (a restarted node placed back where
		// it was must still be filled).
		if kept[b] || old != nil && slices.Equal(old.Table.Buckets[b], table.Buckets[b]) &&
			slices.Equal(base.Buckets[b], table.Buckets[b]) {
			table.Since[b] = old.Table.Since[b]
		} else {
			table.Since[b] = table.Epoch
			affected = append(affected, b)
		}
	}
	next := &wire.ClusterState{Term: in.term, Leader: in.self.ID, Members: members, Table: table, Replicas: replicas}
	if old != nil && old.Term == next.Term && old.Leader == next.Leader && old.Replicas == next.Replicas &&
		slices.Equal(old.Members, next.Members) && len(affected) == 0 {
		return nil, len(kept)
	}
	if len(affected) > 0 {
		why = append(why, "buckets_changed", len(affected))
	}
	return &plan{old: old, next: next, base: base, affected: affected, why: why}, len(kept)
}

// nextMembers returns the members the next state should have: the current
// ones (with their newest incarnation and addresses) but those leaving,
// plus joining nodes that are not dead, sorted by ID; and log fields
// saying what changed.
func nextMembers(in placementInput) ([]wire.Member, []any) {
	var why []any
	ids := slices.DeleteFunc(slices.Clone(in.candidates), func(id shard.NodeID) bool {
		if in.leaving[id] && id != in.self.ID {
			why = append(why, "leaving", uint64(id))
			return true
		}
		return false
	})
	for id := range in.joins {
		if !slices.Contains(ids, id) && in.health(id) != leader.Dead {
			ids = append(ids, id)
			why = append(why, "joining", uint64(id))
		}
	}
	slices.Sort(ids)
	out := make([]wire.Member, 0, len(ids))
	for _, id := range ids {
		m := in.self
		if id != in.self.ID {
			k, ok := in.known[id]
			if !ok {
				continue
			}
			m = k
		}
		if old, ok := memberOf(in.old, id); ok && old.Incarnation != m.Incarnation {
			why = append(why, "restarted", uint64(id))
		}
		out = append(out, m)
	}
	return out, why
}

// countedCopies returns the old table without the copies that no longer
// count: those of dead nodes, of non-members, and of nodes restarted since
// the table was made (they came back empty). A leaving node's copies still
// count while it lives: the nodes that take them over copy from it.
func countedCopies(in placementInput, members []wire.Member, live []shard.NodeID) shard.Table {
	if in.old == nil {
		return shard.Table{}
	}
	valid := map[shard.NodeID]bool{}
	for _, m := range members {
		if rec, ok := memberOf(in.old, m.ID); ok && rec.Incarnation == m.Incarnation && slices.Contains(live, m.ID) {
			valid[m.ID] = true
		}
	}
	for id := range in.leaving {
		if rec, ok := memberOf(in.old, id); ok && in.known[id].Incarnation == rec.Incarnation && in.health(id) != leader.Dead {
			valid[id] = true
		}
	}
	base := in.old.Table.Clone()
	for b, reps := range base.Buckets {
		base.Buckets[b] = slices.DeleteFunc(reps, func(id shard.NodeID) bool { return !valid[id] })
	}
	return base
}

// keepUnrecoverable leaves a bucket where it was when none of its copies
// can be copied from now but one may come back: a holder that is dead (or
// paused, or cut off) but has not restarted still has the data.
// Re-placing the bucket would throw it away; waiting keeps it unavailable
// until that holder returns. Only when every holder restarted or left is a
// bucket's data gone for good.
func keepUnrecoverable(old *wire.ClusterState, base shard.Table, members []wire.Member, table *shard.Table) map[int]bool {
	kept := map[int]bool{}
	if old == nil {
		return kept
	}
	incarnation := map[shard.NodeID]uint64{}
	for _, m := range members {
		incarnation[m.ID] = m.Incarnation
	}
	for b, had := range old.Table.Buckets {
		if len(had) == 0 || len(base.Buckets[b]) > 0 {
			continue
		}
		for _, id := range had {
			rec, _ := memberOf(old, id)
			if inc, ok := incarnation[id]; ok && inc == rec.Incarnation {
				table.Buckets[b] = slices.Clone(had) // wait for id to come back
				kept[b] = true
				break
			}
		}
	}
	return kept
}

// withLeftovers returns base with the live nodes' leftover copies added as
// if they were held, for shard.Plan (which keeps as many existing copies as
// balance allows): a node that comes back from its data directory is placed
// where its data already is. The copies still do not count: the fill
// plan and the affected buckets use base itself.
func withLeftovers(base shard.Table, leftover map[shard.NodeID][]int, live []shard.NodeID) shard.Table {
	if len(leftover) == 0 {
		return base
	}
	out := base.Clone()
	for _, id := range live {
		for _, b := range leftover[id] {
			if b >= 0 && b < len(out.Buckets) && !out.Holds(b, id) {
				out.Buckets[b] = append(out.Buckets[b], id)
			}
		}
	}
	return out
}
