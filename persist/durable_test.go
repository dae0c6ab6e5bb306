package persist

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wal"
)

const testBuckets = 8

func testConfig(dir string) Config {
	cfg := DefaultConfig(dir, testBuckets)
	cfg.Log.SegmentSize = wal.MinSegmentSize
	return cfg
}

func open(t *testing.T, cfg Config) (*Durable, *store.Store, Recovered) {
	t.Helper()
	mem := store.New(testBuckets)
	d, rec, err := Open(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	return d, mem, rec
}

// dump returns every entry of every bucket, in order.
func dump(s *store.Store) []store.Entry {
	var out []store.Entry
	for b := range s.Buckets() {
		after := ""
		for {
			es, more := s.Range(b, after, 1<<20)
			out = append(out, es...)
			if !more || len(es) == 0 {
				break
			}
			after = es[len(es)-1].Key
		}
	}
	return out
}

func sameStores(t *testing.T, what string, got, want *store.Store) {
	t.Helper()
	g, w := dump(got), dump(want)
	if !slices.EqualFunc(g, w, func(a, b store.Entry) bool {
		return a.Key == b.Key && a.Version == b.Version && a.Deleted == b.Deleted && a.Expires == b.Expires &&
			bytes.Equal(a.Value, b.Value) && a.ContentType == b.ContentType
	}) {
		t.Fatalf("%s: %d entries recovered, %d expected\n got %v\nwant %v", what, len(g), len(w), g, w)
	}
	for b := range got.Buckets() {
		if got.Digest(b) != want.Digest(b) {
			t.Fatalf("%s: bucket %d digest differs", what, b)
		}
	}
}

// write applies entries to mem through d, as the node does.
func write(t *testing.T, d *Durable, mem *store.Store, b int, es ...store.Entry) {
	t.Helper()
	if err := d.Append(b, es, func() error {
		for _, e := range es {
			mem.Apply(b, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverEverythingRecorded(t *testing.T) {
	dir := t.TempDir()
	d, mem, rec := open(t, testConfig(dir))
	if rec.Identity != (Identity{}) || rec.State != nil || rec.Entries != 0 {
		t.Fatalf("a new directory recovered %+v", rec)
	}
	if err := d.SaveIdentity(Identity{ID: 7, Incarnation: 42}); err != nil {
		t.Fatal(err)
	}
	write(t, d, mem, 1, store.Entry{Key: "a", Value: []byte("1"), ContentType: "text/plain", Version: store.Version{Term: 5, Seq: 1}})
	write(t, d, mem, 1, store.Entry{Key: "a", Value: []byte("2"), Version: store.Version{Term: 5, Seq: 2}, Expires: 1_700_000_000_123})
	write(t, d, mem, 2, store.Entry{Key: "b", Value: []byte{}, Version: store.Version{Term: 6, Seq: 1}},
		store.Entry{Key: "c", Deleted: true, Version: store.Version{Term: 6, Seq: 2}},
		store.Entry{Key: "d", Deleted: true, Version: store.Version{Term: 6, Seq: 3}},
		store.Entry{Key: "e", Value: []byte("forget me"), Version: store.Version{Term: 6, Seq: 4}})
	if err := d.Purge(2, "c", store.Version{Term: 6, Seq: 2}, func() error {
		mem.PurgeTombstone(2, "c", store.Version{Term: 6, Seq: 2})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Forget(2, "e", store.Version{Term: 6, Seq: 4}, func() error {
		mem.Forget(2, "e", store.Version{Term: 6, Seq: 4})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.MarkHeld(2); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState([]byte("state-1")); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveState([]byte("state-2")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, mem2, rec := open(t, testConfig(dir))
	defer d2.Close()
	sameStores(t, "after reopening", mem2, mem)
	if rec.Identity != (Identity{ID: 7, Incarnation: 42}) || string(rec.State) != "state-2" || rec.MaxTerm != 6 {
		t.Fatalf("recovered identity %+v, state %q, max term %d", rec.Identity, rec.State, rec.MaxTerm)
	}
	if !slices.Equal(rec.Held, []bool{false, false, true, false, false, false, false, false}) {
		t.Fatalf("held %v", rec.Held)
	}
}

// TestCompactionUnderConcurrentWrites compacts while writers append, then
// reopens: the store comes back equal, and the log shrank.
func TestCompactionUnderConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	d, mem, _ := open(t, cfg)
	value := bytes.Repeat([]byte("x"), 200)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 3000 {
				key := fmt.Sprintf("k%d", r.IntN(300))
				b := int(r.IntN(testBuckets))
				e := store.Entry{Key: key, Value: value, Version: store.Version{Term: 1, Seq: uint64(w*1_000_000 + i + 1)}}
				if r.IntN(5) == 0 {
					e = store.Entry{Key: key, Deleted: true, Version: e.Version}
				}
				write(t, d, mem, b, e)
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := d.Compact(); err != nil && !errors.Is(err, wal.ErrSnapshotBusy) {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := d.Compact(); err != nil {
		t.Fatal(err)
	}
	st, compactions, _ := d.Stats()
	if compactions < 2 || st.LogBytes > 2*wal.MinSegmentSize {
		t.Fatalf("%d compactions, %d log bytes left", compactions, st.LogBytes)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, mem2, _ := open(t, cfg)
	defer d2.Close()
	sameStores(t, "after compactions and reopening", mem2, mem)
}

// TestFullDiskRefusesWithoutApplying fills the disk: the append fails with
// wal.ErrNoSpace, apply is not called, and once space is back writes go on
// and a restart finds exactly the acknowledged ones.
func TestFullDiskRefusesWithoutApplying(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	fs := wal.NewFaultFS(wal.OSFS{})
	cfg.Log.FS = fs
	d, mem, _ := open(t, cfg)
	write(t, d, mem, 0, store.Entry{Key: "before", Value: []byte("1"), Version: store.Version{Term: 1, Seq: 1}})
	fs.FailWrites(syscall.ENOSPC)
	applied := false
	err := d.Append(0, []store.Entry{{Key: "refused", Value: []byte("2"), Version: store.Version{Term: 1, Seq: 2}}}, func() error {
		applied = true
		return nil
	})
	if !errors.Is(err, wal.ErrNoSpace) || applied {
		t.Fatalf("append on a full disk: %v (applied %v), want wal.ErrNoSpace and no apply", err, applied)
	}
	fs.FailWrites(nil)
	write(t, d, mem, 0, store.Entry{Key: "after", Value: []byte("3"), Version: store.Version{Term: 1, Seq: 3}})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, mem2, _ := open(t, testConfig(dir))
	defer d2.Close()
	sameStores(t, "after the full disk", mem2, mem)
	if _, ok := mem2.Get(0, "refused"); ok {
		t.Fatal("the refused write came back")
	}
}

func TestDecodeRefusesMalformedRecords(t *testing.T) {
	good := appendEntry(nil, 3, &store.Entry{Key: "k", Value: []byte("v"), ContentType: "t", Version: store.Version{Term: 1, Seq: 2}})
	if _, err := decode(good, testBuckets); err != nil {
		t.Fatalf("a good record: %v", err)
	}
	for i := range len(good) {
		if _, err := decode(good[:i], testBuckets); err == nil {
			t.Errorf("a record cut at %d bytes decoded", i)
		}
	}
	for _, rec := range [][]byte{nil, {99}, appendBucket(nil, kindHeld, testBuckets), append(slices.Clone(good), 0)} {
		if _, err := decode(rec, testBuckets); !errors.Is(err, errBadRecord) {
			t.Errorf("decode(%v) = %v, want errBadRecord", rec, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(appendEntry(nil, 1, &store.Entry{Key: "k", Value: []byte("v"), Version: store.Version{Term: 1, Seq: 1}}))
	f.Add(appendKeyVersion(nil, kindForget, 2, "k", store.Version{Term: 3, Seq: 4}))
	f.Add(append([]byte{kindState}, "s"...))
	f.Fuzz(func(t *testing.T, rec []byte) {
		d, err := decode(rec, testBuckets)
		if err != nil {
			return
		}
		if d.bucket < 0 || d.bucket >= testBuckets {
			t.Fatalf("bucket %d accepted", d.bucket)
		}
	})
}

// TestTryAppend: under fsync everysec an entry logged without waiting is
// applied and recovered; while a snapshot starts (the barrier held) and
// under fsync always, TryAppend declines and changes nothing.
func TestTryAppend(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Log.Fsync = wal.FsyncEverySec
	d, mem, _ := open(t, cfg)
	e := store.Entry{Key: "k", Value: []byte("v"), Version: store.Version{Term: 1, Seq: 1}}
	apply := func(e store.Entry) func() error { return func() error { mem.Apply(0, e); return nil } }
	if err := d.TryAppend(0, []store.Entry{e}, apply(e)); err != nil {
		t.Fatalf("TryAppend: %v", err)
	}
	d.barrier.Lock() // a snapshot starting
	e2 := store.Entry{Key: "k2", Value: []byte("v2"), Version: store.Version{Term: 1, Seq: 2}}
	err := d.TryAppend(0, []store.Entry{e2}, apply(e2))
	d.barrier.Unlock()
	if !errors.Is(err, wal.ErrWouldWait) {
		t.Fatalf("TryAppend while a snapshot starts: %v, want ErrWouldWait", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	want := store.New(testBuckets)
	want.Apply(0, e)
	sameStores(t, "before the restart", mem, want)
	d, got, _ := open(t, cfg)
	sameStores(t, "after the restart", got, want)
	d.Close()

	cfg.Log.Fsync = wal.FsyncAlways
	d, _, _ = open(t, cfg)
	defer d.Close()
	called := false
	if err := d.TryAppend(0, []store.Entry{e2}, func() error { called = true; return nil }); !errors.Is(err, wal.ErrWouldWait) || called {
		t.Fatalf("TryAppend under fsync always: %v (applied: %v), want ErrWouldWait", err, called)
	}
}

// TestAppendAcross: entries of several buckets logged in one call come
// back each in its own bucket; tried while a snapshot starts, nothing is
// logged or applied.
func TestAppendAcross(t *testing.T) {
	for _, try := range []bool{false, true} {
		t.Run(fmt.Sprintf("try=%v", try), func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.Log.Fsync = wal.FsyncEverySec
			d, mem, _ := open(t, cfg)
			buckets := []int{3, 0, 3, 7}
			es := []store.Entry{
				{Key: "a", Value: []byte("1"), Version: store.Version{Term: 2, Seq: 1}},
				{Key: "b", Value: []byte("2"), Version: store.Version{Term: 2, Seq: 2}},
				{Key: "c", Deleted: true, Version: store.Version{Term: 2, Seq: 3}},
				{Key: "d", Value: []byte("4"), Version: store.Version{Term: 2, Seq: 4}, Expires: 1_800_000_000_000},
			}
			applyAll := func() error {
				for i, e := range es {
					mem.Apply(buckets[i], e)
				}
				return nil
			}
			if err := d.AppendAcross(buckets, es, try, applyAll); err != nil {
				t.Fatal(err)
			}
			if try {
				d.barrier.Lock() // a snapshot starting
				called := false
				late := store.Entry{Key: "late", Value: []byte("x"), Version: store.Version{Term: 2, Seq: 5}}
				err := d.AppendAcross([]int{1}, []store.Entry{late}, true, func() error { called = true; return nil })
				d.barrier.Unlock()
				if !errors.Is(err, wal.ErrWouldWait) || called {
					t.Fatalf("tried while a snapshot starts: %v (applied: %v), want ErrWouldWait", err, called)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			want := store.New(testBuckets)
			for i, e := range es {
				want.Apply(buckets[i], e)
			}
			sameStores(t, "before the restart", mem, want)
			d, got, _ := open(t, cfg)
			defer d.Close()
			sameStores(t, "after the restart", got, want)
		})
	}
}
