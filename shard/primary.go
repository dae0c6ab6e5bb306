package shard

// assignPrimaries picks one primary per bucket among the nodes that hold it
// (hold is buckets*n, bucket-major) so that every node is primary of
// floor(buckets/n) or ceil(buckets/n) buckets, keeping the most old
// primaries (oldPrimary[b] is bucket b's old primary's index, or -1) any
// such choice can. It returns each bucket's primary index.
//
// A balanced choice always exists: every bucket has the same number r of
// holders and holder counts differ by at most one, so giving each holder
// 1/r of every bucket it holds is a fractional solution within the bounds,
// and bounded flows have integral solutions.
func assignPrimaries(hold []bool, buckets, n int, oldPrimary []int32) []int {
	pref := make([]bool, buckets*n)
	for b, v := range oldPrimary {
		if v >= 0 && hold[b*n+int(v)] {
			pref[b*n+int(v)] = true
		}
	}
	a := newAssigner(buckets, n, 1, hold, pref, oldPrimary, false)
	a.solve()
	primary := make([]int, buckets)
	for b := range primary {
		for v := range n {
			if a.hold[b*n+v] {
				primary[b] = v
				break
			}
		}
	}
	return primary
}
