package node

import (
	"slices"
	"testing"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

func member(id shard.NodeID, inc uint64) wire.Member {
	return wire.Member{ID: id, Incarnation: inc, Peer: "p" + string(rune('0'+id))}
}

// placementFixture is a leader (node 3) of three nodes, 8 buckets.
func placementFixture() placementInput {
	known := map[shard.NodeID]wire.Member{1: member(1, 1), 2: member(2, 1)}
	return placementInput{
		self: member(3, 1), term: 7, buckets: 8, maxEpoch: 0,
		candidates: []shard.NodeID{1, 2, 3},
		known:      known,
		joins:      map[shard.NodeID]bool{},
		leaving:    map[shard.NodeID]bool{},
		health:     func(shard.NodeID) leader.Health { return leader.Alive },
	}
}

func healthOf(dead ...shard.NodeID) func(shard.NodeID) leader.Health {
	return func(id shard.NodeID) leader.Health {
		if slices.Contains(dead, id) {
			return leader.Dead
		}
		return leader.Alive
	}
}

func TestPlanPlacementFormsAndThenKeeps(t *testing.T) {
	in := placementFixture()
	p, kept := planPlacement(in)
	if p == nil || kept != 0 {
		t.Fatalf("formation: plan %v kept %d", p, kept)
	}
	if got := memberIDs(p.next.Members); !slices.Equal(got, []shard.NodeID{1, 2, 3}) {
		t.Fatalf("members %v", got)
	}
	if p.next.Replicas != 2 || p.next.Epoch() != 1 || len(p.affected) != 8 || p.next.Term != 7 || p.next.Leader != 3 {
		t.Fatalf("formation: replicas %d epoch %d affected %d term %d leader %d",
			p.next.Replicas, p.next.Epoch(), len(p.affected), p.next.Term, p.next.Leader)
	}
	for b, reps := range p.next.Table.Buckets {
		if len(reps) != 2 || p.next.Table.Since[b] != 1 {
			t.Fatalf("bucket %d: replicas %v since %d", b, reps, p.next.Table.Since[b])
		}
	}
	// Nothing changed since: no plan.
	in.old, in.maxEpoch = p.next, 1
	if again, _ := planPlacement(in); again != nil {
		t.Fatalf("steady state planned %v", again.why)
	}
	// A new term re-installs the same table without moving a bucket.
	in.term = 8
	p2, _ := planPlacement(in)
	if p2 == nil || len(p2.affected) != 0 || p2.next.Epoch() != 2 {
		t.Fatalf("new term: %+v", p2)
	}
}

func TestPlanPlacementReplacesDeadAndRestartedCopies(t *testing.T) {
	in := placementFixture()
	first, _ := planPlacement(in)
	in.old, in.maxEpoch = first.next, 1

	dead := in
	dead.health = healthOf(2)
	p, _ := planPlacement(dead)
	if p == nil || p.base.Holds(0, 2) && first.next.Table.Holds(0, 2) {
		t.Fatalf("dead node's copies still count: %+v", p)
	}
	for b, reps := range p.next.Table.Buckets {
		if slices.Contains(reps, 2) {
			t.Fatalf("bucket %d placed on the dead node: %v", b, reps)
		}
		if first.next.Table.Holds(b, 2) && !slices.Contains(p.affected, b) {
			t.Fatalf("bucket %d lost a copy on the dead node but is not re-replicated", b)
		}
	}

	restarted := in
	restarted.known = map[shard.NodeID]wire.Member{1: member(1, 1), 2: member(2, 2)}
	p, _ = planPlacement(restarted)
	if p == nil || !slices.Contains(p.why, any("restarted")) {
		t.Fatalf("restart not planned: %+v", p)
	}
	for b := range p.next.Table.Buckets {
		if first.next.Table.Holds(b, 2) && !slices.Contains(p.affected, b) {
			t.Fatalf("bucket %d: the restarted node's empty copy must be refilled", b)
		}
	}
}

func TestPlanPlacementWaitsForAHolderThatMayComeBack(t *testing.T) {
	in := placementFixture()
	in.replicas = 1
	first, _ := planPlacement(in)
	in.old, in.maxEpoch = first.next, 1
	in.health = healthOf(1) // dead, not restarted: it still has its data
	p, kept := planPlacement(in)
	held1, _ := first.next.Table.Counts(1)
	if kept != held1 || kept == 0 {
		t.Fatalf("kept %d buckets, want node 1's %d", kept, held1)
	}
	for b := range first.next.Table.Buckets {
		if first.next.Table.Holds(b, 1) && (p != nil && slices.Contains(p.affected, b)) {
			t.Fatalf("bucket %d of the silent holder was re-placed", b)
		}
	}
	// Once the holder restarted (lost its data), the bucket is re-placed.
	in.known = map[shard.NodeID]wire.Member{1: member(1, 2), 2: member(2, 1)}
	if _, kept = planPlacement(in); kept != 0 {
		t.Fatalf("kept %d buckets of a holder that restarted", kept)
	}
}

func TestPlanPlacementJoinsAndLeaves(t *testing.T) {
	in := placementFixture()
	first, _ := planPlacement(in)
	in.old, in.maxEpoch = first.next, 1

	join := in
	join.known = map[shard.NodeID]wire.Member{1: member(1, 1), 2: member(2, 1), 4: member(4, 1)}
	join.joins = map[shard.NodeID]bool{4: true}
	p, _ := planPlacement(join)
	if p == nil || !slices.Contains(memberIDs(p.next.Members), 4) {
		t.Fatalf("live joiner not added: %+v", p)
	}
	join.health = healthOf(4)
	if p, _ = planPlacement(join); p != nil {
		t.Fatalf("dead joiner added: %v", p.why)
	}

	leave := in
	leave.leaving = map[shard.NodeID]bool{1: true}
	p, _ = planPlacement(leave)
	if p == nil || slices.Contains(memberIDs(p.next.Members), 1) {
		t.Fatalf("leaver still a member: %+v", p)
	}
	for b := range p.next.Table.Buckets {
		if first.next.Table.Holds(b, 1) && !p.base.Holds(b, 1) {
			t.Fatalf("bucket %d: the live leaver's copy must stay a source", b)
		}
	}
}
