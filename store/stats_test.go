package store

import (
	"math/rand/v2"
	"testing"
)

// TestStatsRecount runs random applies, purges and drops and compares the
// counters with a recount.
func TestStatsRecount(t *testing.T) {
	const n = 4
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 10))
		s := New(n)
		for _, e := range randomEntries(r, 400, 60) {
			switch x := r.IntN(100); {
			case x < 2:
				s.Drop(r.IntN(n))
			case x < 5:
				purgeTombstones(s, r.IntN(n), Version{Term: r.Uint64N(3), Seq: r.Uint64N(4)})
			default:
				s.Apply(keyBucket(e.Key, n), e)
			}
		}
		checkInvariants(t, s)
	}
}

func TestStatsValues(t *testing.T) {
	s := New(2)
	s.Apply(0, put("ab", 1, 1, "xyz"))  // 5 bytes
	s.Apply(1, put("c", 1, 1, ""))      // 1 byte
	s.Apply(1, del("gone", 1, 1))       // tombstone
	s.Apply(0, put("ab", 1, 2, "wxyz")) // replaces: 6 bytes
	if got, want := s.Stats(), (Stats{Keys: 2, Tombstones: 1, Bytes: 7}); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if got, want := s.BucketStats(1), (Stats{Keys: 1, Tombstones: 1, Bytes: 1}); got != want {
		t.Fatalf("BucketStats(1) = %+v, want %+v", got, want)
	}
	s.Drop(1)
	if got, want := s.Stats(), (Stats{Keys: 1, Bytes: 6}); got != want {
		t.Fatalf("after Drop: %+v, want %+v", got, want)
	}
	if got := s.BucketStats(1); got != (Stats{}) {
		t.Fatalf("dropped bucket stats %+v", got)
	}
	if _, ok := s.Get(1, "c"); ok {
		t.Fatal("dropped key still present")
	}
}
