package store

import (
	"cmp"
	"slices"
)

// Range returns bucket b's entries (tombstones included) whose key is
// greater than after, in byte order of key. It stops once the returned
// entries' key+value bytes reach maxBytes, but returns at least one entry
// if any remain; more reports whether entries remain after the last one
// returned. Calling again with after set to the last returned key visits
// every entry exactly once (entries written meanwhile may or may not be
// seen). Values are shared with the store and must not be modified.
//
// The empty key sorts before every after, so Range never returns it; keys
// are expected to be non-empty.
func (s *Store) Range(b int, after string, maxBytes int) (entries []Entry, more bool) {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()

	type keyed struct {
		key string
		r   record
	}
	recs := make([]keyed, 0, bk.idx.n)
	for i, t := range bk.idx.tags {
		if t == 0 {
			continue
		}
		r := bk.idx.recs[i]
		if k := r.key(); k > after {
			recs = append(recs, keyed{k, r})
		}
	}
	slices.SortFunc(recs, func(x, y keyed) int { return cmp.Compare(x.key, y.key) })
	total := 0
	for i, kr := range recs {
		v := kr.r.view()
		entries = append(entries, s.entry(bk, v.key, &v))
		total += len(v.key) + len(v.value)
		if total >= maxBytes {
			return entries, i+1 < len(recs)
		}
	}
	return entries, false
}

// Summary returns every entry of bucket b (tombstones included) as a
// KeyVersion, sorted by key.
func (s *Store) Summary(b int) []KeyVersion {
	bk := &s.buckets[b]
	bk.mu.RLock()
	out := make([]KeyVersion, 0, bk.idx.n)
	for i, t := range bk.idx.tags {
		if t != 0 {
			v := bk.idx.recs[i].view()
			out = append(out, KeyVersion{Key: v.key, Version: v.ver, Deleted: v.deleted()})
		}
	}
	bk.mu.RUnlock()
	slices.SortFunc(out, func(x, y KeyVersion) int { return cmp.Compare(x.Key, y.Key) })
	return out
}
