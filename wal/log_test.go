package wal

import (
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTripManySegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, nil)
	cfg.Fsync = FsyncNo // sequential appends: one fsync each would only make this slow
	l, r := openLog(t, cfg)
	if len(r.all()) != 0 || r.rec.Segments != 0 {
		t.Fatalf("a new log replayed %d records from %d segments", len(r.all()), r.rec.Segments)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	for i := 0; len(want) < 3000; i++ {
		if i%5 == 0 { // a batch of several records
			batch := [][]byte{record(rng, len(want), rng.IntN(300)), record(rng, len(want)+1, 0), record(rng, len(want)+2, 40)}
			if err := l.AppendBatch(batch); err != nil {
				t.Fatal(err)
			}
			want = append(want, batch...)
			continue
		}
		rec := record(rng, len(want), rng.IntN(300))
		if err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
	}
	if err := l.Append(nil); err != nil { // an empty record is a record
		t.Fatal(err)
	}
	want = append(want, []byte{})
	st := l.Stats()
	files := segmentFiles(t, dir)
	if len(files) < 20 || st.Segments != len(files) {
		t.Fatalf("%d segment files, Stats says %d; want the same, at least 20", len(files), st.Segments)
	}
	var total int64
	for _, f := range files {
		total += fileLen(t, f)
	}
	if st.LogBytes != total {
		t.Fatalf("Stats.LogBytes %d, the files hold %d", st.LogBytes, total)
	}
	if st.Appends != uint64(len(want)) {
		t.Fatalf("Stats.Appends %d, want %d", st.Appends, len(want))
	}

	l, r = reopen(t, l, cfg)
	sameRecords(t, "after reopen", r.log, want)
	if r.rec.Segments != len(files) || r.rec.Torn != nil || r.rec.Snapshot != "" {
		t.Fatalf("recovery %+v, want %d segments, no torn tail, no snapshot", r.rec, len(files))
	}
	// Appending after a reopen continues the same log.
	more := record(rng, len(want), 100)
	if err := l.Append(more); err != nil {
		t.Fatal(err)
	}
	_, r = reopen(t, l, cfg)
	sameRecords(t, "after a second reopen", r.log, append(want, more))
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	fs := NewFaultFS(nil)
	fs.SetSyncDelay(2 * time.Millisecond) // a disk where fsync costs something
	cfg := testConfig(t.TempDir(), fs)
	cfg.SegmentSize = 64 << 20
	l, _ := openLog(t, cfg)
	const writers, each = 64, 10
	before := fs.Syncs()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range each {
				errs <- l.Append(record(rng, w*each+i, 150))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fsyncs := fs.Syncs() - before
	if fsyncs > writers*each/4 {
		t.Fatalf("%d appends took %d fsyncs; group commit should share them (at most %d)", writers*each, fsyncs, writers*each/4)
	}
	st := l.Stats()
	if st.Batches != uint64(fsyncs) || st.Appends != writers*each {
		t.Fatalf("stats %+v: want %d batches (one per fsync) and %d appends", st, fsyncs, writers*each)
	}
	t.Logf("%d appends from %d goroutines: %d fsyncs", writers*each, writers, fsyncs)
	_, r := reopen(t, l, cfg)
	if len(r.log) != writers*each {
		t.Fatalf("replayed %d records, want %d", len(r.log), writers*each)
	}
}

func TestFsyncModes(t *testing.T) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncEverySec, FsyncNo} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := NewFaultFS(nil)
			dir := t.TempDir()
			cfg := testConfig(dir, fs)
			cfg.Fsync = mode
			cfg.SegmentSize = 1 << 20
			l, _ := openLog(t, cfg)
			seg := segmentFiles(t, dir)[0]
			rng := rand.New(rand.NewPCG(3, 4))
			var want [][]byte
			for i := range 50 {
				rec := record(rng, i, 150)
				if err := l.Append(rec); err != nil {
					t.Fatal(err)
				}
				want = append(want, rec)
				size := fileLen(t, seg)
				if size != fileHeader+int64(len(want))*(frameHeader+150) {
					t.Fatalf("after %d appends the segment holds %d bytes", len(want), size)
				}
				if mode == FsyncAlways && fs.Synced(seg) < size {
					t.Fatalf("always: Append returned with %d of %d bytes fsynced", fs.Synced(seg), size)
				}
			}
			size := fileLen(t, seg)
			switch mode {
			case FsyncEverySec:
				waitFor(t, "the background fsync", 5*time.Second, func() bool { return fs.Synced(seg) == size })
			case FsyncNo:
				if got := fs.Synced(seg); got != fileHeader {
					t.Fatalf("no: %d bytes fsynced, want only the %d-byte header (synced when created)", got, fileHeader)
				}
			}
			// A process crash keeps whatever write() has put in the file.
			crashed := testConfig(crashCopy(t, dir), nil)
			lc, r := openLog(t, crashed)
			lc.Close()
			sameRecords(t, "after a process crash", r.log, want)

			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if fs.Synced(seg) != size {
				t.Fatalf("Close left %d of %d bytes unsynced", size-fs.Synced(seg), size)
			}
		})
	}
}

func TestLifecycleErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, nil)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte("x")); !errors.Is(err, ErrNotReplayed) {
		t.Fatalf("Append before Replay: %v, want ErrNotReplayed", err)
	}
	if _, err := l.StartSnapshot(); !errors.Is(err, ErrNotReplayed) {
		t.Fatalf("StartSnapshot before Replay: %v, want ErrNotReplayed", err)
	}
	if _, err := Open(cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open of one directory: %v, want ErrLocked", err)
	}
	if _, err := l.Replay(func(Source, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Replay(func(Source, []byte) error { return nil }); err == nil {
		t.Fatal("a second Replay succeeded")
	}
	big := make([]byte, cfg.MaxRecord+1)
	if err := l.Append(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if err := l.AppendBatch([][]byte{[]byte("ok"), big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendBatch with a record too large: %v, want ErrTooLarge", err)
	}
	if err := l.Append(make([]byte, cfg.MaxRecord)); err != nil {
		t.Fatalf("Append of exactly MaxRecord: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := l.SaveMeta("node", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("SaveMeta after Close: %v, want ErrClosed", err)
	}
	// Closing released the directory; a Log that never replayed closes too.
	l2, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseAnswersQueuedAppends(t *testing.T) {
	fs := NewFaultFS(nil)
	fs.SetSyncDelay(time.Millisecond)
	cfg := testConfig(t.TempDir(), fs)
	l, _ := openLog(t, cfg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				err := l.Append([]byte{byte(w), byte(i)})
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("Append during Close: %v", err)
					return
				}
				if err != nil {
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	waitFor(t, "some appends", 5*time.Second, func() bool { return l.Stats().Appends >= 10 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	_, r := openLog(t, cfg)
	// Every Append that returned nil is there; none that failed is.
	if len(r.log) != ok {
		t.Fatalf("replayed %d records, %d appends succeeded", len(r.log), ok)
	}
}

func TestMeta(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, nil)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.LoadMeta("node"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadMeta of nothing: %v, want os.ErrNotExist", err)
	}
	for _, v := range []string{"id=1", "id=2, a longer value", ""} {
		if err := l.SaveMeta("node", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := l.LoadMeta("node")
		if err != nil || string(got) != v {
			t.Fatalf("LoadMeta = %q, %v; want %q", got, err, v)
		}
	}
	if err := l.SaveMeta("cluster_state-2", []byte("term=3")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "Node", "a/b", "../x", strings.Repeat("a", 65)} {
		if err := l.SaveMeta(bad, nil); err == nil {
			t.Fatalf("SaveMeta(%q) accepted a bad name", bad)
		}
	}
	if err := l.SaveMeta("big", make([]byte, cfg.MaxRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SaveMeta too large: %v", err)
	}
	// Survives a restart; damage is reported, not returned as a value.
	l.Close()
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, err := l.LoadMeta("cluster_state-2"); err != nil || string(got) != "term=3" {
		t.Fatalf("after reopen: %q, %v", got, err)
	}
	path := dir + "/meta-cluster_state-2"
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := l.LoadMeta("cluster_state-2"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadMeta of a damaged file: %v, want ErrCorrupt", err)
	}
	os.WriteFile(path, b[:10], 0o644)
	if _, err := l.LoadMeta("cluster_state-2"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadMeta of a short file: %v, want ErrCorrupt", err)
	}
	// A temporary left by a crash mid-save is removed by Open.
	os.WriteFile(dir+"/meta-node.tmp", []byte("half"), 0o644)
	l.Close()
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(dir + "/meta-node.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open left the temporary file: %v", err)
	}
	if got, err := l.LoadMeta("node"); err != nil || string(got) != "" {
		t.Fatalf("LoadMeta(node) = %q, %v", got, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig("/tmp/x")
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no dir":           func(c *Config) { c.Dir = "" },
		"bad mode":         func(c *Config) { c.Fsync = 7 },
		"zero record":      func(c *Config) { c.MaxRecord = 0 },
		"huge record":      func(c *Config) { c.MaxRecord = MaxRecordLimit + 1 },
		"tiny segment":     func(c *Config) { c.SegmentSize = 10 },
		"everysec no tick": func(c *Config) { c.Fsync, c.SyncInterval = FsyncEverySec, 0 },
		"zero batch":       func(c *Config) { c.MaxBatchBytes = 0 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		} else if _, err := Open(c); err == nil {
			t.Errorf("%s: Open accepted it", name)
		}
	}
	for _, s := range []string{"always", "everysec", "no"} {
		m, err := ParseFsyncMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseFsyncMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseFsyncMode("sometimes"); err == nil {
		t.Error("ParseFsyncMode accepted sometimes")
	}
}

// TestTurnsWithSmallBatches: with batches of one request, almost every
// appender's turn writes someone else's record first and passes the turn
// on; rotations for snapshots run between the batches. Every append comes
// back, and each one acknowledged is replayed, in no particular order.
func TestTurnsWithSmallBatches(t *testing.T) {
	cfg := testConfig(t.TempDir(), NewFaultFS(nil))
	cfg.MaxBatchBytes = 1
	l, _ := openLog(t, cfg)
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append([]byte{byte(w), byte(i)}); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	for range 3 {
		s, err := l.StartSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		s.Abort()
	}
	wg.Wait()
	if st := l.Stats(); st.Batches != writers*each {
		t.Fatalf("%d batches, want one per append (%d)", st.Batches, writers*each)
	}
	_, r := reopen(t, l, cfg)
	if len(r.log) != writers*each {
		t.Fatalf("replayed %d records, want %d", len(r.log), writers*each)
	}
}

// TestTryAppendBatch: the append a reader may make without waiting
// happens only when nothing would wait, and otherwise changes nothing.
func TestTryAppendBatch(t *testing.T) {
	always, _ := openLog(t, testConfig(t.TempDir(), NewFaultFS(nil)))
	if err := always.TryAppendBatch([][]byte{[]byte("x")}); !errors.Is(err, ErrWouldWait) {
		t.Fatalf("TryAppendBatch under fsync always: %v, want ErrWouldWait", err)
	}

	cfg := testConfig(t.TempDir(), NewFaultFS(nil))
	cfg.Fsync = FsyncEverySec
	cfg.SegmentSize = MinSegmentSize
	l, _ := openLog(t, cfg)
	if err := l.TryAppendBatch([][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatalf("TryAppendBatch with nobody writing: %v", err)
	}
	l.wmu.Lock() // someone else's turn
	err := l.TryAppendBatch([][]byte{[]byte("busy")})
	l.wmu.Unlock()
	if !errors.Is(err, ErrWouldWait) {
		t.Fatalf("TryAppendBatch while another writes: %v, want ErrWouldWait", err)
	}
	big := make([]byte, MinSegmentSize) // would need a new segment after it
	if err := l.TryAppendBatch([][]byte{big}); !errors.Is(err, ErrWouldWait) {
		t.Fatalf("TryAppendBatch that fills the segment: %v, want ErrWouldWait", err)
	}
	if err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Appends != 3 {
		t.Fatalf("%d records appended, want 3", st.Appends)
	}
	_, r := reopen(t, l, cfg)
	sameRecords(t, "after TryAppendBatch", r.log, [][]byte{[]byte("one"), []byte("two"), big})
}

// TestTryAppendBatchNeverFsyncs: an appender that joins a
// TryAppendBatch's write may fill the segment, but the rotation's fsyncs
// are left to an appender that may wait: no fsync runs inside
// TryAppendBatch (on a connection's reader it would stall every request
// behind it).
func TestTryAppendBatchNeverFsyncs(t *testing.T) {
	cfg := testConfig(t.TempDir(), NewFaultFS(nil))
	cfg.Fsync = FsyncEverySec
	cfg.SegmentSize = MinSegmentSize
	var inTry atomic.Int64
	cfg.ObserveFsync = func(time.Duration) {
		buf := make([]byte, 64<<10)
		if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "(*Log).TryAppendBatch(") {
			inTry.Add(1)
		}
	}
	l, _ := openLog(t, cfg)
	joined := make(chan error, 1)
	testHookTryQueued = func(l *Log) {
		// Another appender queues a record that fills the segment, and
		// joins the try's batch.
		go func() { joined <- l.Append(make([]byte, MinSegmentSize)) }()
		for {
			l.q.Lock()
			n := len(l.q.reqs)
			l.q.Unlock()
			if n == 2 {
				return
			}
			runtime.Gosched() // waiting for the other appender to queue
		}
	}
	defer func() { testHookTryQueued = nil }()
	if err := l.TryAppendBatch([][]byte{[]byte("small")}); err != nil {
		t.Fatal(err)
	}
	testHookTryQueued = nil
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	if n := inTry.Load(); n != 0 {
		t.Fatalf("%d fsyncs ran inside TryAppendBatch", n)
	}
	if err := l.Append([]byte("next")); err != nil { // an appender that may wait rotates
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments < 2 {
		t.Fatalf("%d segments after filling one: no rotation came", st.Segments)
	}
	_, r := reopen(t, l, cfg)
	sameRecords(t, "after a try joined by a full record", r.log, [][]byte{[]byte("small"), make([]byte, MinSegmentSize), []byte("next")})
}
