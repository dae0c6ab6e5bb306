package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// kv is a test state machine: key -> version, applied only if newer (the
// idempotent apply the log's contract asks for).
type kv map[uint32]uint64

func kvRecord(key uint32, ver uint64) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b, key)
	binary.LittleEndian.PutUint64(b[4:], ver)
	return b
}

func (s kv) apply(rec []byte) {
	key, ver := binary.LittleEndian.Uint32(rec), binary.LittleEndian.Uint64(rec[4:])
	if ver > s[key] {
		s[key] = ver
	}
}

func dirBytes(t *testing.T, dir string) (total int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return total
}

// TestSnapshotWhileAppending compacts the log again and again while eight
// goroutines append, then restarts: the state is the snapshot plus the tail,
// covered segments are gone, and the directory stays small however much
// was written.
func TestSnapshotWhileAppending(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, noSyncFS{})
	cfg.SegmentSize = 4096
	l, _ := openLog(t, cfg)

	var (
		gate    sync.RWMutex // read: Append+apply; write: StartSnapshot
		stateMu sync.Mutex
		state   = kv{}
		done    atomic.Bool
		written atomic.Int64
	)
	const writers, updates, keysEach = 8, 1500, 50
	live := int64(writers * keysEach * (frameHeader + 12))
	// throttle holds an appender back while the log is far past the
	// compaction threshold, so snapshots happen however goroutines are
	// scheduled (a node would compact in time or slow down too).
	throttle := func() bool {
		deadline := time.Now().Add(10 * time.Second)
		for l.Stats().LogBytes > 6*live {
			if time.Now().After(deadline) {
				t.Error("the log never shrank: no snapshot within 10s")
				return false
			}
			time.Sleep(100 * time.Microsecond) // polling the log's size
		}
		return true
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range updates {
				key := uint32(w*keysEach + i%keysEach)
				rec := kvRecord(key, uint64(i+1))
				if !throttle() {
					return
				}
				gate.RLock()
				written.Add(frameHeader + int64(len(rec))) // counted before it can be in the log
				err := l.Append(rec)
				if err == nil {
					stateMu.Lock()
					state.apply(rec)
					stateMu.Unlock()
				}
				gate.RUnlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	snapshot := func() error { // runs on another goroutine: no t.Fatal
		gate.Lock()
		s, err := l.StartSnapshot()
		before := written.Load() // every byte up to here is covered
		gate.Unlock()
		if err != nil {
			return err
		}
		defer s.Abort()
		stateMu.Lock()
		view := maps.Clone(state)
		stateMu.Unlock()
		for k, v := range view { // streamed while appends go on
			if err := s.Add(kvRecord(k, v)); err != nil {
				return err
			}
		}
		if err := s.Commit(); err != nil {
			return err
		}
		// What stays on disk is the snapshot and what came after it.
		st := l.Stats()
		if since := written.Load() - before; st.LogBytes > since+int64(st.Segments)*fileHeader {
			return fmt.Errorf("after a snapshot the log holds %d bytes in %d segments; only %d were appended since", st.LogBytes, st.Segments, since)
		}
		if want := int64(fileHeader + len(view)*(frameHeader+12) + trailerSize); st.SnapshotBytes != want {
			return fmt.Errorf("the snapshot has %d bytes, want %d", st.SnapshotBytes, want)
		}
		m, _ := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"))
		for _, f := range m {
			if seq, _ := parseSeq(filepath.Base(f), segmentPrefix, segmentSuffix); seq < s.seq {
				return fmt.Errorf("segment %s survived a snapshot covering segments before %d", f, s.seq)
			}
		}
		return nil
	}
	var snaps int
	var maxDisk int64
	snapDone := make(chan struct{})
	go func() {
		defer close(snapDone)
		for !done.Load() {
			if l.Stats().LogBytes <= 2*live {
				time.Sleep(100 * time.Microsecond) // polling the log's size
				continue
			}
			if err := snapshot(); err != nil {
				t.Error(err)
				return
			}
			snaps++
			st := l.Stats()
			maxDisk = max(maxDisk, st.LogBytes+st.SnapshotBytes)
		}
	}()
	wg.Wait()
	done.Store(true)
	<-snapDone
	if snaps < 3 {
		t.Fatalf("only %d snapshots while %d bytes were appended", snaps, written.Load())
	}
	if t.Failed() {
		return
	}
	// A last snapshot at rest: the directory is the snapshot and one empty segment.
	if err := snapshot(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if got, want := dirBytes(t, dir), st.SnapshotBytes+fileHeader; got != want {
		t.Fatalf("at rest the directory holds %d bytes, want %d (snapshot %d + an empty segment)", got, want, st.SnapshotBytes)
	}
	if st.Segments != 1 || st.LogBytes != fileHeader || st.LastSnapshot.IsZero() {
		t.Fatalf("stats after the last snapshot: %+v", st)
	}
	for k := uint32(0); k < 7; k++ { // a tail after the snapshot
		if err := l.Append(kvRecord(k, updates+1)); err != nil {
			t.Fatal(err)
		}
		state.apply(kvRecord(k, updates+1))
	}
	_, r := reopen(t, l, cfg)
	got := kv{}
	for _, rec := range r.all() {
		got.apply(rec)
	}
	if !maps.Equal(got, state) {
		t.Fatalf("restarted state differs: %d keys, want %d", len(got), len(state))
	}
	if len(r.snap) != writers*keysEach || len(r.log) != 7 {
		t.Fatalf("replayed %d snapshot and %d log records, want %d and 7", len(r.snap), len(r.log), writers*keysEach)
	}
	t.Logf("%d snapshots; %d bytes appended; the directory peaked at %d bytes", snaps, written.Load(), maxDisk)
}

func TestSnapshotLifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, noSyncFS{})
	l, _ := openLog(t, cfg)
	for i := range 10 {
		l.Append(kvRecord(uint32(i), 1))
	}
	s, err := l.StartSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartSnapshot(); !errors.Is(err, ErrSnapshotBusy) {
		t.Fatalf("a second snapshot: %v, want ErrSnapshotBusy", err)
	}
	if err := s.Add(make([]byte, cfg.MaxRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Add too large: %v", err)
	}
	s.Add(kvRecord(0, 1))
	s.Abort()
	if m, _ := filepath.Glob(dir + "/*" + tmpSuffix); len(m) != 0 {
		t.Fatalf("Abort left %v", m)
	}
	if m, _ := filepath.Glob(dir + "/*" + snapSuffix); len(m) != 0 {
		t.Fatalf("Abort left %v", m)
	}
	// An aborted snapshot changed nothing but the rotation.
	s, err = l.StartSnapshot()
	if err != nil {
		t.Fatalf("a snapshot after Abort: %v", err)
	}
	for i := range 10 {
		s.Add(kvRecord(uint32(i), 1))
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err == nil {
		t.Fatal("a second Commit succeeded")
	}
	if err := s.Add([]byte("late")); err == nil {
		t.Fatal("Add after Commit succeeded")
	}
	s.Abort() // no-op
	if _, err := os.Stat(filepath.Join(dir, snapName(s.seq))); err != nil {
		t.Fatalf("Abort after Commit removed the snapshot: %v", err)
	}
	// A snapshot open at Close is not committed.
	s, err = l.StartSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	s.Add(kvRecord(0, 2))
	l.Close()
	if err := s.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v, want ErrClosed", err)
	}
	if _, err := l.StartSnapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartSnapshot after Close: %v, want ErrClosed", err)
	}
	_, r := openLog(t, cfg)
	if len(r.snap) != 10 || len(r.log) != 0 {
		t.Fatalf("replayed %d + %d records, want the committed snapshot's 10", len(r.snap), len(r.log))
	}
}

// TestSnapshotCrashPoints restarts from what a crash leaves at each step of
// a snapshot: an unfinished temporary, and a renamed snapshot whose covered
// segments were not deleted yet.
func TestSnapshotCrashPoints(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, noSyncFS{})
	cfg.SegmentSize = 1024
	l, _ := openLog(t, cfg)
	want := kv{}
	for i := range 200 {
		rec := kvRecord(uint32(i%20), uint64(i))
		l.Append(rec)
		want.apply(rec)
	}
	old := map[string][]byte{}
	for _, f := range segmentFiles(t, dir) {
		old[f], _ = os.ReadFile(f)
	}
	s, err := l.StartSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		s.Add(kvRecord(k, v))
	}
	// Crash with the temporary half written: it is ignored and removed.
	s.bw.Flush()
	crashed := crashCopy(t, dir)
	lc, r := openLog(t, testConfig(crashed, noSyncFS{}))
	lc.Close()
	if r.rec.Snapshot != "" || len(r.log) != 200 {
		t.Fatalf("with an unfinished snapshot: %+v, %d records", r.rec, len(r.log))
	}
	if m, _ := filepath.Glob(crashed + "/*" + tmpSuffix); len(m) != 0 {
		t.Fatalf("the unfinished snapshot is still there: %v", m)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Crash after the rename, before the cleanup: put the covered segments back.
	for f, b := range old {
		os.WriteFile(f, b, 0o644)
	}
	_, r = openLog(t, cfg)
	got := kv{}
	for _, rec := range r.all() {
		got.apply(rec)
	}
	if !maps.Equal(got, want) || len(r.log) != 0 {
		t.Fatalf("state %v (%d log records), want %v from the snapshot alone", got, len(r.log), want)
	}
	for f := range old {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("covered segment %s survived the restart", f)
		}
	}
}

func TestSnapshotOnlyRestore(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, noSyncFS{})
	l, _ := openLog(t, cfg)
	s, _ := l.StartSnapshot()
	s.Add([]byte("a"))
	s.Add([]byte("b"))
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, f := range segmentFiles(t, dir) { // a backup of the snapshot file alone
		os.Remove(f)
	}
	l, r := openLog(t, cfg)
	sameRecords(t, "snapshot alone", r.snap, [][]byte{[]byte("a"), []byte("b")})
	if err := l.Append([]byte("c")); err != nil {
		t.Fatal(err)
	}
	_, r = reopen(t, l, cfg)
	sameRecords(t, "after an append", r.all(), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
}

func TestSnapshotDamage(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, noSyncFS{})
	l, _ := openLog(t, cfg)
	s, _ := l.StartSnapshot()
	for i := range 50 {
		s.Add(kvRecord(uint32(i), 1))
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	path := filepath.Join(dir, snapName(s.seq))
	orig, _ := os.ReadFile(path)
	for name, tc := range map[string]struct {
		mut    func([]byte) []byte
		offset int64
		reason string
	}{
		"flipped record":  {func(b []byte) []byte { b[fileHeader+5*24+13] ^= 1; return b }, fileHeader + 5*24, "checksum"},
		"flipped header":  {func(b []byte) []byte { b[3] ^= 1; return b }, 0, "magic"},
		"cut in a record": {func(b []byte) []byte { return b[:fileHeader+10*24+5] }, fileHeader + 10*24, "short"},
		"cut at a record": {func(b []byte) []byte { return b[:fileHeader+10*24] }, fileHeader + 10*24, "cut short"},
		"no trailer":      {func(b []byte) []byte { return b[:len(b)-trailerSize] }, int64(len(orig) - trailerSize), "cut short"},
		"extra bytes":     {func(b []byte) []byte { return append(b, 0) }, int64(len(orig)), "after the trailer"},
		"wrong count": {func(b []byte) []byte {
			t := appendTrailer(nil, 49)
			return append(b[:len(b)-trailerSize], t...)
		}, int64(len(orig) - trailerSize), "counts"},
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(path, tc.mut(append([]byte(nil), orig...)), 0o644)
			_, _, err := tryOpen(cfg)
			ce := isCorrupt(t, err)
			if ce.File != path || ce.Offset != tc.offset || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("error %v, want %s at %d (%s)", err, path, tc.offset, tc.reason)
			}
		})
	}
}
