package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// tally is what the writers report: every write's outcome and latency.
// Owned by the goroutine that merges the writers' results.
type tally struct {
	written                      int
	unknown, unavailable, others int
	firstErr                     error
	latencies                    []time.Duration // of the writes acknowledged
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted, by the
// nearest rank; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// print writes the summary of a run that lasted took.
func (t *tally) print(w io.Writer, took time.Duration) {
	lat := slices.Clone(t.latencies)
	slices.Sort(lat)
	errs := t.unknown + t.unavailable + t.others
	fmt.Fprintf(w, "written: %d readings in %v (%.1f/s)\n", t.written, took.Round(time.Millisecond), float64(t.written)/took.Seconds())
	fmt.Fprintf(w, "errors: %d (unknown outcome %d, unavailable %d, other %d)\n", errs, t.unknown, t.unavailable, t.others)
	if t.firstErr != nil {
		fmt.Fprintf(w, "first error: %v\n", t.firstErr)
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Fprintf(w, "latency: p50 %v  p90 %v  p99 %v  max %v\n",
		r(percentile(lat, 50)), r(percentile(lat, 90)), r(percentile(lat, 99)), r(percentile(lat, 100)))
}
