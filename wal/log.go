package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Log is a node's durable log in one data directory. Open it, read it back
// with Replay, then Append from any number of goroutines. All methods are
// safe for concurrent use.
type Log struct {
	requests sync.Pool // of *request (writer.go)

	cfg  Config
	fs   FS
	log  *slog.Logger
	lock io.Closer // the directory's flock

	// files is the directory listing Open found, consumed by Replay.
	files dirFiles

	// q is the queue of appends (writer.go: appenders take turns writing).
	q struct {
		sync.Mutex
		reqs     []*request // waiting, in arrival order
		writing  bool       // an appender writes, or has been given the turn
		closed   bool       // Close has begun: no more requests
		replayed bool       // Replay has been called
		running  bool       // Replay finished: appends are taken
	}
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	// wmu is held by whoever writes to the active segment: the appender
	// whose turn it is, a rotation, Close.
	wmu sync.Mutex
	// w is guarded by wmu once Replay has started the log.
	w struct {
		seg    *segment
		buf    []byte
		batch  []*request
		broken *broken // a failed write not yet rolled back
		// rotateAfter, once a rotation failed, is when to try again.
		rotateAfter time.Time
	}
	active  atomic.Pointer[segment] // the segment being appended to
	syncErr atomic.Pointer[error]   // everysec: the last background fsync failed

	// snapMu serialises a snapshot's Commit with Close; snapBusy admits one
	// snapshot at a time.
	snapMu   sync.Mutex
	snapBusy atomic.Bool

	metaMu sync.Mutex // one SaveMeta at a time

	st        stats
	closeOnce sync.Once
	closeErr  error
}

// broken records a failed write the writer could not truncate away yet.
type broken struct {
	at  int64 // the segment's good size
	err error
}

// segment is one segment file.
type segment struct {
	seq  uint64
	path string
	f    File
	size int64 // bytes of good frames (writer-owned)

	written atomic.Int64 // size as of the last write, for the syncer
	mu      sync.Mutex   // serialises Sync with sealing
	synced  int64        // guarded by mu
	closed  bool         // guarded by mu
}

// Source says where a replayed record comes from.
type Source int

const (
	// FromSnapshot: a record the caller streamed into a snapshot.
	FromSnapshot Source = iota + 1
	// FromLog: a record appended after that snapshot was started.
	FromLog
)

func (s Source) String() string {
	switch s {
	case FromSnapshot:
		return "snapshot"
	case FromLog:
		return "log"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Open locks cfg.Dir (creating it if missing), removes unfinished temporary
// files and lists the log. Metadata can be read at once; call Replay
// before Append. It fails with ErrLocked if another Log holds the directory.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{requests: sync.Pool{New: newRequest}, cfg: cfg, fs: cfg.FS, log: cfg.Logger,
		stop: make(chan struct{})}
	if l.fs == nil {
		l.fs = OSFS{}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := l.fs.MkdirAll(cfg.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", cfg.Dir, err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	if l.files, err = l.list(); err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

// dirFiles is what Open found in the directory.
type dirFiles struct {
	segments  []uint64 // ascending
	snapshots []uint64 // ascending
}

// list reads the directory and removes temporaries left by a crash.
func (l *Log) list() (dirFiles, error) {
	var d dirFiles
	entries, err := l.fs.ReadDir(l.cfg.Dir)
	if err != nil {
		return d, fmt.Errorf("wal: list %s: %w", l.cfg.Dir, err)
	}
	for _, e := range entries { // ReadDir sorts by name; names sort by sequence
		name := e.Name()
		if seq, ok := parseSeq(name, segmentPrefix, segmentSuffix); ok {
			d.segments = append(d.segments, seq)
		} else if seq, ok := parseSeq(name, snapPrefix, snapSuffix); ok {
			d.snapshots = append(d.snapshots, seq)
		} else if strings.HasSuffix(name, tmpSuffix) {
			if err := l.fs.Remove(l.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return d, fmt.Errorf("wal: remove unfinished %s: %w", l.path(name), err)
			}
			l.log.Info("wal: removed an unfinished file", "file", l.path(name))
		}
	}
	return d, nil
}

// Close writes every record still queued, fsyncs the active segment (in
// every mode), stops the log's goroutines and releases the directory.
// Appends waiting in the queue are answered; later calls get ErrClosed. A
// snapshot still open is not committed. Close is safe to call twice; the
// second call returns the first one's result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.q.Lock()
		l.q.closed = true
		running := l.q.running
		l.q.Unlock()
		l.snapMu.Lock()
		close(l.stop)
		l.snapMu.Unlock()
		// Write what is still queued (an appender whose turn comes later
		// then finds nothing to write), and keep rotations out.
		l.wmu.Lock()
		if running {
			for l.writeBatch(false) {
			}
		}
		l.wmu.Unlock()
		l.wg.Wait()
		l.metaMu.Lock() // let a SaveMeta under way finish before unlocking the directory
		l.metaMu.Unlock()
		if running {
			l.wmu.Lock()
			l.closeErr = l.closeActive()
			l.wmu.Unlock()
		}
		if err := l.lock.Close(); err != nil && l.closeErr == nil {
			l.closeErr = err
		}
	})
	return l.closeErr
}

// closeActive fsyncs and closes the active segment.
func (l *Log) closeActive() error {
	seg := l.active.Load()
	seg.mu.Lock()
	defer seg.mu.Unlock()
	var err error
	if l.w.broken == nil {
		err = l.timedSync(seg)
	}
	if cerr := seg.f.Close(); err == nil {
		err = cerr
	}
	seg.closed = true
	if err != nil {
		return writeError("close", seg.path, err)
	}
	return nil
}

// closed reports whether Close has begun.
func (l *Log) isClosed() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// timedSync fsyncs seg's file, counting and timing it. The caller holds
// seg.mu.
func (l *Log) timedSync(seg *segment) error {
	w := seg.written.Load() // what this fsync covers at least
	t := time.Now()
	err := seg.f.Sync()
	d := time.Since(t)
	l.st.fsyncs.Add(1)
	l.st.fsyncNanos.Add(int64(d))
	for {
		m := l.st.fsyncMax.Load()
		if int64(d) <= m || l.st.fsyncMax.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	if l.cfg.ObserveFsync != nil {
		l.cfg.ObserveFsync(d)
	}
	if err == nil {
		seg.synced = w
	}
	return err
}
