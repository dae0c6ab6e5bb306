package shard

import (
	"cmp"
	"slices"
)

// keepPreferred holds every allowed preferred pair, then trims buckets with
// more than need nodes and sheds buckets from nodes above their capacity,
// choosing what to drop so that the flow stays easy to complete.
func (a *assigner) keepPreferred() {
	nn := a.nn
	for b := range a.nb {
		for v := range nn {
			if i := b*nn + v; a.pref[i] && a.allowed(i) {
				a.add(b, v)
			}
		}
	}
	for b := range a.nb {
		for int(a.cnt[b]) > a.need {
			drop := -1
			for v := range nn {
				if !a.hold[b*nn+v] {
					continue
				}
				if drop < 0 || a.dropBefore(b, v, drop) {
					drop = v
				}
			}
			a.remove(b, drop)
		}
	}

	// The k nodes allowed q+1 buckets are the most loaded ones: each of
	// them keeps one more pair than it could with q.
	var big []int
	for v := range nn {
		if int(a.load[v]) > a.q {
			big = append(big, v)
		}
	}
	slices.SortFunc(big, func(x, y int) int {
		return cmp.Or(cmp.Compare(a.load[y], a.load[x]), cmp.Compare(x, y))
	})
	capOf := make([]int, nn)
	for v := range capOf {
		capOf[v] = a.q
	}
	for i, v := range big {
		if i < a.k {
			capOf[v] = a.q + 1
		}
	}
	// Shed from every node above its capacity. Prefer buckets with the most
	// other holders (so that the buckets short of nodes are spread out),
	// then buckets another node can take (the least loaded such node,
	// counting buckets already promised to it), then buckets the node is
	// not favoured for, then buckets whose other holders share the most
	// buckets with the node (spreading its partners).
	promised := make([]int32, nn)
	var score, relief []int64
	var taker []int32
	var keys []uint64
	for v := range nn {
		excess := int(a.load[v]) - capOf[v]
		if excess <= 0 {
			continue
		}
		bs := slices.Clone(a.lists[v]) // remove reorders a.lists[v]
		score, relief, taker = score[:0], relief[:0], taker[:0]
		for _, b := range bs {
			var sc int64
			re, ta := int64(1)<<40, int32(-1)
			for u := range nn {
				i := int(b)*nn + u
				if u == v {
					continue
				}
				if a.hold[i] {
					if a.co != nil {
						sc += int64(a.co[v*nn+u])
					}
				} else if a.allowed(i) {
					if l := int64(a.load[u] + promised[u]); l < re {
						re, ta = l, int32(u)
					}
				}
			}
			score, relief, taker = append(score, sc), append(relief, re), append(taker, ta)
		}
		// Pack the preferences into one sort key per bucket, relative to
		// their best value among the node's buckets, each clipped to its
		// field: 8 bits of missing holders, 12 of relief, 1 of favour, 12
		// of score, 31 of position in bs.
		maxScore, minRelief := slices.Max(score), slices.Min(relief)
		keys = keys[:0]
		for j, b := range bs {
			fav := uint64(0)
			if a.favour[b] == int32(v) {
				fav = 1
			}
			keys = append(keys, clip(int64(a.need)-int64(a.cnt[b]), 8)<<56|
				clip(relief[j]-minRelief, 12)<<44|
				fav<<43|
				clip(maxScore-score[j], 12)<<31|uint64(j))
		}
		slices.Sort(keys)
		shed := make([]int32, excess)
		for i, k := range keys[:excess] {
			shed[i] = int32(k & (1<<31 - 1))
		}
		for _, j := range shed {
			a.remove(int(bs[j]), v)
			if ta := taker[j]; ta >= 0 {
				promised[ta]++
			}
		}
	}
}

// clip returns x limited to [0, 2^bits-1].
func clip(x int64, bits uint) uint64 {
	return uint64(min(max(x, 0), int64(1)<<bits-1))
}

// dropBefore reports whether node v should leave bucket b before node w: a
// node above the floor quota first, then a node that is not the bucket's
// favoured one, then the more loaded, then the higher index.
func (a *assigner) dropBefore(b, v, w int) bool {
	if ov, ow := int(a.load[v]) > a.q, int(a.load[w]) > a.q; ov != ow {
		return ov
	}
	fv, fw := a.favour[b] == int32(v), a.favour[b] == int32(w)
	if fv != fw {
		return fw
	}
	if a.load[v] != a.load[w] {
		return a.load[v] > a.load[w]
	}
	return v > w
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return 1
	}
	return -1
}
