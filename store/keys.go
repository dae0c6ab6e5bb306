package store

import (
	"math"
	"slices"
	"strings"
)

// Keys returns the live (not deleted) keys of the given buckets that start
// with prefix and are greater than after, in byte order, at most limit of
// them (limit <= 0 means no limit). more reports whether further matching
// keys exist beyond those returned. A bucket listed twice is read once.
//
// With a limit it keeps only the limit+1 smallest candidates in a bounded
// heap, so it costs O(n log limit) for n keys scanned.
func (s *Store) Keys(buckets []int, prefix, after string, limit int) (keys []string, more bool) {
	var h maxHeap
	if limit > 0 && limit < math.MaxInt {
		h.limit = limit + 1 // one extra to learn whether more exist
	}
	seen := make(map[int]bool, len(buckets))
	for _, b := range buckets {
		if seen[b] {
			continue
		}
		seen[b] = true
		s.scanKeys(b, prefix, after, &h)
	}
	keys = h.s
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys, more = keys[:limit:limit], true
	}
	return keys, more
}

// scanKeys offers bucket b's matching live keys to h.
func (s *Store) scanKeys(b int, prefix, after string, h *maxHeap) {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()
	for i, t := range bk.idx.tags {
		if t == 0 {
			continue
		}
		if v := bk.idx.recs[i].view(); v.key > after && !v.deleted() && strings.HasPrefix(v.key, prefix) {
			h.offer(v.key)
		}
	}
}

// maxHeap keeps the limit smallest strings offered (all when limit is 0),
// as a binary max-heap once it is full.
type maxHeap struct {
	s     []string
	limit int
}

func (h *maxHeap) offer(k string) {
	if h.limit == 0 || len(h.s) < h.limit {
		h.s = append(h.s, k)
		if h.limit != 0 {
			h.up(len(h.s) - 1)
		}
		return
	}
	if k >= h.s[0] {
		return
	}
	h.s[0] = k
	h.down(0)
}

func (h *maxHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.s[p] >= h.s[i] {
			return
		}
		h.s[p], h.s[i] = h.s[i], h.s[p]
		i = p
	}
}

func (h *maxHeap) down(i int) {
	n := len(h.s)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.s[c+1] > h.s[c] {
			c++
		}
		if h.s[i] >= h.s[c] {
			return
		}
		h.s[i], h.s[c] = h.s[c], h.s[i]
		i = c
	}
}
