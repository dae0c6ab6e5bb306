// Package store is a node's in-memory key-value data: buckets of versioned
// entries with "apply if newer" semantics, tombstones, per-bucket digests
// for anti-entropy and chunked ranges for bucket copies.
//
// It is a pure data structure: no network, goroutines, clock or logging.
// Each bucket has its own lock and index, so operations on different
// buckets never contend. A bucket index outside [0, Buckets()) is a
// programming error and makes every method panic; callers validate indexes.
//
// Each key's state is one immutable record (record.go) found through its
// bucket's hash index (index.go); together they cost ~39 bytes per key
// beyond the key and value bytes (136 with a map[string]slot per bucket).
package store

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Store holds the entries of B buckets. It is safe for concurrent use.
type Store struct {
	buckets []bucket
	ct      interner

	// Whole-store counters, kept with atomics so Stats is O(1).
	keys, tombstones, bytes atomic.Int64
}

// bucket is one bucket's entries, digest and counters, all guarded by mu.
type bucket struct {
	mu   sync.RWMutex
	idx  index
	rare map[string]string // content types of ctRare records, by key
	// expires holds the expiry (Unix ms) of the live entries that have
	// one, by key; soonest is a lower bound of its values (0: none), so
	// that a bucket with nothing due is skipped at once (Expired).
	expires map[string]int64
	soonest int64
	digest  uint64
	stats   Stats
	_       [64]byte // keep neighbouring buckets' locks off one cache line
}

// entry builds the Entry for a decoded record with the given key; bk's lock
// must be held.
func (s *Store) entry(bk *bucket, key string, v *view) Entry {
	e := Entry{Key: key, Version: v.ver}
	switch v.ct {
	case ctTombstone:
		e.Deleted = true
		return e
	case ctNone:
	case ctRare:
		e.ContentType = bk.rare[key]
	default:
		e.ContentType = s.ct.name(v.ct)
	}
	e.Value = v.value
	e.Expires = bk.expires[key]
	return e
}

// New returns an empty store with the given number of buckets (> 0).
func New(buckets int) *Store {
	if buckets <= 0 {
		panic("store: bucket count must be positive")
	}
	s := &Store{buckets: make([]bucket, buckets)}
	return s
}

// Buckets returns the number of buckets.
func (s *Store) Buckets() int { return len(s.buckets) }

// Apply stores e in bucket b if e.Version is newer than the entry stored
// for e.Key (an absent key is older than every version) and reports whether
// it did. An equal or older version changes nothing: a version identifies
// one write, so equal versions carry equal content.
//
// Apply copies what it keeps of e (key, value, content type) into the
// store's own memory: the caller may reuse e's buffers at once (the
// durable log's replay passes views of its read buffer). A tombstone
// (e.Deleted) keeps neither value nor content type. Values must be under
// 4 GiB.
func (s *Store) Apply(b int, e Entry) bool {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()

	h := hashKey(e.Key)
	i, exists := bk.idx.find(e.Key, h)
	var old view
	if exists {
		old = bk.idx.recs[i].view()
		if e.Version.Compare(old.ver) <= 0 {
			return false
		}
	}
	ct := uint32(ctTombstone)
	if !e.Deleted {
		if len(e.Value) > maxValue {
			panic("store: value larger than 4 GiB")
		}
		ct = s.ct.id(e.ContentType)
	}
	r, nv := newRecord(e.Key, e.Version, ct, e.Value)
	if exists {
		bk.idx.recs[i] = r
	} else {
		bk.idx.insert(i, h, r)
	}

	if exists && old.ct == ctRare && nv.ct != ctRare {
		delete(bk.rare, nv.key)
	}
	if nv.ct == ctRare {
		if bk.rare == nil {
			bk.rare = make(map[string]string)
		}
		delete(bk.rare, nv.key) // so the map's key is the new record's
		bk.rare[nv.key] = strings.Clone(e.ContentType)
	}
	if exists {
		delete(bk.expires, old.key)
	}
	if e.Expires != 0 && !e.Deleted {
		if bk.expires == nil {
			bk.expires = make(map[string]int64)
		}
		bk.expires[nv.key] = e.Expires
		if bk.soonest == 0 || e.Expires < bk.soonest {
			bk.soonest = e.Expires
		}
	}

	var d Stats
	if exists {
		bk.digest ^= entryHash(old.key, old.ver, old.deleted())
		d = d.sub(viewStats(&old))
	}
	bk.digest ^= entryHash(nv.key, nv.ver, nv.deleted())
	d = d.add(viewStats(&nv))
	s.account(bk, d)

	return true
}

// Get returns the entry stored for key in bucket b, tombstones included
// (with Deleted set). The returned Value is shared with the store and must
// not be modified; it never changes, even when key is later overwritten.
func (s *Store) Get(b int, key string) (Entry, bool) {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()
	r, ok := bk.idx.get(key)
	if !ok {
		return Entry{}, false
	}
	v := r.view()
	return s.entry(bk, key, &v), true
}

// Drop forgets bucket b entirely: its entries, digest and counters.
func (s *Store) Drop(b int) {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	s.account(bk, Stats{}.sub(bk.stats))
	bk.idx = index{}
	bk.rare = nil
	bk.expires, bk.soonest = nil, 0
	bk.digest = 0
}

// PurgeTombstone removes key's tombstone from bucket b if the key's entry is
// a tombstone of exactly version v, and reports whether it did. A newer
// write of the key is never removed.
func (s *Store) PurgeTombstone(b int, key string, v Version) bool {
	return s.remove(b, key, v, true)
}

// Forget removes key's entry from bucket b, live or tombstone, if it has
// exactly version v, and reports whether it did: for a copy being made
// equal to another that no longer has the key (its tombstone was purged
// while this copy was away, so keeping the entry would bring a deleted key
// back).
func (s *Store) Forget(b int, key string, v Version) bool {
	return s.remove(b, key, v, false)
}

func (s *Store) remove(b int, key string, v Version, tombstoneOnly bool) bool {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	i, ok := bk.idx.find(key, hashKey(key))
	if !ok {
		return false
	}
	old := bk.idx.recs[i].view()
	if tombstoneOnly && !old.deleted() || old.ver != v {
		return false
	}
	if old.ct == ctRare {
		delete(bk.rare, old.key)
	}
	delete(bk.expires, old.key)
	bk.idx.remove(i)
	bk.idx.shrink()
	bk.digest ^= entryHash(key, old.ver, old.deleted())
	s.account(bk, Stats{}.sub(viewStats(&old)))
	return true
}

// Expired returns up to max of bucket b's live entries whose expiry is at
// or before now (Unix milliseconds), with their versions. A bucket with
// nothing due costs one comparison under its read lock; one with something
// due is scanned (its entries with an expiry only) under its write lock.
func (s *Store) Expired(b int, now int64, max int) []KeyVersion {
	bk := &s.buckets[b]
	bk.mu.RLock()
	due := bk.soonest != 0 && bk.soonest <= now
	bk.mu.RUnlock()
	if !due {
		return nil
	}
	bk.mu.Lock()
	defer bk.mu.Unlock()
	var out []KeyVersion
	soonest := int64(0)
	for key, at := range bk.expires {
		if at <= now && len(out) < max {
			if r, ok := bk.idx.get(key); ok {
				out = append(out, KeyVersion{Key: key, Version: r.view().ver})
			}
		}
		if at > now || len(out) == max {
			// Still due later (or not returned this time): it bounds soonest.
			if soonest == 0 || at < soonest {
				soonest = at
			}
		}
	}
	bk.soonest = soonest
	return out
}
