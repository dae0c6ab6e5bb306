package store

import (
	"strings"
	"sync"
	"sync/atomic"
)

// maxInterned bounds the intern table; further content types are kept per
// key in their bucket's rare map.
const maxInterned = 255

// interner maps content types to small ids shared by a store's entries, so
// a million keys of "application/octet-stream" hold one string.
//
// names is a fixed array written once per id under mu, before the id is
// handed out; readers who got an id through a bucket lock or last may read
// names[id] without mu.
type interner struct {
	last  atomic.Uint32 // most recently used id, checked lock-free
	mu    sync.RWMutex
	ids   map[string]uint32
	names [maxInterned + 1]string // names[0] is ""
}

// id returns the id for content type s, or ctRare if the table is full and
// s is not in it.
func (in *interner) id(s string) uint32 {
	if s == "" {
		return ctNone
	}
	if i := in.last.Load(); i != ctNone && in.names[i] == s {
		return i
	}
	in.mu.RLock()
	i, ok := in.ids[s]
	in.mu.RUnlock()
	if ok {
		in.last.Store(i)
		return i
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if i, ok := in.ids[s]; ok {
		return i
	}
	if len(in.ids) >= maxInterned {
		return ctRare
	}
	if in.ids == nil {
		in.ids = make(map[string]uint32)
	}
	i = uint32(len(in.ids) + 1)
	c := strings.Clone(s) // don't pin the caller's buffer
	in.names[i] = c
	in.ids[c] = i
	in.last.Store(i)
	return i
}

// name returns the content type for an id from id (not ctRare or
// ctTombstone).
func (in *interner) name(i uint32) string { return in.names[i] }
