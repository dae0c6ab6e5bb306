package shard

import "slices"

// AutoReplicas returns the replica count for a cluster of members nodes: a
// majority, floor(members/2)+1, or 0 when there are no members.
func AutoReplicas(members int) int {
	if members <= 0 {
		return 0
	}
	return members/2 + 1
}

// Plan returns the placement of buckets buckets over members with replicas
// copies per bucket, planned from old. It never changes old.
//
// members is a set (order and duplicates do not matter); nodes that old
// names but members does not are gone and are dropped. replicas below 1 counts
// as 1 and above the member count as the member count; with no members every
// bucket has no replica.
//
// The result has epoch old.Epoch+1 and promises:
//   - every bucket has the same number of distinct replicas, all members;
//   - every member holds the same number of copies, within one, and is
//     primary of the same number of buckets, within one;
//   - among all tables with those properties it adds the fewest copies that
//     old (restricted to members) did not have;
//   - given those copies, it keeps the most old primaries, and lists each
//     bucket primary first, then the old backups in their old order, then
//     the new ones by ID;
//   - Since[b] is the new epoch if bucket b's list differs from old's (or old
//     had no bucket b), else old.Since[b].
//
// Plan is deterministic, and Plan of its own result with the same arguments
// changes no bucket.
func Plan(old Table, buckets int, members []NodeID, replicas int) Table {
	buckets = max(buckets, 0)
	ids := slices.Clone(members)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n := len(ids)
	r := min(max(replicas, 1), n)

	t := Table{
		Epoch:   old.Epoch + 1,
		Buckets: make([][]NodeID, buckets),
		Since:   make([]uint64, buckets),
	}
	if buckets == 0 {
		return t
	}
	flat := make([]NodeID, buckets*r)
	if n == 0 {
		for b := range t.Buckets {
			t.Buckets[b] = flat[0:0:0]
		}
		t.setSince(&old)
		return t
	}

	index := func(id NodeID) int {
		i, ok := slices.BinarySearch(ids, id)
		if !ok {
			return -1
		}
		return i
	}
	// Live old copies, and each bucket's live old primary.
	held := make([]bool, buckets*n)
	oldPrimary := make([]int32, buckets)
	for b := range oldPrimary {
		oldPrimary[b] = -1
		if b >= len(old.Buckets) {
			continue
		}
		for j, id := range old.Buckets[b] {
			if v := index(id); v >= 0 {
				held[b*n+v] = true
				if j == 0 {
					oldPrimary[b] = int32(v)
				}
			}
		}
	}

	copies := newAssigner(buckets, n, r, nil, held, oldPrimary, true)
	copies.solve()
	primary := assignPrimaries(copies.hold, buckets, n, oldPrimary)

	for b := range t.Buckets {
		list := flat[b*r : b*r : (b+1)*r]
		list = append(list, ids[primary[b]])
		if b < len(old.Buckets) {
			for _, id := range old.Buckets[b] {
				if v := index(id); v >= 0 && v != primary[b] && copies.hold[b*n+v] && !slices.Contains(list, id) {
					list = append(list, id)
				}
			}
		}
		for v := range n {
			if copies.hold[b*n+v] && !slices.Contains(list, ids[v]) {
				list = append(list, ids[v])
			}
		}
		t.Buckets[b] = list
	}
	t.setSince(&old)
	return t
}

// setSince sets Since from old: kept where the bucket's list is unchanged,
// the table's epoch elsewhere.
func (t *Table) setSince(old *Table) {
	for b := range t.Buckets {
		if b < len(old.Buckets) && b < len(old.Since) && slices.Equal(old.Buckets[b], t.Buckets[b]) {
			t.Since[b] = old.Since[b]
		} else {
			t.Since[b] = t.Epoch
		}
	}
}
