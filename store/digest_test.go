package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestDigestEmptyIsZero(t *testing.T) {
	s := New(2)
	if s.Digest(0) != 0 || s.Digest(1) != 0 {
		t.Fatal("empty bucket digest not 0")
	}
	s.Apply(0, put("a", 1, 1, "x"))
	if s.Digest(0) == 0 {
		t.Fatal("digest still 0 after a write")
	}
	if s.Digest(1) != 0 {
		t.Fatal("write changed another bucket's digest")
	}
	s.Drop(0)
	if s.Digest(0) != 0 {
		t.Fatal("digest not 0 after Drop")
	}
	s.Apply(0, del("a", 1, 2))
	if purgeTombstones(s, 0, Version{Term: 1, Seq: 2}) != 1 || s.Digest(0) != 0 {
		t.Fatal("digest not 0 after purging the only tombstone")
	}
}

// TestDigestSameContent builds the same entries through different histories
// (older versions first, values that differ only in ignored fields).
func TestDigestSameContent(t *testing.T) {
	a, b := New(1), New(1)
	a.Apply(0, put("k1", 1, 1, "old"))
	a.Apply(0, put("k1", 1, 2, "new"))
	a.Apply(0, del("k2", 2, 1))
	b.Apply(0, del("k2", 2, 1))
	b.Apply(0, put("k1", 1, 2, "new"))
	if a.Digest(0) != b.Digest(0) {
		t.Fatal("same entries, different digests")
	}
}

// TestDigestDiffers changes one thing about a random bucket and expects the
// digest to change.
func TestDigestDiffers(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 3))
		n := 1 + r.IntN(30)
		var es []Entry
		for i := range n {
			es = append(es, contentFor(fmt.Sprintf("key-%d", i), Version{Term: r.Uint64N(5) + 1, Seq: r.Uint64N(5) + 1}))
		}
		build := func(es []Entry) *Store {
			s := New(1)
			for _, e := range es {
				s.Apply(0, e)
			}
			return s
		}
		base := build(es).Digest(0)

		mut := append([]Entry(nil), es...)
		i := r.IntN(n)
		var what string
		switch r.IntN(5) {
		case 0:
			mut[i].Version.Seq++
			what = "seq"
		case 1:
			mut[i].Version.Term++
			what = "term"
		case 2:
			mut[i].Deleted = !mut[i].Deleted
			what = "deleted"
		case 3:
			mut = append(mut, contentFor("extra", Version{Term: 1, Seq: 1}))
			what = "added key"
		case 4:
			mut = append(mut[:i], mut[i+1:]...)
			what = "removed key"
		}
		if got := build(mut).Digest(0); got == base {
			t.Fatalf("seed %d: changing %s left the digest at %x", seed, what, got)
		}
	}
}

func TestDigestPurgeTombstones(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 4))
		es := randomEntries(r, 100, 30)
		s, m := New(1), model{}
		for _, e := range es {
			s.Apply(0, e)
			m.apply(e)
		}
		upTo := Version{Term: r.Uint64N(3), Seq: r.Uint64N(4)}
		want, removed := New(1), 0
		for _, e := range m {
			if e.Deleted && e.Version.Compare(upTo) <= 0 {
				removed++
				continue
			}
			want.Apply(0, e)
		}
		if got := purgeTombstones(s, 0, upTo); got != removed {
			t.Fatalf("seed %d: purged %d, want %d", seed, got, removed)
		}
		if s.Digest(0) != want.Digest(0) {
			t.Fatalf("seed %d: digest after purge differs from a store never holding the purged tombstones", seed)
		}
		sameEntries(t, "after purge", dump(s, 0), dump(want, 0))
		checkInvariants(t, s)
		if purgeTombstones(s, 0, upTo) != 0 {
			t.Fatal("second purge removed more")
		}
	}
}

func TestPurgeTombstonesUpTo(t *testing.T) {
	s := New(1)
	s.Apply(0, del("k", 2, 0))
	s.Apply(0, put("live", 1, 0, "v"))
	if n := purgeTombstones(s, 0, Version{Term: 1, Seq: 9}); n != 0 {
		t.Fatalf("purged %d tombstones newer than upTo", n)
	}
	if n := purgeTombstones(s, 0, Version{Term: 2, Seq: 0}); n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	if _, ok := s.Get(0, "k"); ok {
		t.Fatal("purged tombstone still present")
	}
	if _, ok := s.Get(0, "live"); !ok {
		t.Fatal("purge removed a live entry")
	}
	checkInvariants(t, s)
}

func TestForgetRemovesOnlyThatVersion(t *testing.T) {
	s := New(1)
	s.Apply(0, put("live", 3, 1, "v"))
	s.Apply(0, Entry{Key: "rare", Value: []byte("x"), ContentType: "application/x-rare-type", Version: Version{Term: 3, Seq: 2}})
	s.Apply(0, del("gone", 3, 3))
	empty := New(1).Digest(0)
	if s.Forget(0, "live", Version{Term: 3, Seq: 0}) || s.Forget(0, "absent", Version{Term: 3, Seq: 1}) {
		t.Fatal("forgot an entry of another version, or an absent key")
	}
	for _, kv := range []KeyVersion{{Key: "live", Version: Version{Term: 3, Seq: 1}}, {Key: "rare", Version: Version{Term: 3, Seq: 2}}, {Key: "gone", Version: Version{Term: 3, Seq: 3}}} {
		if !s.Forget(0, kv.Key, kv.Version) {
			t.Fatalf("did not forget %s", kv.Key)
		}
		if _, ok := s.Get(0, kv.Key); ok {
			t.Fatalf("%s still stored", kv.Key)
		}
	}
	if s.Digest(0) != empty || s.Stats() != (Stats{}) {
		t.Fatalf("after forgetting everything: digest %x stats %+v", s.Digest(0), s.Stats())
	}
	checkInvariants(t, s)
}
