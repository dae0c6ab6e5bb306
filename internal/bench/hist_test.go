package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// nearestRank is the reference percentile: the smallest value with at
// least q of the values at or below it.
func nearestRank(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestHistogramQuantilesMatchSortedData(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	datasets := map[string]func() int64{
		// Latency-like: log-normal around 1ms, from µs to seconds.
		"lognormal": func() int64 { return int64(math.Exp(r.NormFloat64()*1.5) * 1e6) },
		// Spread evenly over 12 orders of magnitude.
		"log-uniform": func() int64 { return int64(math.Pow(10, r.Float64()*12)) },
		// Small values, recorded exactly.
		"small": func() int64 { return int64(r.IntN(300)) },
		"constant": func() int64 {
			return 123456789
		},
	}
	quantiles := []float64{0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
	for i := 1; i < 1000; i++ {
		quantiles = append(quantiles, float64(i)/1000)
	}
	for name, draw := range datasets {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			var vals []int64
			for range 200_000 {
				v := draw()
				vals = append(vals, v)
				h.Record(time.Duration(v))
			}
			slices.Sort(vals)
			for _, q := range quantiles {
				want := nearestRank(vals, q)
				got := int64(h.Quantile(q))
				if want < histExact && got != want {
					t.Errorf("q%v: got %d, want exactly %d", q, got, want)
				}
				// Half a bucket: 1/256 of the value; the brief asks for 1%.
				if err := math.Abs(float64(got-want)) / float64(want); err > 1.0/256 {
					t.Errorf("q%v: got %d, want %d (off by %.3f%%)", q, got, want, err*100)
				}
			}
			if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
				t.Errorf("min/max %v/%v, want %v/%v exactly", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count %d, want %d", h.Count(), len(vals))
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	vals := []int64{0, 1, 127, 128, 255, 256, 257, 383, 384, 511, 512, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64 - 1, math.MaxInt64}
	for range 100_000 {
		vals = append(vals, r.Int64N(math.MaxInt64)>>r.IntN(63))
	}
	slices.Sort(vals)
	prev := -1
	for _, v := range vals {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("%d: index %d outside [0, %d)", v, i, histBuckets)
		}
		if i < prev {
			t.Fatalf("%d: index %d below that of a smaller value (%d)", v, i, prev)
		}
		prev = i
		low, width := histBounds(i)
		if v < low || v-low >= width {
			t.Fatalf("%d: in bucket %d = [%d, %d+%d)", v, i, low, low, width)
		}
		if v >= histExact && float64(width)/float64(low) > 1.0/128 {
			t.Fatalf("%d: bucket [%d, +%d) wider than 1/128 of its values", v, low, width)
		}
		if v < histExact && width != 1 {
			t.Fatalf("%d: small values must be exact, width %d", v, width)
		}
	}
	// Adjacent buckets tile the line: each starts where the last ended.
	for i := 1; i < histBuckets; i++ {
		pl, pw := histBounds(i - 1)
		if l, _ := histBounds(i); l != pl+pw {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, l, i-1, pl+pw)
		}
	}
}

// TestHistogramReadsBackWithinHalfABucket records a value between a
// smaller and a larger one and reads it back as the median, many times.
func TestHistogramReadsBackWithinHalfABucket(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		v := 1 + r.Int64N(1<<(1+r.IntN(50)))
		var h Histogram
		h.Record(0)
		h.Record(time.Duration(v))
		h.Record(math.MaxInt64)
		got := int64(h.Quantile(0.5))
		if v < histExact && got != v {
			t.Fatalf("%d read back as %d: small values are exact", v, got)
		}
		if d := math.Abs(float64(got - v)); d > float64(v)/256 {
			t.Fatalf("%d read back as %d: off by %.3f%%, more than half a bucket", v, got, 100*d/float64(v))
		}
	}
}

func TestHistogramMergeEmptyAndNegative(t *testing.T) {
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Mean() != 0 || empty.Count() != 0 {
		t.Fatal("an empty histogram reports zeros")
	}
	var a, b, all Histogram
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 10_000 {
		d := time.Duration(r.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(nil)
	a.Merge(&empty)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%v %v, recorded together %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged %d %v %v %v, together %d %v %v %v", a.Count(), a.Min(), a.Max(), a.Mean(),
			all.Count(), all.Min(), all.Max(), all.Mean())
	}
	var into Histogram
	into.Merge(&all)
	if into.Quantile(0.5) != all.Quantile(0.5) || into.Min() != all.Min() {
		t.Error("merging into an empty histogram copies it")
	}
	var neg Histogram
	neg.Record(-5)
	if neg.Max() != 0 || neg.Count() != 1 {
		t.Errorf("a negative duration counts as 0: max %v count %d", neg.Max(), neg.Count())
	}
}
