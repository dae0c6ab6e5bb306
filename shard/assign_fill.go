package shard

import (
	"cmp"
	"slices"
)

// fill gives every bucket short of nodes allowed nodes that can take it
// (see fillBefore), the buckets short of the most nodes first. Buckets it
// cannot complete are left to augmentCheapest.
func (a *assigner) fill() {
	var short []int
	for b := range a.nb {
		if int(a.cnt[b]) < a.need {
			short = append(short, b)
		}
	}
	slices.SortFunc(short, func(x, y int) int {
		return cmp.Or(cmp.Compare(a.cnt[x], a.cnt[y]), cmp.Compare(x, y))
	})
	nn := a.nn
	var shared []int32
	if a.co != nil {
		shared = make([]int32, nn)
	}
	for _, b := range short {
		// shared[v]: buckets v holds with b's holders, summed over them.
		if shared != nil {
			clear(shared)
			for u := range nn {
				if a.hold[b*nn+u] {
					a.addRow(shared, u)
				}
			}
		}
		for int(a.cnt[b]) < a.need {
			best := -1
			for v := range nn {
				i := b*nn + v
				if a.hold[i] || !a.allowed(i) || !a.spare(v) {
					continue
				}
				if best < 0 || a.fillBefore(shared, b, v, best) {
					best = v
				}
			}
			if best < 0 {
				break
			}
			a.add(b, best)
			if shared != nil {
				a.addRow(shared, best)
			}
		}
	}
}

// addRow adds node u's co-holding counts to shared.
func (a *assigner) addRow(shared []int32, u int) {
	for v, c := range a.co[u*a.nn : (u+1)*a.nn] {
		shared[v] += c
	}
}

// fillBefore reports whether fill should pick node v before node w for
// bucket b: the less loaded first; then, when tracking partners, the one
// sharing fewer buckets with the bucket's holders (spreading each node's
// buckets over many partners, so that the copies a departing node leaves
// can be re-homed), else in an order that varies with the bucket (so that
// the same node does not always win among the same holders); then the
// lower index.
func (a *assigner) fillBefore(shared []int32, b, v, w int) bool {
	if a.load[v] != a.load[w] {
		return a.load[v] < a.load[w]
	}
	if shared != nil {
		if shared[v] != shared[w] {
			return shared[v] < shared[w]
		}
	} else if hv, hw := mix(b, v), mix(b, w); hv != hw {
		return hv < hw
	}
	return v < w
}

// mix hashes a bucket and a node to a fixed pseudo-random value.
func mix(b, v int) uint64 {
	x := uint64(b)<<32 ^ uint64(v)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
