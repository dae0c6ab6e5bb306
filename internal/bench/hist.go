package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-spaced buckets, HDR style: values
// below 256ns are exact, larger ones fall into 128 buckets per power of two,
// so a bucket is at most 1/128 (0.8%) of its values wide and a percentile
// read back is within 0.4% of a recorded value (it reports the middle of
// its bucket). It covers every non-negative int64 nanosecond count in a
// fixed 7,296 counters (57KiB). The zero value is empty and ready; it is
// not safe for concurrent use (give each goroutine its own and Merge).
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histSubBits = 8                             // values below 1<<histSubBits are exact
	histHalf    = 1 << (histSubBits - 1)        // buckets per power of two above that
	histExact   = 1 << histSubBits              // the first value that is not exact
	histBuckets = (65 - histSubBits) * histHalf // up to math.MaxInt64: shift 55, index 55*128+255
)

// histIndex returns the bucket of v (v >= 0).
func histIndex(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits // >= 1
	return shift*histHalf + int(v>>shift)
}

// histBounds returns the lowest value of bucket i and the bucket's width.
func histBounds(i int) (low, width int64) {
	if i < histExact {
		return int64(i), 1
	}
	shift := i/histHalf - 1
	mant := int64(i - shift*histHalf)
	return mant << shift, 1 << shift
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the exact extremes (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the exact mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q in [0, 1] by nearest rank: the
// smallest recorded value with at least q of all values at or below it,
// to within half a bucket (0.4%), and never outside [Min, Max]. Quantile(1)
// is Max exactly; an empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := histBounds(i)
			v := low + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: the counts add up to n
}
