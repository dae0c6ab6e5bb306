package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

func put(key string, term, seq uint64, val string) Entry {
	return Entry{Key: key, Value: []byte(val), ContentType: "text/plain", Version: Version{Term: term, Seq: seq}}
}

func del(key string, term, seq uint64) Entry {
	return Entry{Key: key, Version: Version{Term: term, Seq: seq}, Deleted: true}
}

func mustGet(t *testing.T, s *Store, b int, key string) Entry {
	t.Helper()
	e, ok := s.Get(b, key)
	if !ok {
		t.Fatalf("Get(%d, %q): missing", b, key)
	}
	return e
}

func TestApplyIfNewer(t *testing.T) {
	s := New(4)
	if _, ok := s.Get(1, "a"); ok {
		t.Fatal("Get on empty store found a key")
	}
	if !s.Apply(1, put("a", 1, 5, "v1")) {
		t.Fatal("first Apply rejected")
	}
	e := mustGet(t, s, 1, "a")
	if string(e.Value) != "v1" || e.ContentType != "text/plain" || e.Version != (Version{Term: 1, Seq: 5}) || e.Deleted {
		t.Fatalf("Get = %s", fmtEntry(e))
	}
	if _, ok := s.Get(2, "a"); ok {
		t.Fatal("key visible in another bucket")
	}

	digest, stats := s.Digest(1), s.Stats()
	for _, old := range []Entry{
		put("a", 1, 5, "v1"),    // equal, same content
		put("a", 1, 4, "older"), // older seq
		put("a", 0, 9, "older"), // older term
		del("a", 1, 5),          // equal-version tombstone
		del("a", 1, 4),          // older tombstone
	} {
		if s.Apply(1, old) {
			t.Fatalf("Apply(%s) accepted over 1.5", fmtEntry(old))
		}
		if e := mustGet(t, s, 1, "a"); string(e.Value) != "v1" || e.Version != (Version{Term: 1, Seq: 5}) || e.Deleted {
			t.Fatalf("rejected Apply changed the entry: %s", fmtEntry(e))
		}
		if s.Digest(1) != digest || s.Stats() != stats {
			t.Fatal("rejected Apply changed digest or stats")
		}
	}

	if !s.Apply(1, put("a", 2, 0, "v2")) {
		t.Fatal("newer term rejected")
	}
	if e := mustGet(t, s, 1, "a"); string(e.Value) != "v2" {
		t.Fatalf("after newer put: %s", fmtEntry(e))
	}

	// A tombstone keeps no value and content type, and blocks older puts.
	tomb := del("a", 2, 1)
	tomb.Value, tomb.ContentType = []byte("junk"), "text/junk"
	if !s.Apply(1, tomb) {
		t.Fatal("newer tombstone rejected")
	}
	e = mustGet(t, s, 1, "a")
	if !e.Deleted || e.Value != nil || e.ContentType != "" || e.Version != (Version{Term: 2, Seq: 1}) {
		t.Fatalf("tombstone stored as %s", fmtEntry(e))
	}
	if s.Apply(1, put("a", 2, 0, "v2")) || s.Apply(1, put("a", 1, 9, "zombie")) {
		t.Fatal("older put resurrected a deleted key")
	}
	if e := mustGet(t, s, 1, "a"); !e.Deleted {
		t.Fatalf("deleted key came back: %s", fmtEntry(e))
	}
	if st := s.Stats(); st != (Stats{Tombstones: 1}) {
		t.Fatalf("stats %+v, want one tombstone", st)
	}

	if !s.Apply(1, put("a", 2, 2, "v3")) {
		t.Fatal("newer put after tombstone rejected")
	}
	if e := mustGet(t, s, 1, "a"); e.Deleted || string(e.Value) != "v3" {
		t.Fatalf("after re-put: %s", fmtEntry(e))
	}
	if st := s.Stats(); st != (Stats{Keys: 1, Bytes: 3}) {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, s)
}

func TestApplyTombstoneForAbsentKey(t *testing.T) {
	s := New(1)
	if !s.Apply(0, del("gone", 3, 1)) {
		t.Fatal("tombstone for an absent key rejected")
	}
	if s.Apply(0, put("gone", 3, 0, "x")) {
		t.Fatal("older put accepted over a tombstone")
	}
	if e := mustGet(t, s, 0, "gone"); !e.Deleted {
		t.Fatalf("got %s", fmtEntry(e))
	}
	// Absent is older than everything, even the zero version.
	if !s.Apply(0, put("zero", 0, 0, "z")) {
		t.Fatal("zero version rejected for an absent key")
	}
	checkInvariants(t, s)
}

func TestApplyValueOwnership(t *testing.T) {
	s := New(1)
	big := make([]byte, 5, 4096)
	copy(big, "hello")
	s.Apply(0, Entry{Key: "k", Value: big, Version: Version{Term: 1, Seq: 1}})
	e := mustGet(t, s, 0, "k")
	if string(e.Value) != "hello" || cap(e.Value) != len(e.Value) {
		t.Fatalf("value %q cap %d, want clipped \"hello\"", e.Value, cap(e.Value))
	}
	if &e.Value[0] == &big[0] {
		t.Fatal("store kept a mostly-empty buffer instead of copying")
	}

	exact := []byte("world")
	s.Apply(0, Entry{Key: "k2", Value: exact, Version: Version{Term: 1, Seq: 1}})
	e = mustGet(t, s, 0, "k2")
	if string(e.Value) != "world" || cap(e.Value) != len(e.Value) {
		t.Fatalf("value %q cap %d, want clipped \"world\"", e.Value, cap(e.Value))
	}
	// Appending to a returned value must not write into the store.
	_ = append(e.Value, '!')
	s.Apply(0, Entry{Key: "k3", Value: []byte{}, ContentType: "x/y", Version: Version{Term: 1, Seq: 1}})
	if e := mustGet(t, s, 0, "k3"); e.Value != nil || e.ContentType != "x/y" {
		t.Fatalf("empty value stored as %s", fmtEntry(e))
	}
}

func TestContentTypes(t *testing.T) {
	s := New(2)
	// More distinct content types than the intern table holds.
	n := maxInterned + 50
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		ct := fmt.Sprintf("type/%d", i)
		s.Apply(i%2, Entry{Key: key, Value: []byte("v"), ContentType: ct, Version: Version{Term: 1, Seq: 1}})
	}
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		if e := mustGet(t, s, i%2, key); e.ContentType != fmt.Sprintf("type/%d", i) {
			t.Fatalf("%s: content type %q", key, e.ContentType)
		}
	}
	// Interned strings are shared.
	a, b := strings.Clone("type/1"), strings.Clone("type/1")
	s.Apply(0, Entry{Key: "x1", ContentType: a, Version: Version{Term: 1, Seq: 1}})
	s.Apply(1, Entry{Key: "x2", ContentType: b, Version: Version{Term: 1, Seq: 1}})
	e1, e2 := mustGet(t, s, 0, "x1"), mustGet(t, s, 1, "x2")
	if e1.ContentType != "type/1" || e2.ContentType != "type/1" ||
		unsafe.StringData(e1.ContentType) != unsafe.StringData(e2.ContentType) ||
		unsafe.StringData(e1.ContentType) == unsafe.StringData(a) {
		t.Fatal("content type not interned as a private shared copy")
	}

	// Rare (uninterned) types follow their key through updates.
	rare := fmt.Sprintf("type/%d", n-1)
	k := fmt.Sprintf("k%d", n-1)
	b0 := (n - 1) % 2
	s.Apply(b0, Entry{Key: k, Value: []byte("v"), ContentType: "type/1", Version: Version{Term: 1, Seq: 2}})
	if e := mustGet(t, s, b0, k); e.ContentType != "type/1" {
		t.Fatalf("rare→interned: %q", e.ContentType)
	}
	s.Apply(b0, Entry{Key: k, Value: []byte("v"), ContentType: rare, Version: Version{Term: 1, Seq: 3}})
	if e := mustGet(t, s, b0, k); e.ContentType != rare {
		t.Fatalf("interned→rare: %q", e.ContentType)
	}
	s.Apply(b0, Entry{Key: k, Version: Version{Term: 1, Seq: 4}, Deleted: true})
	if _, ok := s.buckets[b0].rare[k]; ok {
		t.Fatal("rare content type kept for a tombstone")
	}
	s.Drop(0)
	if s.buckets[0].rare != nil {
		t.Fatal("Drop kept rare content types")
	}
}

func TestBucketOutOfRangePanics(t *testing.T) {
	s := New(3)
	for _, b := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Get(%d) did not panic", b)
				}
			}()
			s.Get(b, "k")
		}()
	}
}

// TestApplyOrderIndependent applies random writes in several random orders
// to separate stores and checks they end identical to each other and to the
// naive model (highest version per key).
func TestApplyOrderIndependent(t *testing.T) {
	const buckets = 3
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		es := randomEntries(r, 1+r.IntN(80), 1+r.IntN(12))
		m := model{}
		for _, e := range es {
			m.apply(e)
		}
		var first *Store
		for perm := range 4 {
			order := r.Perm(len(es))
			s := New(buckets)
			for _, i := range order {
				e := es[i]
				e.Value = bytes.Clone(e.Value) // the store owns what it is given
				s.Apply(keyBucket(e.Key, buckets), e)
			}
			for b := range buckets {
				what := fmt.Sprintf("seed %d perm %d bucket %d", seed, perm, b)
				sameEntries(t, what, dump(s, b), m.sorted(b, buckets))
				if first != nil {
					sameEntries(t, what, dump(s, b), dump(first, b))
					if s.Digest(b) != first.Digest(b) {
						t.Fatalf("%s: digest differs between orders", what)
					}
				}
			}
			checkInvariants(t, s)
			if first == nil {
				first = s
			}
		}
	}
}

// TestApplyResult checks Apply's result against the model, write by write.
func TestApplyResult(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 8))
		s, m := New(2), model{}
		for _, e := range randomEntries(r, 200, 10) {
			b := keyBucket(e.Key, 2)
			if got, want := s.Apply(b, e), m.apply(e); got != want {
				t.Fatalf("seed %d: Apply(%s) = %v, model %v", seed, fmtEntry(e), got, want)
			}
			got, ok := s.Get(b, e.Key)
			if !ok {
				t.Fatalf("seed %d: %q missing", seed, e.Key)
			}
			sameEntries(t, "Get", []Entry{got}, []Entry{m[e.Key]})
		}
	}
}

func TestExpiredFindsDueEntriesOnly(t *testing.T) {
	s := New(1)
	at := func(key string, seq uint64, expires int64) Entry {
		return Entry{Key: key, Value: []byte("v"), Version: Version{Term: 1, Seq: seq}, Expires: expires}
	}
	s.Apply(0, at("a", 1, 1000))
	s.Apply(0, at("b", 2, 2000))
	s.Apply(0, at("c", 3, 0)) // never expires
	s.Apply(0, at("d", 4, 1500))
	s.Apply(0, at("d", 5, 0)) // a write without ttl clears the expiry
	if e, _ := s.Get(0, "a"); e.Expires != 1000 || !e.Expired(1000) || e.Expired(999) {
		t.Fatalf("entry a: %+v", e)
	}
	if got := s.Expired(0, 999, 10); len(got) != 0 {
		t.Fatalf("due at 999: %v", got)
	}
	got := s.Expired(0, 1500, 10)
	if len(got) != 1 || got[0].Key != "a" || got[0].Version != (Version{Term: 1, Seq: 1}) {
		t.Fatalf("due at 1500: %v", got)
	}
	// A tombstone or a forgotten key leaves the expiry index.
	s.Apply(0, Entry{Key: "a", Deleted: true, Version: Version{Term: 1, Seq: 6}})
	if got := s.Expired(0, 1500, 10); len(got) != 0 {
		t.Fatalf("after deleting a: %v", got)
	}
	if got := s.Expired(0, 5000, 10); len(got) != 1 || got[0].Key != "b" {
		t.Fatalf("due at 5000: %v", got)
	}
	s.Forget(0, "b", Version{Term: 1, Seq: 2})
	if got := s.Expired(0, 5000, 10); len(got) != 0 {
		t.Fatalf("after forgetting b: %v", got)
	}
	// max bounds one call; the rest stay due.
	for i := range 5 {
		s.Apply(0, at(fmt.Sprint("m", i), uint64(10+i), 100))
	}
	if first, second := s.Expired(0, 200, 3), s.Expired(0, 200, 3); len(first) != 3 || len(second) != 3 {
		t.Fatalf("bounded calls: %d then %d, want 3 and 3 (still due)", len(first), len(second))
	}
}
