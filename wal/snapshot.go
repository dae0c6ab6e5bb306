package wal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"time"
)

// Snapshot is a snapshot being written: the caller streams its state into
// it with Add, then calls Commit (or Abort). Appends go on meanwhile. A
// Snapshot is used by one goroutine.
type Snapshot struct {
	l       *Log
	seq     uint64 // covers every segment before seq
	tmp     string
	f       File
	bw      *bufio.Writer
	count   uint64
	size    int64 // bytes written, header and trailer included
	hdr     [frameHeader]byte
	started time.Time
	err     error // the first write error; sticky
	done    bool
}

// StartSnapshot seals the active segment and starts a new one, so that the
// snapshot covers every record in the segments before it, and opens a
// snapshot to stream state into.
//
// The contract: what the caller streams must include the effect of every
// record in a covered segment. Every Append that returned before
// StartSnapshot was called is covered; one running concurrently may land
// on either side. So a caller that applies after Append returns must keep
// StartSnapshot from running between an Append and its apply, for example
// by holding a sync.RWMutex for reading around Append+apply and for
// writing around StartSnapshot (a pause of one group commit), or by
// streaming each part of its state under the lock its writes hold across
// Append+apply. Records after the rotation are replayed after the
// snapshot even if the snapshot already has their effect: apply must be
// idempotent.
//
// One snapshot at a time: ErrSnapshotBusy while another is open.
func (l *Log) StartSnapshot() (*Snapshot, error) {
	l.q.Lock()
	closed, running := l.q.closed, l.q.running
	l.q.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case !running:
		return nil, ErrNotReplayed
	case !l.snapBusy.CompareAndSwap(false, true):
		return nil, ErrSnapshotBusy
	}
	s, err := l.startSnapshot()
	if err != nil {
		l.snapBusy.Store(false)
	}
	return s, err
}

func (l *Log) startSnapshot() (*Snapshot, error) {
	started := time.Now()
	type rotated struct {
		seq uint64
		err error
	}
	var r rotated
	if err := l.control(func() { r.seq, r.err = l.rotate() }); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, fmt.Errorf("wal: snapshot: %w", r.err)
	}
	tmp := l.path(snapName(r.seq) + tmpSuffix)
	f, err := l.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, filePerm)
	if err != nil {
		return nil, writeError("create", tmp, err)
	}
	s := &Snapshot{l: l, seq: r.seq, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 1<<20), started: started, size: fileHeader}
	if _, err := s.bw.Write(appendFileHeader(nil, snapMagic, r.seq)); err != nil {
		s.discard()
		return nil, writeError("write", tmp, err)
	}
	return s, nil
}

// Add writes one record of state into the snapshot. rec may be reused as
// soon as Add returns. After a write error every later Add and Commit
// fail with it (ErrNoSpace or ErrIO); Abort the snapshot then.
func (s *Snapshot) Add(rec []byte) error {
	switch {
	case s.done:
		return errors.New("wal: snapshot already committed or aborted")
	case s.err != nil:
		return s.err
	case len(rec) > s.l.cfg.MaxRecord:
		return fmt.Errorf("%w: %d bytes, the maximum is %d", ErrTooLarge, len(rec), s.l.cfg.MaxRecord)
	}
	le.PutUint32(s.hdr[0:], uint32(len(rec)))
	le.PutUint32(s.hdr[4:], checksum(rec))
	le.PutUint32(s.hdr[8:], checksum(s.hdr[:8]))
	if _, err := s.bw.Write(s.hdr[:]); err != nil {
		s.err = writeError("write", s.tmp, err)
		return s.err
	}
	if _, err := s.bw.Write(rec); err != nil {
		s.err = writeError("write", s.tmp, err)
		return s.err
	}
	s.count++
	s.size += frameHeader + int64(len(rec))
	return nil
}

// Commit finishes the snapshot: it writes the trailer, fsyncs the file,
// renames it into place, fsyncs the directory, and only then deletes the
// segments and older snapshots it covers. On error nothing changes: the
// log and the previous snapshot stay as they were.
func (s *Snapshot) Commit() error {
	if s.done {
		return errors.New("wal: snapshot already committed or aborted")
	}
	l := s.l
	defer l.snapBusy.Store(false)
	if err := s.finish(); err != nil {
		s.discard()
		return err
	}
	s.done = true
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if l.isClosed() {
		l.fs.Remove(s.tmp)
		return ErrClosed
	}
	final := l.path(snapName(s.seq))
	if err := l.fs.Rename(s.tmp, final); err != nil {
		l.fs.Remove(s.tmp)
		return writeError("rename", s.tmp, err)
	}
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		// The rename may not be durable yet; the covered segments stay until
		// a later snapshot or restart removes them, which is safe either way.
		return writeError("fsync directory", l.cfg.Dir, err)
	}
	l.st.mu.Lock()
	for seq := range l.st.sealed {
		if seq < s.seq {
			delete(l.st.sealed, seq)
		}
	}
	l.st.snapshotBytes = s.size
	l.st.lastSnapshot = time.Now()
	l.st.snapshotDur = time.Since(s.started)
	l.st.mu.Unlock()
	l.dropCovered(s.seq)
	return nil
}

// finish writes the trailer, fsyncs and closes the temporary file.
func (s *Snapshot) finish() error {
	if s.err != nil {
		return s.err
	}
	if _, err := s.bw.Write(appendTrailer(nil, s.count)); err != nil {
		return writeError("write", s.tmp, err)
	}
	s.size += trailerSize
	if err := s.bw.Flush(); err != nil {
		return writeError("write", s.tmp, err)
	}
	if err := s.f.Sync(); err != nil {
		return writeError("fsync", s.tmp, err)
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return writeError("close", s.tmp, err)
	}
	return nil
}

// Abort discards the snapshot; the log is unchanged. It is a no-op after
// Commit or Abort, so `defer s.Abort()` is fine.
func (s *Snapshot) Abort() {
	if s.done {
		return
	}
	s.discard()
	s.l.snapBusy.Store(false)
}

func (s *Snapshot) discard() {
	s.done = true
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if err := s.l.fs.Remove(s.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.l.log.Warn("wal: cannot remove an unfinished snapshot", "file", s.tmp, "err", err)
	}
}

// dropCovered deletes the segments and snapshots a committed snapshot
// (covering segments before seq) has made redundant. A file it cannot
// delete now is deleted by the next snapshot or Replay.
func (l *Log) dropCovered(seq uint64) {
	entries, err := l.fs.ReadDir(l.cfg.Dir)
	if err != nil {
		l.log.Warn("wal: list the data directory", "err", err)
		return
	}
	removed := false
	for _, e := range entries {
		if s, ok := parseSeq(e.Name(), segmentPrefix, segmentSuffix); ok && s < seq {
			l.remove(l.path(e.Name()))
			removed = true
		} else if s, ok := parseSeq(e.Name(), snapPrefix, snapSuffix); ok && s < seq {
			l.remove(l.path(e.Name()))
			removed = true
		}
	}
	if removed {
		if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
			l.log.Warn("wal: fsync of the data directory", "err", err)
		}
	}
}
