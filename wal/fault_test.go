package wal

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestNoSpaceMidBatch(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	dir := t.TempDir()
	cfg := testConfig(dir, fs)
	cfg.SegmentSize = 1 << 20
	l, _ := openLog(t, cfg)
	rng := rand.New(rand.NewPCG(1, 1))
	var good [][]byte
	for i := range 20 {
		rec := record(rng, i, 150)
		if err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		good = append(good, rec)
	}
	seg := segmentFiles(t, dir)[0]
	before := fileLen(t, seg)

	fs.SetSpace(500) // the batch below is 1620 bytes: three records fit whole, then the disk is full
	var batch [][]byte
	for i := range 10 {
		batch = append(batch, record(rng, 100+i, 150))
	}
	err := l.AppendBatch(batch)
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("AppendBatch on a full disk: %v, want ErrNoSpace wrapping ENOSPC", err)
	}
	if got := fileLen(t, seg); got != before {
		t.Fatalf("the failed batch left the segment at %d bytes, want %d", got, before)
	}
	if err := l.Append([]byte("still full")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if st := l.Stats(); st.AppendErrors != 11 || st.Appends != 20 {
		t.Fatalf("stats %+v: want 11 failed and 20 written records", st)
	}
	// A restart while the disk is full finds exactly the acknowledged records.
	lc, r := openLog(t, testConfig(crashCopy(t, dir), noSyncFS{}))
	lc.Close()
	sameRecords(t, "restart on a full disk", r.log, good)
	if r.rec.Torn != nil {
		t.Fatalf("a rolled-back batch looks torn: %+v", r.rec.Torn)
	}

	fs.SetSpace(-1) // space is back
	if err := l.AppendBatch(batch); err != nil {
		t.Fatalf("AppendBatch once space is back: %v", err)
	}
	_, r = reopen(t, l, cfg)
	sameRecords(t, "after space came back", r.log, append(good, batch...))
}

// TestNoSpaceConcurrent fills the disk under 16 appenders: every Append
// either succeeds or fails with ErrNoSpace, and a restart holds exactly the
// ones that succeeded.
func TestNoSpaceConcurrent(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	fs.SetSyncDelay(200 * time.Microsecond)
	cfg := testConfig(t.TempDir(), fs)
	l, _ := openLog(t, cfg)
	fs.SetSpace(40 << 10)
	var mu sync.Mutex
	var acked []string
	failed := 0
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range 40 {
				rec := record(rng, w*1000+i, 100+rng.IntN(100))
				err := l.Append(rec)
				mu.Lock()
				if err == nil {
					acked = append(acked, string(rec))
				} else if errors.Is(err, ErrNoSpace) {
					failed++
				} else {
					t.Errorf("Append: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed == 0 || len(acked) == 0 {
		t.Fatalf("%d appends succeeded and %d failed; the disk should fill part way", len(acked), failed)
	}
	fs.SetSpace(-1)
	_, r := reopen(t, l, cfg)
	var got []string
	for _, rec := range r.log {
		got = append(got, string(rec))
	}
	slices.Sort(got)
	slices.Sort(acked)
	if !slices.Equal(got, acked) {
		t.Fatalf("replayed %d records, %d appends succeeded", len(got), len(acked))
	}
}

func TestFsyncFailureRollsBack(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	dir := t.TempDir()
	cfg := testConfig(dir, fs)
	l, _ := openLog(t, cfg)
	l.Append([]byte("one"))
	seg := segmentFiles(t, dir)[0]
	before := fileLen(t, seg)
	fs.FailSyncs(syscall.EIO)
	err := l.Append([]byte("lost"))
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with a failing fsync: %v, want ErrNoSpace wrapping EIO", err)
	}
	if got := fileLen(t, seg); got != before {
		t.Fatalf("the unsynced record stayed: %d bytes, want %d", got, before)
	}
	// The truncation could not be fsynced either: appends keep failing.
	if err := l.Append([]byte("lost too")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append while fsync fails: %v", err)
	}
	fs.FailSyncs(nil)
	if err := l.Append([]byte("two")); err != nil {
		t.Fatalf("Append once fsync works: %v", err)
	}
	_, r := reopen(t, l, cfg)
	sameRecords(t, "after fsync failures", r.log, [][]byte{[]byte("one"), []byte("two")})
}

func TestTruncateFailureBlocksAppends(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	dir := t.TempDir()
	cfg := testConfig(dir, fs)
	l, _ := openLog(t, cfg)
	l.Append([]byte("one"))
	seg := segmentFiles(t, dir)[0]
	before := fileLen(t, seg)
	fs.SetSpace(5)
	fs.FailTruncates(syscall.EIO)
	if err := l.Append([]byte("a record that does not fit")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if fileLen(t, seg) == before {
		t.Fatal("the fault layer wrote nothing of the failed record; the test needs a partial write")
	}
	fs.SetSpace(-1)
	// Space is back but the partial write cannot be truncated: refuse
	// rather than append after it.
	if err := l.Append([]byte("two")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append with a partial write still in place: %v", err)
	}
	// A crash now: the partial record is a torn tail.
	lc, r := openLog(t, testConfig(crashCopy(t, dir), noSyncFS{}))
	lc.Close()
	sameRecords(t, "crash with a partial write", r.log, [][]byte{[]byte("one")})
	if r.rec.Torn == nil || r.rec.Torn.Bytes != 5 {
		t.Fatalf("torn %+v, want the 5 bytes of the partial write", r.rec.Torn)
	}
	fs.FailTruncates(nil)
	if err := l.Append([]byte("two")); err != nil {
		t.Fatalf("Append once truncation works: %v", err)
	}
	_, r = reopen(t, l, cfg)
	sameRecords(t, "after repair", r.log, [][]byte{[]byte("one"), []byte("two")})
}

func TestEverysecFsyncFailure(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	cfg := testConfig(t.TempDir(), fs)
	cfg.Fsync = FsyncEverySec
	l, _ := openLog(t, cfg)
	var acked [][]byte
	fs.FailSyncs(syscall.EIO)
	var err error
	waitFor(t, "appends to fail after a failed background fsync", 5*time.Second, func() bool {
		rec := []byte{byte(len(acked))}
		if err = l.Append(rec); err == nil {
			acked = append(acked, rec)
		}
		return err != nil
	})
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append after a failed background fsync: %v", err)
	}
	fs.FailSyncs(nil)
	waitFor(t, "appends to work again", 5*time.Second, func() bool {
		rec := []byte{byte(len(acked))}
		if l.Append(rec) == nil {
			acked = append(acked, rec)
			return true
		}
		return false
	})
	_, r := reopen(t, l, cfg)
	sameRecords(t, "everysec after fsync failures", r.log, acked)
}

func TestOtherWriteErrors(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	cfg := testConfig(t.TempDir(), fs)
	l, _ := openLog(t, cfg)
	fs.FailWrites(syscall.EBADF)
	err := l.Append([]byte("x"))
	if !errors.Is(err, ErrIO) || errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Append with EBADF: %v, want ErrIO (not ErrNoSpace) wrapping EBADF", err)
	}
	fs.FailWrites(nil)
	if err := l.Append([]byte("y")); err != nil {
		t.Fatal(err)
	}
	_, r := reopen(t, l, cfg)
	sameRecords(t, "after a write error", r.log, [][]byte{[]byte("y")})
}

func TestSnapshotOnFullDisk(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	dir := t.TempDir()
	cfg := testConfig(dir, fs)
	l, _ := openLog(t, cfg)
	l.Append([]byte("one"))
	s, err := l.StartSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	fs.SetSpace(1000)
	for range 20 { // 2.4kB: buffered, it reaches the disk at Commit
		if err := s.Add(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("snapshot on a full disk: %v, want ErrNoSpace", err)
	}
	s.Abort()
	if m, _ := filepath.Glob(dir + "/snap-*"); len(m) != 0 {
		t.Fatalf("a failed snapshot left %v", m)
	}
	fs.SetSpace(-1)
	if err := l.Append([]byte("two")); err != nil {
		t.Fatal(err)
	}
	_, r := reopen(t, l, cfg)
	if r.rec.Snapshot != "" {
		t.Fatalf("a failed snapshot was loaded: %s", r.rec.Snapshot)
	}
	sameRecords(t, "after a failed snapshot", r.log, [][]byte{[]byte("one"), []byte("two")})
}

// TestRotationOnFullDisk: the batch that fills a segment fits, the next
// segment cannot be started; appends go on into the full segment once
// there is room, and nothing is lost or left behind.
func TestRotationOnFullDisk(t *testing.T) {
	fs := NewFaultFS(noSyncFS{})
	dir := t.TempDir()
	cfg := testConfig(dir, fs)
	cfg.SegmentSize = MinSegmentSize
	l, _ := openLog(t, cfg)
	rec := make([]byte, MinSegmentSize) // fills the segment by itself
	fs.SetSpace(frameHeader + int64(len(rec)))
	if err := l.Append(rec); err != nil {
		t.Fatalf("an append that fits: %v", err)
	}
	// The writer answers a batch before it tries the rotation, so the
	// rotation may still be running here. The writer is one goroutine: a
	// later append is taken only after that try ended, and with the disk
	// still full it fails.
	if err := l.Append([]byte("x")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("an append to a full disk: %v, want ErrNoSpace", err)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segment files after a failed rotation, want 1 (the half-made one removed)", n)
	}
	fs.SetSpace(-1)
	if err := l.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	_, r := reopen(t, l, cfg)
	sameRecords(t, "after a failed rotation", r.log, [][]byte{rec, []byte("after")})
}
