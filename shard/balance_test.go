package shard

import (
	"math"
	"strconv"
	"testing"
)

// keyCounts hashes keys "key-0".."key-<n-1>" into buckets and returns the
// number of keys per bucket.
func keyCounts(n, buckets int) []int {
	counts := make([]int, buckets)
	var buf []byte
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10)
		counts[BucketOf(string(buf), buckets)]++
	}
	return counts
}

// chiSquareBounds returns the two-sided 0.1% critical values of a
// chi-square distribution with df degrees of freedom (Wilson-Hilferty).
func chiSquareBounds(df int) (lo, hi float64) {
	const z = 3.2905 // standard normal 0.9995 quantile
	k := float64(df)
	a := 2 / (9 * k)
	lo = k * math.Pow(1-a-z*math.Sqrt(a), 3)
	hi = k * math.Pow(1-a+z*math.Sqrt(a), 3)
	return lo, hi
}

// TestKeyBalance hashes 1,000,000 keys into 1024 buckets and checks two
// things: the per-bucket counts pass a chi-square test of uniformity (at the
// 0.1% level, both tails), and spreading the buckets over 3 nodes with a
// balanced table gives every node within 1% (relative) of a third of the
// keys as primary, and of two thirds as holder with 2 replicas.
func TestKeyBalance(t *testing.T) {
	const keys, buckets = 1_000_000, 1024
	counts := keyCounts(keys, buckets)

	mean := float64(keys) / buckets
	chi2, worst := 0.0, 0.0
	lo, hi := counts[0], counts[0]
	for _, c := range counts {
		d := float64(c) - mean
		chi2 += d * d / mean
		worst = max(worst, math.Abs(d)/mean)
		lo, hi = min(lo, c), max(hi, c)
	}
	clo, chi := chiSquareBounds(buckets - 1)
	t.Logf("per bucket: mean %.1f, min %d, max %d, max |count-mean|/mean %.1f%%; chi-square %.1f (df %d, 0.1%% bounds %.1f..%.1f)",
		mean, lo, hi, 100*worst, chi2, buckets-1, clo, chi)
	if chi2 < clo || chi2 > chi {
		t.Errorf("chi-square %.1f outside %.1f..%.1f: bucket counts are not uniform", chi2, clo, chi)
	}

	for _, r := range []int{1, 2} {
		tab := Plan(Table{}, buckets, []NodeID{1, 2, 3}, r)
		primary := map[NodeID]int{}
		holder := map[NodeID]int{}
		for b, c := range counts {
			for j, id := range tab.Replicas(b) {
				holder[id] += c
				if j == 0 {
					primary[id] += c
				}
			}
		}
		for _, id := range []NodeID{1, 2, 3} {
			for _, s := range []struct {
				what  string
				got   int
				share float64
			}{{"primary", primary[id], 1.0 / 3}, {"holder", holder[id], float64(r) / 3}} {
				if s.what == "holder" && r == 1 {
					continue
				}
				want := s.share * keys
				dev := (float64(s.got) - want) / want
				t.Logf("r=%d node %d %s of %d keys: %.4f of all (even %.4f), off by %+.3f%%",
					r, id, s.what, s.got, float64(s.got)/keys, s.share, 100*dev)
				if math.Abs(dev) > 0.01 {
					t.Errorf("r=%d node %d is %s of %d keys, more than 1%% off %.0f", r, id, s.what, s.got, want)
				}
			}
		}
	}
}
