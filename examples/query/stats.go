package main

import (
	"math"
	"time"

	"github.com/jumpkv/jumpkv/examples/internal/readings"
)

// stats summarises a sensor's readings, one at a time (Welford's method,
// so that following a sensor costs nothing per reading).
type stats struct {
	n           int
	mean, m2    float64
	min, max    float64
	first, last time.Time
	latest      readings.Reading // the reading taken last
}

// add takes one reading into the summary.
func (s *stats) add(r readings.Reading) {
	s.n++
	d := r.Value - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (r.Value - s.mean)
	if s.n == 1 {
		s.min, s.max, s.first, s.last, s.latest = r.Value, r.Value, r.At, r.At, r
		return
	}
	s.min, s.max = math.Min(s.min, r.Value), math.Max(s.max, r.Value)
	if r.At.Before(s.first) {
		s.first = r.At
	}
	if !r.At.Before(s.last) {
		s.last, s.latest = r.At, r
	}
}

// stddev is the sample standard deviation (0 under two readings).
func (s *stats) stddev() float64 {
	if s.n < 2 {
		return 0
	}
	return math.Sqrt(s.m2 / float64(s.n-1))
}
