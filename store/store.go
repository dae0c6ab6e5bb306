// Package store is a node's in-memory key-value data: buckets of versioned
// entries with "apply if newer" semantics, tombstones, per-bucket digests
// for anti-entropy and chunked ranges for bucket copies.
//
// It is a pure data structure: no network, goroutines, clock or logging.
// Each bucket has its own lock and map, so operations on different buckets
// never contend. A bucket index outside [0, Buckets()) is a programming
// error and makes every method panic; callers validate indexes.
package store

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Store holds the entries of B buckets. It is safe for concurrent use.
type Store struct {
	buckets  []bucket
	observer func(bucket int, e Entry)
	ct       interner

	// Whole-store counters, kept with atomics so Stats is O(1).
	keys, tombstones, bytes atomic.Int64
}

// bucket is one bucket's entries, digest and counters, all guarded by mu.
type bucket struct {
	mu     sync.RWMutex
	m      map[string]slot   // nil while empty
	rare   map[string]string // content types of ctRare slots, by key
	digest uint64
	stats  Stats
	_      [64]byte // keep neighbouring buckets' locks off one cache line
}

// entry rebuilds key's Entry from its slot; bk's lock must be held.
func (s *Store) entry(bk *bucket, key string, sl *slot) Entry {
	e := Entry{Key: key, Version: sl.ver}
	switch sl.ct {
	case ctTombstone:
		e.Deleted = true
		return e
	case ctNone:
	case ctRare:
		e.ContentType = bk.rare[key]
	default:
		e.ContentType = s.ct.name(sl.ct)
	}
	e.Value = sl.value()
	return e
}

// Option configures a Store.
type Option func(*Store)

// WithObserver makes the store call fn after every successful Apply, with
// the bucket's lock held, so calls for one key arrive in version order. fn
// must be fast, must not block and must not call into the store (that would
// deadlock); it must not modify e.Value.
func WithObserver(fn func(bucket int, e Entry)) Option {
	return func(s *Store) { s.observer = fn }
}

// New returns an empty store with the given number of buckets (> 0).
func New(buckets int, opts ...Option) *Store {
	if buckets <= 0 {
		panic("store: bucket count must be positive")
	}
	s := &Store{buckets: make([]bucket, buckets)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Buckets returns the number of buckets.
func (s *Store) Buckets() int { return len(s.buckets) }

// Apply stores e in bucket b if e.Version is newer than the entry stored
// for e.Key (an absent key is older than every version) and reports whether
// it did. An equal or older version changes nothing: a version identifies
// one write, so equal versions carry equal content.
//
// The store takes ownership of e.Value (and keeps e.Key as given): the
// caller must not modify e.Value afterwards. A tombstone (e.Deleted) keeps
// neither value nor content type. Values must be under 4 GiB.
func (s *Store) Apply(b int, e Entry) bool {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()

	old, exists := bk.m[e.Key]
	if exists && e.Version.Compare(old.ver) <= 0 {
		return false
	}
	var sl slot
	sl.ver = e.Version
	if e.Deleted {
		sl.ct = ctTombstone
	} else {
		sl.setValue(e.Value)
		sl.ct = s.ct.id(e.ContentType)
	}

	if bk.m == nil {
		bk.m = make(map[string]slot)
	}
	bk.m[e.Key] = sl
	if exists && old.ct == ctRare && sl.ct != ctRare {
		delete(bk.rare, e.Key)
	}
	if sl.ct == ctRare {
		if bk.rare == nil {
			bk.rare = make(map[string]string)
		}
		bk.rare[e.Key] = strings.Clone(e.ContentType)
	}

	var d Stats
	if exists {
		bk.digest ^= entryHash(e.Key, old.ver, old.deleted())
		d = d.sub(slotStats(e.Key, &old))
	}
	bk.digest ^= entryHash(e.Key, sl.ver, sl.deleted())
	d = d.add(slotStats(e.Key, &sl))
	s.account(bk, d)

	if s.observer != nil {
		s.observer(b, s.entry(bk, e.Key, &sl))
	}
	return true
}

// Get returns the entry stored for key in bucket b, tombstones included
// (with Deleted set). The returned Value is shared with the store and must
// not be modified.
func (s *Store) Get(b int, key string) (Entry, bool) {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()
	sl, ok := bk.m[key]
	if !ok {
		return Entry{}, false
	}
	return s.entry(bk, key, &sl), true
}

// Drop forgets bucket b entirely: its entries, digest and counters.
func (s *Store) Drop(b int) {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	s.account(bk, Stats{}.sub(bk.stats))
	bk.m = nil
	bk.rare = nil
	bk.digest = 0
}

// PurgeTombstone removes key's tombstone from bucket b if the key's entry is
// a tombstone of exactly version v, and reports whether it did. A newer
// write of the key is never removed.
func (s *Store) PurgeTombstone(b int, key string, v Version) bool {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	sl, ok := bk.m[key]
	if !ok || !sl.deleted() || sl.ver != v {
		return false
	}
	delete(bk.m, key)
	bk.digest ^= entryHash(key, sl.ver, true)
	s.account(bk, Stats{}.sub(slotStats(key, &sl)))
	if len(bk.m) == 0 {
		bk.m = nil
	}
	return true
}

// PurgeTombstones removes the tombstones in bucket b whose version is at or
// below upTo and returns how many it removed. Live entries are untouched.
// A purged key is absent again, so any later write for it is accepted:
// purge only versions every replica has already seen.
func (s *Store) PurgeTombstones(b int, upTo Version) int {
	bk := &s.buckets[b]
	bk.mu.Lock()
	defer bk.mu.Unlock()
	n := 0
	var d Stats
	for k, sl := range bk.m {
		if sl.deleted() && sl.ver.Compare(upTo) <= 0 {
			delete(bk.m, k)
			bk.digest ^= entryHash(k, sl.ver, true)
			d = d.sub(slotStats(k, &sl))
			n++
		}
	}
	s.account(bk, d)
	if len(bk.m) == 0 {
		bk.m = nil // release the emptied map's memory
	}
	return n
}
