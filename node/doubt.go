package node

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Leader-local reads of a bucket this node holds as a backup (read.go)
// are linearizable only for keys whose every replica holds the same
// newest version. The leader coordinates every write, so it knows which
// keys that may not hold for: a key with a write in flight (writeStripes)
// and a key whose last write failed (inDoubt: some replicas may have
// applied it, the primary perhaps not).

// maxInDoubt bounds the keys tracked one by one; past it every key counts
// as in doubt until the next term.
const maxInDoubt = 1 << 16

// inDoubt is the set of keys whose last write under term failed. A key
// leaves it when a later write of it succeeds (every replica then holds
// that write). Only the newest term's marks are kept: a write of an
// earlier term that ends late can neither erase nor clear them. Safe for
// concurrent use.
type inDoubt struct {
	n        atomic.Int64 // len(keys), plus one while overflowed: zero means none
	mu       sync.Mutex
	term     uint64
	keys     map[string]struct{}
	overflow bool
}

// mark records that key's write under term failed. A mark of an earlier
// term than the newest seen counts under the newest (the caller may still
// read under it).
func (d *inDoubt) mark(term uint64, key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked(term)
	if d.overflow {
		return
	}
	if len(d.keys) >= maxInDoubt {
		d.keys, d.overflow = nil, true
		d.n.Store(1)
		return
	}
	if d.keys == nil {
		d.keys = map[string]struct{}{}
	}
	d.keys[key] = struct{}{}
	d.n.Store(int64(len(d.keys)))
}

// clear records that a write of key under term reached every replica.
func (d *inDoubt) clear(term uint64, key string) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if term == d.term && !d.overflow {
		delete(d.keys, key)
		d.n.Store(int64(len(d.keys)))
	}
}

// has reports whether key may differ between replicas under term.
func (d *inDoubt) has(term uint64, key string) bool {
	if d.n.Load() == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.term != term {
		// Marks of an earlier term were settled by the takeover merge; a
		// reader of an earlier term than the marks must not trust its copy.
		return d.term > term
	}
	_, ok := d.keys[key]
	return ok || d.overflow
}

// resetLocked forgets the marks of terms before term.
func (d *inDoubt) resetLocked(term uint64) {
	if term > d.term {
		d.term, d.keys, d.overflow = term, nil, false
		d.n.Store(0)
	}
}

// stripeOf returns the index of key's key lock and write stripe.
func (n *Node) stripeOf(key string) uint64 { return xxhash.Sum64String(key) % uint64(len(n.keyLocks)) }

// writeStripes tells a reader whether a write of a key may have run while
// it read: each stripe's counter is odd while a write of one of its keys is
// in progress and moves on when it ends (a sequence lock).
type writeStripes []atomic.Uint64

// begin and end bracket a write of a key of stripe i (under its key lock).
func (w writeStripes) begin(i uint64) { w[i].Add(1) }
func (w writeStripes) end(i uint64)   { w[i].Add(1) }

// snapshot returns stripe i's counter and whether no write is in progress.
func (w writeStripes) snapshot(i uint64) (uint64, bool) {
	s := w[i].Load()
	return s, s%2 == 0
}

// unchanged reports whether no write of stripe i began since snapshot s.
func (w writeStripes) unchanged(i uint64, s uint64) bool { return w[i].Load() == s }
