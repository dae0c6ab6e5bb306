package compare

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	twal "github.com/tidwall/wal"

	"github.com/jumpkv/jumpkv/wal"
)

const writers, recSize = 64, 150

// appender is what each benchmark drives from 64 goroutines.
type appender interface {
	Append(rec []byte) error
	Close() error
}

func run(b *testing.B, a appender) {
	defer a.Close()
	rec := make([]byte, recSize)
	b.SetBytes(recSize)
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := a.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rec/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/rec")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppend64: 64 concurrent appenders of 150-byte records.
func BenchmarkAppend64(b *testing.B) {
	for _, mode := range []wal.FsyncMode{wal.FsyncAlways, wal.FsyncEverySec, wal.FsyncNo} {
		b.Run("jumpkv/"+mode.String(), func(b *testing.B) {
			cfg := wal.DefaultConfig(b.TempDir())
			cfg.Fsync = mode
			l, err := wal.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := l.Replay(func(wal.Source, []byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
			run(b, l)
		})
		b.Run("tidwall/"+mode.String(), func(b *testing.B) { run(b, newTidwall(b, mode)) })
	}
	b.Run("tidwall+groupcommit/always", func(b *testing.B) { run(b, newTidwallGroup(b)) })
}

// tidwallLog is tidwall/wal as a node would have to use it: Write needs the
// next index, so appenders take turns under a mutex, and without NoSync
// every Write fsyncs on its own. everysec is NoSync plus a Sync a second.
type tidwallLog struct {
	mu   sync.Mutex
	log  *twal.Log
	next uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func newTidwall(b *testing.B, mode wal.FsyncMode) *tidwallLog {
	opts := *twal.DefaultOptions
	opts.LogFormat = twal.Binary
	opts.SegmentSize = 64 << 20
	opts.NoSync = mode != wal.FsyncAlways
	log, err := twal.Open(b.TempDir(), &opts)
	if err != nil {
		b.Fatal(err)
	}
	t := &tidwallLog{log: log, next: 1, stop: make(chan struct{})}
	if mode == wal.FsyncEverySec {
		t.wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-t.stop:
					return
				case <-tick.C:
					t.log.Sync()
				}
			}
		})
	}
	return t
}

func (t *tidwallLog) Append(rec []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.log.Write(t.next, rec); err != nil {
		return err
	}
	t.next++
	return nil
}

func (t *tidwallLog) Close() error {
	close(t.stop)
	t.wg.Wait()
	return t.log.Close()
}

// tidwallGroup adds the group commit tidwall/wal lacks: one goroutine
// gathers every waiting record into a Batch, one WriteBatch (one fsync).
type tidwallGroup struct {
	log  *twal.Log
	next uint64
	mu   sync.Mutex
	reqs []groupReq
	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

type groupReq struct {
	rec  []byte
	done chan error
}

func newTidwallGroup(b *testing.B) *tidwallGroup {
	opts := *twal.DefaultOptions
	opts.LogFormat = twal.Binary
	opts.SegmentSize = 64 << 20
	log, err := twal.Open(b.TempDir(), &opts)
	if err != nil {
		b.Fatal(err)
	}
	g := &tidwallGroup{log: log, next: 1, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	g.wg.Go(g.writer)
	return g
}

func (g *tidwallGroup) Append(rec []byte) error {
	done := make(chan error, 1)
	g.mu.Lock()
	g.reqs = append(g.reqs, groupReq{rec, done})
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return <-done
}

func (g *tidwallGroup) writer() {
	var batch twal.Batch
	for {
		select {
		case <-g.stop:
			return
		case <-g.wake:
		}
		g.mu.Lock()
		reqs := g.reqs
		g.reqs = nil
		g.mu.Unlock()
		if len(reqs) == 0 {
			continue
		}
		batch.Clear()
		for _, r := range reqs {
			batch.Write(g.next, r.rec)
			g.next++
		}
		err := g.log.WriteBatch(&batch)
		for _, r := range reqs {
			r.done <- err
		}
	}
}

func (g *tidwallGroup) Close() error {
	close(g.stop)
	g.wg.Wait()
	return g.log.Close()
}
