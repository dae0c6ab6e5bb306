package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// TestRecordRoundTrip checks that records give back what they were built
// from, for edge-case keys, values and versions.
func TestRecordRoundTrip(t *testing.T) {
	var every [256]byte
	for i := range every {
		every[i] = byte(i)
	}
	keys := []string{"", "k", string(every[:]), strings.Repeat("x", 300), "\x00", "\xff\x80"}
	values := [][]byte{nil, {0}, every[:], bytes.Repeat([]byte{0x80}, 70000)}
	versions := []Version{{}, {Term: 1, Seq: 1}, {Term: 127, Seq: 128}, {Term: 1 << 63, Seq: 1<<64 - 1}}
	for _, k := range keys {
		for _, val := range values {
			for _, ver := range versions {
				for _, ct := range []uint32{ctNone, 1, 127, 128, maxInterned, ctRare, ctTombstone} {
					r, built := newRecord(k, ver, ct, val)
					v := r.view()
					want := val
					if ct == ctTombstone || len(val) == 0 {
						want = nil
					}
					for _, got := range []view{built, v} {
						if got.key != k || got.ver != ver || got.ct != ct ||
							!bytes.Equal(got.value, want) || (got.value == nil) != (want == nil) ||
							cap(got.value) != len(got.value) {
							t.Fatalf("record(%q, %v, %d, %d bytes) read back as key %q ver %v ct %d, %d bytes cap %d",
								k, ver, ct, len(val), got.key, got.ver, got.ct, len(got.value), cap(got.value))
						}
					}
					if r.key() != k || !r.hasKey(k) || r.hasKey(k+"x") {
						t.Fatalf("record key %q: key/hasKey wrong", k)
					}
				}
			}
		}
	}
}

// checkIndex fails t unless x holds exactly the keys of want, each
// reachable from its home slot, with a consistent count and load.
func checkIndex(t *testing.T, x *index, want map[string]bool) {
	t.Helper()
	if x.n != len(want) {
		t.Fatalf("index holds %d records, want %d", x.n, len(want))
	}
	if len(x.tags) != len(x.recs) || len(x.tags)&(len(x.tags)-1) != 0 ||
		4*x.n > 3*len(x.tags) || (x.n == 0) != (len(x.tags) == 0) {
		t.Fatalf("index of %d records has %d tags, %d slots", x.n, len(x.tags), len(x.recs))
	}
	used := 0
	for i, tag := range x.tags {
		if tag == 0 {
			if x.recs[i] != (record{}) {
				t.Fatalf("empty slot %d keeps a record", i)
			}
			continue
		}
		used++
		k := x.recs[i].key()
		if !want[k] {
			t.Fatalf("slot %d holds unexpected key %q", i, k)
		}
		if tag != tagOf(hashKey(k)) {
			t.Fatalf("slot %d: wrong tag for %q", i, k)
		}
		if j, ok := x.find(k, hashKey(k)); !ok || j != i {
			t.Fatalf("key %q at slot %d found at %d, %v", k, i, j, ok)
		}
	}
	if used != x.n {
		t.Fatalf("%d slots used, n = %d", used, x.n)
	}
}

// TestIndexRandomOps inserts, replaces and removes random keys against a
// map, through growth and shrinking, with probe runs that wrap around the
// table's end.
func TestIndexRandomOps(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 9))
		var x index
		want := map[string]bool{}
		nkeys := 1 + r.IntN(400)
		for op := range 3000 {
			k := fmt.Sprintf("k%d", r.IntN(nkeys))
			h := hashKey(k)
			i, ok := x.find(k, h)
			if ok != want[k] {
				t.Fatalf("seed %d op %d: find(%q) = %v, want %v", seed, op, k, ok, want[k])
			}
			switch {
			case ok && r.IntN(2) == 0:
				x.remove(i)
				x.shrink()
				delete(want, k)
			case ok:
				rec, _ := newRecord(k, Version{Term: 1, Seq: uint64(op)}, ctNone, nil)
				x.recs[i] = rec
			default:
				rec, _ := newRecord(k, Version{Term: 1, Seq: uint64(op)}, ctNone, nil)
				x.insert(i, h, rec)
				want[k] = true
			}
			if op%97 == 0 {
				checkIndex(t, &x, want)
			}
		}
		checkIndex(t, &x, want)
		for k := range want {
			i, _ := x.find(k, hashKey(k))
			x.remove(i)
			x.shrink()
			delete(want, k)
		}
		checkIndex(t, &x, want)
	}
}

// TestIndexCollisions drives one long probe run: in a 1024-slot table,
// 100 keys share the last slot as home, so their run wraps around the
// table's end, and removing them in random order must keep the rest
// reachable.
func TestIndexCollisions(t *testing.T) {
	const size = 1024
	var colliding, others []string
	for i := 0; len(colliding) < 100 || len(others) < 600; i++ {
		k := fmt.Sprint(i)
		if hashKey(k)&(size-1) == size-1 {
			colliding = append(colliding, k)
		} else {
			others = append(others, k)
		}
	}
	var x index
	want := map[string]bool{}
	for _, k := range append(colliding[:100], others[:600]...) {
		h := hashKey(k)
		i, ok := x.find(k, h)
		if ok {
			t.Fatalf("%q already present", k)
		}
		rec, _ := newRecord(k, Version{Term: 1, Seq: 1}, ctTombstone, nil)
		x.insert(i, h, rec)
		want[k] = true
	}
	if len(x.tags) != size {
		t.Fatalf("%d slots, want %d", len(x.tags), size)
	}
	checkIndex(t, &x, want)
	r := rand.New(rand.NewPCG(1, 2))
	for _, j := range r.Perm(100) {
		k := colliding[j]
		i, ok := x.find(k, hashKey(k))
		if !ok {
			t.Fatalf("%q lost", k)
		}
		x.remove(i)
		delete(want, k)
		checkIndex(t, &x, want)
	}
}

// TestPurgeTombstonesIndex purges most of a bucket's keys, which removes
// records mid-scan and shrinks the index, and checks what remains.
func TestPurgeTombstonesIndex(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 10))
		s, m := New(1), model{}
		n := r.IntN(3000)
		for i := range n {
			k := fmt.Sprintf("key-%d", i)
			e := Entry{Key: k, Version: Version{Term: 1, Seq: uint64(r.IntN(10))}, Deleted: r.IntN(10) != 0}
			if !e.Deleted {
				e.Value = []byte(k)
			}
			s.Apply(0, e)
			m.apply(e)
		}
		upTo := Version{Term: 1, Seq: uint64(r.IntN(10))}
		purged := 0
		for k, e := range m {
			if e.Deleted && e.Version.Compare(upTo) <= 0 {
				delete(m, k)
				purged++
			}
		}
		if got := purgeTombstones(s, 0, upTo); got != purged {
			t.Fatalf("seed %d: purged %d, want %d", seed, got, purged)
		}
		sameEntries(t, "after purge", dump(s, 0), m.sorted(0, 1))
		checkInvariants(t, s)
		want := map[string]bool{}
		for k := range m {
			want[k] = true
		}
		checkIndex(t, &s.buckets[0].idx, want)
		if 8*len(want) < 3*len(s.buckets[0].idx.tags)/2 && len(s.buckets[0].idx.tags) > minIndexSize {
			t.Fatalf("seed %d: %d slots kept for %d keys", seed, len(s.buckets[0].idx.tags), len(want))
		}
	}
}

// TestValuesNeverChange checks that entries handed out keep their key and
// value when the key is overwritten, deleted, purged or its bucket dropped.
func TestValuesNeverChange(t *testing.T) {
	s := New(1)
	s.Apply(0, Entry{Key: "k", Value: []byte("first"), ContentType: "a/b", Version: Version{Term: 1, Seq: 1}})
	got := mustGet(t, s, 0, "k")
	ranged := dump(s, 0)[0]
	keys, _ := s.Keys([]int{0}, "", "", 0)
	sum := s.Summary(0)[0]
	s.Apply(0, Entry{Key: "k", Value: []byte("second"), ContentType: "c/d", Version: Version{Term: 1, Seq: 2}})
	s.Apply(0, Entry{Key: "k", Version: Version{Term: 1, Seq: 3}, Deleted: true})
	s.PurgeTombstone(0, "k", Version{Term: 1, Seq: 3})
	for i := range 100 { // reuse of freed memory would show
		s.Apply(0, Entry{Key: "k", Value: []byte("third"), Version: Version{Term: 2, Seq: uint64(i)}})
	}
	s.Drop(0)
	for _, e := range []Entry{got, ranged} {
		if e.Key != "k" || string(e.Value) != "first" || e.ContentType != "a/b" || e.Version != (Version{Term: 1, Seq: 1}) {
			t.Fatalf("entry changed to %s", fmtEntry(e))
		}
	}
	if keys[0] != "k" || sum.Key != "k" || sum.Version != (Version{Term: 1, Seq: 1}) {
		t.Fatalf("keys %q summary %+v changed", keys, sum)
	}
}

// TestApplyCopiesValue checks that Apply keeps a copy of the value in its
// record rather than the caller's buffer.
func TestApplyCopiesValue(t *testing.T) {
	s := New(1)
	val := []byte("value")
	s.Apply(0, Entry{Key: "key", Value: val, Version: Version{Term: 1, Seq: 1}})
	copy(val, "XXXXX")
	if e := mustGet(t, s, 0, "key"); string(e.Value) != "value" {
		t.Fatalf("value %q", e.Value)
	}
}

// TestApplyCopiesKeyAndContentType reuses the buffers a key and a content
// type were read from, as the durable log's replay does.
func TestApplyCopiesKeyAndContentType(t *testing.T) {
	s := New(1)
	buf := []byte("key1text/x-rare-kind")
	key := unsafe.String(&buf[0], 4)
	ct := unsafe.String(&buf[4], len(buf)-4)
	s.Apply(0, Entry{Key: key, Value: []byte("v"), ContentType: ct, Version: Version{Term: 1, Seq: 1}, Expires: 99})
	copy(buf, "XXXXXXXXXXXXXXXXXXXX")
	e, ok := s.Get(0, "key1")
	if !ok || e.Key != "key1" || e.ContentType != "text/x-rare-kind" || e.Expires != 99 {
		t.Fatalf("after reusing the buffers: %+v (found %v)", e, ok)
	}
	if got := s.Expired(0, 100, 10); len(got) != 1 || got[0].Key != "key1" {
		t.Fatalf("the expiry index lost the key: %v", got)
	}
}
