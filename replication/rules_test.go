package replication

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func TestFenceWrite(t *testing.T) {
	ok := ReplicaView{Term: 10, Assigned: true, Held: true, Since: 4}
	entry := func(term uint64) store.Entry {
		return store.Entry{Key: "k", Version: store.Version{Term: term, Seq: 1}}
	}
	for _, tc := range []struct {
		name        string
		view        ReplicaView
		term, since uint64
		entries     []store.Entry
		want        error
	}{
		{"current leader, current assignment", ok, 10, 4, []store.Entry{entry(10)}, nil},
		{"an earlier term's entry from the current leader", ok, 10, 4, []store.Entry{entry(3)}, nil},
		{"deposed leader", ok, 9, 4, []store.Entry{entry(9)}, wire.ErrStaleTerm},
		{"not assigned", ReplicaView{Term: 10, Held: true, Since: 4}, 10, 4, nil, wire.ErrNotOwner},
		{"not held yet", ReplicaView{Term: 10, Assigned: true, Since: 4}, 10, 4, nil, wire.ErrNotOwner},
		{"older assignment", ok, 10, 3, nil, wire.ErrStaleEpoch},
		{"newer assignment", ok, 10, 5, nil, wire.ErrStaleEpoch},
		{"version from the future", ok, 10, 4, []store.Entry{entry(10), entry(11)}, wire.ErrBadRequest},
		{"forged MAX.MAX", ok, 10, 4, []store.Entry{{Key: "k", Version: store.Version{Term: ^uint64(0), Seq: ^uint64(0)}}}, wire.ErrBadRequest},
	} {
		err := FenceWrite(tc.view, tc.term, tc.since, tc.entries...)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFillPlan(t *testing.T) {
	members := map[shard.NodeID]wire.Member{1: {ID: 1, Peer: "a"}, 2: {ID: 2, Peer: "b"}, 3: {ID: 3, Peer: "c"}, 4: {ID: 4, Peer: "d"}}
	member := func(id shard.NodeID) (wire.Member, bool) { m, ok := members[id]; return m, ok }
	old := shard.Table{Buckets: [][]shard.NodeID{{1, 2}, {2, 3}, {3, 1}}}
	// Node 3 restarted empty: its copies no longer count.
	base := shard.Table{Buckets: [][]shard.NodeID{{1, 2}, {2}, {1}}}
	next := shard.Table{Buckets: [][]shard.NodeID{{1, 4}, {2, 3}, {1, 3}}}
	items, lost := FillPlan([]int{0, 1, 2}, base, next, old.Replicas, member)
	want := map[shard.NodeID][]wire.FillBucket{
		1: {{Bucket: 0, Sources: []wire.Member{members[2]}}},
		4: {{Bucket: 0, Fresh: true, Sources: []wire.Member{members[1], members[2]}}},
		3: {{Bucket: 1, Fresh: true, Sources: []wire.Member{members[2]}}, {Bucket: 2, Fresh: true, Sources: []wire.Member{members[1]}}},
	}
	// Node 2 keeps bucket 1 and has no other source, node 1 keeps bucket 2
	// likewise: no item for either.
	if len(items) != len(want) {
		t.Fatalf("items for %d nodes, want %d: %+v", len(items), len(want), items)
	}
	for id, w := range want {
		if !slices.EqualFunc(items[id], w, func(a, b wire.FillBucket) bool {
			return a.Bucket == b.Bucket && a.Fresh == b.Fresh && slices.Equal(a.Sources, b.Sources)
		}) {
			t.Errorf("node %d: %+v, want %+v", id, items[id], w)
		}
	}
	if len(lost) != 0 {
		t.Errorf("lost %v, want none", lost)
	}
	// Every holder of bucket 1 restarted: its data is lost, the new
	// replicas start fresh with no source.
	base2 := shard.Table{Buckets: [][]shard.NodeID{{1, 2}, {}, {1}}}
	items, lost = FillPlan([]int{1}, base2, next, old.Replicas, member)
	if !slices.Equal(lost, []int{1}) || len(items[2]) != 1 || !items[2][0].Fresh || len(items[2][0].Sources) != 0 {
		t.Errorf("all holders gone: items %+v lost %v", items, lost)
	}
}

func TestPurgeDecision(t *testing.T) {
	t0 := time.Unix(1000, 0)
	wait := 5 * time.Second
	v1, v2 := store.Version{Term: 1, Seq: 1}, store.Version{Term: 1, Seq: 2}
	same := []store.KeyVersion{{Key: "a", Version: v1, Deleted: true}, {Key: "b", Version: v1, Deleted: true}}
	rec, purge := PurgeDecision(nil, same, t0, wait, true)
	if len(purge) != 0 || len(rec) != 2 {
		t.Fatalf("first sighting purged %v (record %v)", purge, rec)
	}
	// A round later, before wait: nothing. After wait: both, but only
	// when every co-replica was reached.
	if _, purge = PurgeDecision(rec, same, t0.Add(wait-time.Millisecond), wait, true); len(purge) != 0 {
		t.Fatalf("purged before wait: %v", purge)
	}
	if _, purge = PurgeDecision(rec, same, t0.Add(wait), wait, false); len(purge) != 0 {
		t.Fatalf("purged without every co-replica: %v", purge)
	}
	if _, purge = PurgeDecision(rec, same, t0.Add(wait), wait, true); len(purge) != 2 {
		t.Fatalf("purged %v after wait, want both", purge)
	}
	// A tombstone whose version changed starts over.
	changed := []store.KeyVersion{{Key: "a", Version: v2, Deleted: true}}
	rec2, purge := PurgeDecision(rec, changed, t0.Add(wait), wait, true)
	if len(purge) != 0 || rec2["a"].Seen != t0.Add(wait) || len(rec2) != 1 {
		t.Fatalf("a re-deleted key: purge %v record %v", purge, rec2)
	}
}
