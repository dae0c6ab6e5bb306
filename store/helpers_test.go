package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// keyBucket is the tests' fixed key-to-bucket placement.
func keyBucket(key string, buckets int) int {
	return int(xxhash.Sum64String(key) % uint64(buckets))
}

var contentTypes = []string{"", "text/plain", "application/json", "application/octet-stream"}

// contentFor is the one write a (key, version) pair stands for, so equal
// versions always carry identical content, as the leader guarantees. Some
// tombstones carry a value and content type, which the store must drop.
func contentFor(key string, v Version) Entry {
	h := xxhash.Sum64String(key + "@" + v.String())
	e := Entry{Key: key, Version: v, Deleted: h%4 == 0}
	if !e.Deleted || h%8 == 4 {
		n := int(h>>8) % 40 // sometimes empty
		e.Value = bytes.Repeat([]byte{byte(h >> 16)}, n)
		e.ContentType = contentTypes[int(h>>24)%len(contentTypes)]
	}
	return e
}

// normalize is what the store is expected to hold for e.
func normalize(e Entry) Entry {
	if e.Deleted {
		e.Value, e.ContentType = nil, ""
	}
	if len(e.Value) == 0 {
		e.Value = nil
	}
	return e
}

// model is the naive reference: the entry with the highest version per key.
type model map[string]Entry

func (m model) apply(e Entry) bool {
	if old, ok := m[e.Key]; ok && e.Version.Compare(old.Version) <= 0 {
		return false
	}
	m[e.Key] = normalize(e)
	return true
}

// sorted returns the model's entries for bucket b of n, sorted by key.
func (m model) sorted(b, n int) []Entry {
	var out []Entry
	for k, e := range m {
		if keyBucket(k, n) == b {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y Entry) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// dump returns bucket b's entries with one Range call.
func dump(s *Store, b int) []Entry {
	es, more := s.Range(b, "", 1<<62)
	if more {
		panic("Range with huge maxBytes reported more")
	}
	return es
}

// sameEntries fails t unless got and want hold the same entries.
func sameEntries(t *testing.T, what string, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Key != w.Key || g.Version != w.Version || g.Deleted != w.Deleted ||
			g.ContentType != w.ContentType || !bytes.Equal(g.Value, w.Value) ||
			(g.Value == nil) != (w.Value == nil) {
			t.Fatalf("%s: entry %d = %s, want %s", what, i, fmtEntry(g), fmtEntry(w))
		}
	}
}

func fmtEntry(e Entry) string {
	return fmt.Sprintf("{%q %s del=%v ct=%q val=%q}", e.Key, e.Version, e.Deleted, e.ContentType, e.Value)
}

// randomEntries returns n writes over nkeys keys with versions from a small
// range, so repeated keys and equal versions are common.
func randomEntries(r *rand.Rand, n, nkeys int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		key := fmt.Sprintf("key-%d", r.IntN(nkeys))
		v := Version{Term: r.Uint64N(3), Seq: r.Uint64N(4)}
		es[i] = contentFor(key, v)
	}
	return es
}

// recount computes the stats of bucket b from its entries.
func recount(s *Store, b int) Stats {
	var st Stats
	for _, e := range dump(s, b) {
		if e.Deleted {
			st.Tombstones++
		} else {
			st.Keys++
			st.Bytes += int64(len(e.Key) + len(e.Value))
		}
	}
	return st
}

// digestOf recomputes bucket b's digest from its summary.
func digestOf(s *Store, b int) uint64 {
	var d uint64
	for _, kv := range s.Summary(b) {
		d ^= entryHash(kv.Key, kv.Version, kv.Deleted)
	}
	return d
}

// checkInvariants fails t unless every bucket's counters and digest match
// its contents and the store's counters are their sum.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	var total Stats
	for b := range s.Buckets() {
		st := recount(s, b)
		if got := s.BucketStats(b); got != st {
			t.Fatalf("bucket %d stats %+v, recount %+v", b, got, st)
		}
		if got, want := s.Digest(b), digestOf(s, b); got != want {
			t.Fatalf("bucket %d digest %x, recomputed %x", b, got, want)
		}
		total = total.add(st)
	}
	if got := s.Stats(); got != total {
		t.Fatalf("store stats %+v, recount %+v", got, total)
	}
}

// purgeTombstones removes, one key at a time through PurgeTombstone as the
// node does, the tombstones of bucket b at or below upTo, and returns how
// many it removed.
func purgeTombstones(s *Store, b int, upTo Version) int {
	n := 0
	for _, kv := range s.Summary(b) {
		if kv.Deleted && kv.Version.Compare(upTo) <= 0 && s.PurgeTombstone(b, kv.Key, kv.Version) {
			n++
		}
	}
	return n
}
