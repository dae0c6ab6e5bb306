package replication

import (
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// FillPlan decides, for a placement change from the base table (the old
// one without the copies that no longer count) to next, which node copies
// which affected bucket from where. Every replica of an affected bucket in
// next gets an item: Fresh when base does not count a copy of it there
// (its leftovers must be discarded first), with every other counted copy
// as a source. A replica that already counts and has no other source has
// nothing to do and gets no item.
//
// lost lists the affected buckets that had replicas in the old table but
// have no counted copy left: their data is gone (every holder restarted or
// left), and the new copies start empty.
func FillPlan(affected []int, base, next shard.Table, oldReplicas func(b int) []shard.NodeID,
	member func(id shard.NodeID) (wire.Member, bool)) (items map[shard.NodeID][]wire.FillBucket, lost []int) {
	items = map[shard.NodeID][]wire.FillBucket{}
	for _, b := range affected {
		var sources []wire.Member
		for _, id := range base.Replicas(b) {
			if m, ok := member(id); ok {
				sources = append(sources, m)
			}
		}
		for _, id := range next.Buckets[b] {
			fb := wire.FillBucket{Bucket: b, Fresh: !base.Holds(b, id)}
			for _, s := range sources {
				if s.ID != id {
					fb.Sources = append(fb.Sources, s)
				}
			}
			if fb.Fresh || len(fb.Sources) > 0 {
				items[id] = append(items[id], fb)
			}
		}
		if len(sources) == 0 && len(oldReplicas(b)) > 0 {
			lost = append(lost, b)
		}
	}
	return items, lost
}
