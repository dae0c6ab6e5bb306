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

	keys := make([]string, 0, len(bk.m))
	for k := range bk.m {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	total := 0
	for i, k := range keys {
		sl := bk.m[k]
		entries = append(entries, s.entry(bk, k, &sl))
		total += len(k) + int(sl.n)
		if total >= maxBytes {
			return entries, i+1 < len(keys)
		}
	}
	return entries, false
}

// KeyVersion is one entry's identity, without its value, for anti-entropy
// diffs.
type KeyVersion struct {
	Key     string  `msgpack:"k"`
	Version Version `msgpack:"v"`
	Deleted bool    `msgpack:"d"`
}

// Summary returns every entry of bucket b (tombstones included) as a
// KeyVersion, sorted by key.
func (s *Store) Summary(b int) []KeyVersion {
	bk := &s.buckets[b]
	bk.mu.RLock()
	out := make([]KeyVersion, 0, len(bk.m))
	for k, sl := range bk.m {
		out = append(out, KeyVersion{Key: k, Version: sl.ver, Deleted: sl.deleted()})
	}
	bk.mu.RUnlock()
	slices.SortFunc(out, func(x, y KeyVersion) int { return cmp.Compare(x.Key, y.Key) })
	return out
}
