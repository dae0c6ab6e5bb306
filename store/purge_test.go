package store

import "testing"

func TestPurgeTombstoneOnlyExactTombstone(t *testing.T) {
	s := New(2)
	v := func(seq uint64) Version { return Version{Term: 1, Seq: seq} }
	s.Apply(0, Entry{Key: "gone", Version: v(2), Deleted: true})
	s.Apply(0, Entry{Key: "live", Value: []byte("x"), Version: v(3)})
	s.Apply(1, Entry{Key: "other", Version: v(4), Deleted: true})
	before := s.Digest(0)

	if s.PurgeTombstone(0, "gone", v(1)) {
		t.Fatal("purged a tombstone of another version")
	}
	if s.PurgeTombstone(0, "live", v(3)) {
		t.Fatal("purged a live entry")
	}
	if s.PurgeTombstone(0, "missing", v(3)) {
		t.Fatal("purged an absent key")
	}
	if s.Digest(0) != before {
		t.Fatal("a refused purge changed the digest")
	}
	if !s.PurgeTombstone(0, "gone", v(2)) {
		t.Fatal("did not purge the exact tombstone")
	}
	if _, ok := s.Get(0, "gone"); ok {
		t.Fatal("tombstone still there")
	}
	if st := s.Stats(); st.Tombstones != 1 || st.Keys != 1 {
		t.Fatalf("stats after purge: %+v", st)
	}
	want := New(2)
	want.Apply(0, Entry{Key: "live", Value: []byte("x"), Version: v(3)})
	if s.Digest(0) != want.Digest(0) {
		t.Fatal("digest after purge differs from a store that never had the tombstone")
	}
}
