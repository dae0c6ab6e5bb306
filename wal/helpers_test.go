package wal

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testConfig is a log in dir with small segments and the given fault layer.
func testConfig(dir string, fs FS) Config {
	c := DefaultConfig(dir)
	c.MaxRecord = 64 << 10
	c.SegmentSize = 16 << 10
	c.SyncInterval = 10 * time.Millisecond
	c.FS = fs
	return c
}

// replayed is what a Replay delivered.
type replayed struct {
	snap, log [][]byte
	rec       Recovery
}

// all returns the snapshot's records, then the log's.
func (r replayed) all() [][]byte { return append(append([][]byte{}, r.snap...), r.log...) }

// openLog opens and replays cfg, failing the test on error.
func openLog(t testing.TB, cfg Config) (*Log, replayed) {
	t.Helper()
	l, r, err := tryOpen(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.Dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, r
}

// tryOpen opens and replays cfg, copying every record.
func tryOpen(cfg Config) (*Log, replayed, error) {
	var r replayed
	l, err := Open(cfg)
	if err != nil {
		return nil, r, err
	}
	r.rec, err = l.Replay(func(src Source, rec []byte) error {
		c := append([]byte(nil), rec...)
		if src == FromSnapshot {
			r.snap = append(r.snap, c)
		} else {
			r.log = append(r.log, c)
		}
		return nil
	})
	if err != nil {
		l.Close()
		return nil, r, err
	}
	return l, r, nil
}

// reopen closes l and opens cfg again.
func reopen(t testing.TB, l *Log, cfg Config) (*Log, replayed) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openLog(t, cfg)
}

// crashCopy copies dir as a process crash would leave it: every byte
// written so far, nothing more (the LOCK file is left behind).
func crashCopy(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// record returns a record of n random bytes that names i.
func record(rng *rand.Rand, i, n int) []byte {
	b := fmt.Appendf(nil, "rec-%d:", i)
	for len(b) < n {
		b = append(b, byte(rng.IntN(256)))
	}
	return b
}

// sameRecords fails unless got equals want, record for record.
func sameRecords(t testing.TB, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("%s: record %d is %q, want %q", what, i, trim(got[i]), trim(want[i]))
		}
	}
}

func trim(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// segments returns the segment files in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileLen(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// isCorrupt returns the *CorruptError in err, failing the test without one.
func isCorrupt(t testing.TB, err error) *CorruptError {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want a *CorruptError, got %v", err)
	}
	return ce
}

var _ io.ReaderAt = (*os.File)(nil)

// noSyncFS is the OS file layer with fsync turned off, for tests that
// simulate crashes by editing files and so gain nothing from waiting on
// the disk.
type noSyncFS struct{ OSFS }

type noSyncFile struct{ File }

func (noSyncFile) Sync() error        { return nil }
func (noSyncFS) SyncDir(string) error { return nil }
func (fs noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}
