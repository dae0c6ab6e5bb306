package wal

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the figures a node exports about its log.
type Stats struct {
	Dir   string
	Fsync FsyncMode
	// LogBytes is the size of the segments a restart would replay (every
	// segment after the newest snapshot, the active one included). Compact
	// when it passes about twice the live data.
	LogBytes int64
	// Segments is the number of those segments.
	Segments int
	// SnapshotBytes is the newest snapshot's size, 0 without one.
	SnapshotBytes int64
	// LastSnapshot is when the newest snapshot was committed (its file's
	// modification time after a restart); zero without one.
	LastSnapshot time.Time
	// LastSnapshotDuration is StartSnapshot to Commit of the newest
	// snapshot this process wrote.
	LastSnapshotDuration time.Duration
	// Recovery is how long Replay took.
	Recovery time.Duration
	// Appends counts records written; AppendErrors counts records whose
	// Append failed; Batches counts writes (one per group commit).
	Appends, AppendErrors, Batches uint64
	// Fsyncs counts segment fsyncs, FsyncTotal and FsyncMax are their total
	// and longest duration (Config.ObserveFsync gets each one).
	Fsyncs     uint64
	FsyncTotal time.Duration
	FsyncMax   time.Duration
}

// stats holds the counters behind Stats.
type stats struct {
	appends, appendErrors, batches, fsyncs atomic.Uint64
	fsyncNanos, fsyncMax                   atomic.Int64

	// mu guards the rest: the file-level picture.
	mu            sync.Mutex
	sealed        map[uint64]int64 // sealed segments after the newest snapshot: seq -> bytes
	snapshotBytes int64
	lastSnapshot  time.Time
	snapshotDur   time.Duration
	recovery      time.Duration
}

// Stats returns the log's current figures.
func (l *Log) Stats() Stats {
	s := Stats{
		Dir: l.cfg.Dir, Fsync: l.cfg.Fsync,
		Appends: l.st.appends.Load(), AppendErrors: l.st.appendErrors.Load(), Batches: l.st.batches.Load(),
		Fsyncs: l.st.fsyncs.Load(), FsyncTotal: time.Duration(l.st.fsyncNanos.Load()),
		FsyncMax: time.Duration(l.st.fsyncMax.Load()),
	}
	l.st.mu.Lock()
	for _, n := range l.st.sealed {
		s.LogBytes += n
		s.Segments++
	}
	s.SnapshotBytes, s.LastSnapshot = l.st.snapshotBytes, l.st.lastSnapshot
	s.LastSnapshotDuration, s.Recovery = l.st.snapshotDur, l.st.recovery
	if seg := l.active.Load(); seg != nil { // switched under mu by rotate
		s.LogBytes += seg.written.Load()
		s.Segments++
	}
	l.st.mu.Unlock()
	return s
}
