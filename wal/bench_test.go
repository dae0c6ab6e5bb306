package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Run: go test -run XXX -bench 'Append' -benchtime 5s ./wal/
//
// BenchmarkAppend64 appends ~150-byte records from 64 goroutines, the load
// of 64 in-flight writes, in each fsync mode, on the disk under TMPDIR.
func BenchmarkAppend64(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncEverySec, FsyncNo} {
		b.Run(mode.String(), func(b *testing.B) { benchAppend(b, mode, 64) })
	}
}

// BenchmarkAppend1 is one appender with fsync always: one fsync per record,
// the cost group commit saves.
func BenchmarkAppend1(b *testing.B) { benchAppend(b, FsyncAlways, 1) }

func benchAppend(b *testing.B, mode FsyncMode, writers int) {
	cfg := DefaultConfig(b.TempDir())
	cfg.Fsync = mode
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Replay(func(Source, []byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 150)
	b.SetBytes(int64(len(rec)))
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rec/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/rec")
	if st.Fsyncs > 0 {
		b.ReportMetric(float64(st.Appends)/float64(st.Batches), "rec/batch")
		b.ReportMetric(float64(st.FsyncTotal.Microseconds())/float64(st.Fsyncs), "µs/fsync")
	}
}

// Recovery figure: a log holding 1,000,000 records of a 16-byte key and a
// 100-byte value (plus 8 bytes of version), as a snapshot of 900,000 and a
// tail of 100,000, read back by Replay. "count" only counts the records
// (the log's own cost); "map" copies each into a map[string][]byte, a
// stand-in for the node's store.
//
//	go test -run XXX -bench Replay1M -benchtime 5x ./wal/
//
// With JUMPKV_WAL_FIXTURE=dir the log is built there once and kept, so a
// later run can read it with a cold page cache (sync; echo 3 >
// /proc/sys/vm/drop_caches; then -benchtime 1x).
func BenchmarkReplay1M(b *testing.B) {
	dir := replayFixture(b)
	cfg := DefaultConfig(dir)
	for _, apply := range []string{"count", "map"} {
		b.Run(apply, func(b *testing.B) {
			var rec Recovery
			for b.Loop() {
				l, err := Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				n, bytes := 0, 0
				store := map[string][]byte{}
				rec, err = l.Replay(func(_ Source, r []byte) error {
					n++
					bytes += len(r)
					if apply == "map" {
						store[string(r[:16])] = append([]byte(nil), r[16:]...)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
				if n != 1_000_000 || apply == "map" && len(store) != n {
					b.Fatalf("replayed %d records into %d keys", n, len(store))
				}
				b.SetBytes(int64(bytes))
			}
			b.ReportMetric(float64(rec.Duration.Milliseconds()), "ms/replay")
		})
	}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var fixture struct {
	once   sync.Once
	dir    string
	remove bool // a temporary directory, removed by TestMain
	err    error
}

// replayFixture builds the 1M-record log once per process, in TMPDIR.
func replayFixture(b *testing.B) string {
	fixture.once.Do(func() {
		if dir := os.Getenv("JUMPKV_WAL_FIXTURE"); dir != "" {
			if m, _ := filepath.Glob(filepath.Join(dir, snapPrefix+"*")); len(m) > 0 {
				fixture.dir = dir
				return
			}
			fixture.err = buildFixture(dir)
			fixture.dir = dir
			return
		}
		fixture.dir, fixture.err = os.MkdirTemp("", "wal-replay-1m-")
		if fixture.err == nil {
			fixture.err = buildFixture(fixture.dir)
		}
		fixture.remove = true
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	return fixture.dir
}

func buildFixture(dir string) error {
	cfg := DefaultConfig(dir)
	cfg.Fsync = FsyncNo
	l, err := Open(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	if _, err := l.Replay(func(Source, []byte) error { return nil }); err != nil {
		return err
	}
	rec := make([]byte, 0, 128)
	entry := func(i int) []byte {
		rec = fmt.Appendf(rec[:0], "key-%012d", i) // 16 bytes
		rec = append(rec, make([]byte, 8+100)...)
		return rec
	}
	s, err := l.StartSnapshot()
	if err != nil {
		return err
	}
	for i := range 900_000 {
		if err := s.Add(entry(i)); err != nil {
			return err
		}
	}
	if err := s.Commit(); err != nil {
		return err
	}
	batch := make([][]byte, 0, 100)
	for i := range 100_000 {
		batch = append(batch, append([]byte(nil), entry(900_000+i)...))
		if len(batch) == cap(batch) {
			if err := l.AppendBatch(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// TestMain removes the replay fixture after the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.remove {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// BenchmarkIntactAfter is the torn-or-damaged search over 16MiB holding no
// record: random bytes, and small lengths with bad checksums at every
// offset (the worst case: a header checksum computed at each byte).
//
//	go test -run XXX -bench IntactAfter ./wal/
func BenchmarkIntactAfter(b *testing.B) {
	random := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{1}).Read(random)
	small := make([]byte, 16<<20)
	for i := range small {
		small[i] = byte(i % 7) // every 4 bytes read as a length below 2^27
	}
	for name, data := range map[string][]byte{"random": random, "small-lengths": small} {
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(data)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, found, err := intactAfter(r, 0, int64(len(data)), 64<<20); err != nil || found {
					b.Fatal(found, err)
				}
			}
		})
	}
}
