package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Recovery reports what Replay read.
type Recovery struct {
	Snapshot        string // path of the snapshot loaded, "" if none
	SnapshotRecords int
	Segments        int // segments replayed
	LogRecords      int
	// Torn is the torn tail Replay cut off the last segment, nil if none.
	Torn     *TornTail
	Duration time.Duration
}

// TornTail is an unfinished write at the end of the last segment (a crash
// mid-write), truncated away by Replay. No Append that returned nil is in
// it under fsync always.
type TornTail struct {
	File   string
	Offset int64 // where the torn record started; the file's new size
	Bytes  int64 // bytes removed
	Reason string
}

// Replay reads the log back: it calls apply for every record of the newest
// snapshot (FromSnapshot), then for every record appended after that
// snapshot started (FromLog), in order, then starts the writer. rec is only
// valid during the call; apply must copy what it keeps. A record may be
// both in the snapshot and in the log after it (see StartSnapshot), so
// apply must be idempotent: apply-if-newer by version.
//
// A torn record at the end of the last segment is truncated away and
// reported in Recovery.Torn (and logged). Any other damage stops Replay
// with a *CorruptError naming the file and byte offset, and nothing is
// changed on disk. An error from apply stops Replay and is returned. Replay
// may be called once; after an error, Close the log.
func (l *Log) Replay(apply func(src Source, rec []byte) error) (Recovery, error) {
	var rec Recovery
	start := time.Now()
	l.q.Lock()
	switch {
	case l.q.closed:
		l.q.Unlock()
		return rec, ErrClosed
	case l.q.replayed:
		l.q.Unlock()
		return rec, errors.New("wal: Replay called twice")
	}
	l.q.replayed = true
	l.q.Unlock()
	l.st.mu.Lock()
	l.st.sealed = map[uint64]int64{}
	l.st.mu.Unlock()

	var buf []byte     // the scanners' window, reused from file to file
	first := uint64(1) // the first segment a restart needs
	if n := len(l.files.snapshots); n > 0 {
		first = l.files.snapshots[n-1]
		var err error
		if rec.SnapshotRecords, err = l.loadSnapshot(first, &buf, apply); err != nil {
			return rec, err
		}
		rec.Snapshot = l.path(snapName(first))
	}
	var live []uint64
	for _, seq := range l.files.segments {
		if seq >= first {
			live = append(live, seq)
		}
	}
	for i, seq := range live {
		if want := first + uint64(i); seq != want {
			return rec, &CorruptError{File: l.path(segmentName(want)), Offset: 0,
				Reason: fmt.Sprintf("segment missing (found %s next)", segmentName(seq))}
		}
	}
	var seg *segment
	for i, seq := range live {
		last := i == len(live)-1
		n, s, torn, err := l.replaySegment(seq, last, &buf, apply)
		rec.LogRecords += n
		if err != nil {
			return rec, err
		}
		rec.Segments++
		if last {
			seg, rec.Torn = s, torn
		} else {
			l.st.mu.Lock()
			l.st.sealed[seq] = s.size
			l.st.mu.Unlock()
		}
	}
	if seg == nil {
		var err error
		if seg, err = l.createSegment(first); err != nil {
			return rec, err
		}
	}
	l.dropCovered(first) // left by a crash between a snapshot's rename and its cleanup
	rec.Duration = time.Since(start)
	if rec.Torn != nil {
		l.log.Warn("wal: dropped a torn record at the end of the log (a crash mid-write)",
			"file", rec.Torn.File, "offset", rec.Torn.Offset, "bytes", rec.Torn.Bytes, "reason", rec.Torn.Reason)
	}
	l.log.Info("wal: recovered", "dir", l.cfg.Dir, "snapshot_records", rec.SnapshotRecords,
		"log_records", rec.LogRecords, "segments", rec.Segments, "took", rec.Duration)
	return rec, l.start(seg, rec.Duration)
}

// start installs the active segment and opens the queue, unless Close came
// first.
func (l *Log) start(seg *segment, took time.Duration) error {
	l.q.Lock()
	defer l.q.Unlock()
	if l.q.closed {
		seg.f.Close()
		return ErrClosed
	}
	l.w.seg = seg
	l.st.mu.Lock()
	l.active.Store(seg)
	l.st.recovery = took
	l.st.mu.Unlock()
	if l.cfg.Fsync == FsyncEverySec {
		l.wg.Add(1)
		go l.syncer()
	}
	l.q.running = true // Close, which sets closed under q, now drains the queue and waits for the syncer
	return nil
}

// loadSnapshot streams snapshot seq into apply and records its size and
// time. A snapshot is complete by construction (written under a temporary
// name, renamed when whole), so any flaw in it is damage.
func (l *Log) loadSnapshot(seq uint64, buf *[]byte, apply func(Source, []byte) error) (int, error) {
	path := l.path(snapName(seq))
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("wal: open snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	size := st.Size()
	if reason, err := readFileHeader(f, size, snapMagic, seq); err != nil {
		return 0, fmt.Errorf("wal: read %s: %w", path, err)
	} else if reason != "" {
		return 0, &CorruptError{File: path, Offset: 0, Reason: reason}
	}
	s := newScanner(f, fileHeader, size, l.cfg.MaxRecord, *buf)
	defer func() { *buf = s.buf }()
	s.trailer = true
	n := 0
	var d *damage // outside the loop: errors.As makes it escape
	for {
		rec, err := s.next()
		switch {
		case err == nil:
			n++
			if err := apply(FromSnapshot, rec); err != nil {
				return n, err
			}
			continue
		case errors.Is(err, errTrailer):
			if s.count != uint64(n) {
				return n, &CorruptError{File: path, Offset: s.off - trailerSize,
					Reason: fmt.Sprintf("trailer counts %d records, the snapshot holds %d", s.count, n)}
			}
			if s.off != size {
				return n, &CorruptError{File: path, Offset: s.off, Reason: "data after the trailer"}
			}
			l.st.mu.Lock()
			l.st.snapshotBytes, l.st.lastSnapshot = size, st.ModTime()
			l.st.mu.Unlock()
			return n, nil
		case err == io.EOF:
			return n, &CorruptError{File: path, Offset: size, Reason: "no trailer: the snapshot is cut short"}
		case errors.As(err, &d):
			return n, &CorruptError{File: path, Offset: d.off, Reason: d.reason}
		default:
			return n, fmt.Errorf("wal: read %s: %w", path, err)
		}
	}
}

// replaySegment streams segment seq into apply. In the last segment, a
// damaged record with no intact record after it is a torn tail: it is
// truncated away and returned. The last segment comes back open for
// appending; others are closed.
func (l *Log) replaySegment(seq uint64, last bool, buf *[]byte, apply func(Source, []byte) error) (int, *segment, *TornTail, error) {
	path := l.path(segmentName(seq))
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := l.fs.OpenFile(path, flag, 0)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("wal: open segment: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	size, err := fileSize(f)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	seg := &segment{seq: seq, path: path, f: f}
	reason, err := readFileHeader(f, size, segmentMagic, seq)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if reason != "" {
		// Only the newest segment may have a torn header: it was being
		// created, so it holds no record. A header of zeros counts too.
		zero, err := allZero(f, size)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("wal: read %s: %w", path, err)
		}
		if !last || (size >= fileHeader && !zero) {
			return 0, nil, nil, &CorruptError{File: path, Offset: 0, Reason: reason}
		}
		if err := l.resetSegment(seg); err != nil {
			return 0, nil, nil, err
		}
		keep = true
		return 0, seg, &TornTail{File: path, Offset: 0, Bytes: size, Reason: reason}, nil
	}
	s := newScanner(f, fileHeader, size, l.cfg.MaxRecord, *buf)
	defer func() { *buf = s.buf }()
	n := 0
	for {
		rec, err := s.next()
		if err == nil {
			n++
			if err := apply(FromLog, rec); err != nil {
				return n, nil, nil, err
			}
			continue
		}
		var d *damage
		switch {
		case err == io.EOF:
			seg.size = size
		case errors.As(err, &d):
			torn, err := l.tornOrCorrupt(f, path, size, last, d)
			if err != nil {
				return n, nil, nil, err
			}
			if err := f.Truncate(d.off); err != nil {
				return n, nil, nil, fmt.Errorf("wal: truncate the torn tail of %s: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				return n, nil, nil, fmt.Errorf("wal: truncate the torn tail of %s: %w", path, err)
			}
			seg.size = d.off
			keep = last
			seg.written.Store(seg.size)
			return n, seg, torn, nil
		default:
			return n, nil, nil, fmt.Errorf("wal: read %s: %w", path, err)
		}
		keep = last
		seg.written.Store(seg.size)
		return n, seg, nil, nil
	}
}

// tornOrCorrupt decides what damage d is. It is a torn tail only in the
// last segment, only if its header is not an intact header claiming more
// than MaxRecord, and only if no intact record starts after it: after its
// end when its header is intact (its length is then trusted), otherwise
// anywhere after its first byte. Everything else is a *CorruptError.
func (l *Log) tornOrCorrupt(f File, path string, size int64, last bool, d *damage) (*TornTail, error) {
	if d.fatal {
		return nil, &CorruptError{File: path, Offset: d.off, Reason: d.reason}
	}
	if !last {
		return nil, &CorruptError{File: path, Offset: d.off, Reason: d.reason + " in a sealed segment"}
	}
	from := d.end
	if from < 0 {
		from = d.off + 1
	}
	if from < size {
		p, found, err := intactAfter(f, from, size, l.cfg.MaxRecord)
		if err != nil {
			return nil, fmt.Errorf("wal: read %s: %w", path, err)
		}
		if found {
			return nil, &CorruptError{File: path, Offset: d.off,
				Reason: fmt.Sprintf("%s, with an intact record after it at byte %d", d.reason, p)}
		}
	}
	return &TornTail{File: path, Offset: d.off, Bytes: size - d.off, Reason: d.reason}, nil
}

// resetSegment rewrites the header of a segment whose header was torn.
func (l *Log) resetSegment(seg *segment) error {
	err := seg.f.Truncate(0)
	if err == nil {
		_, err = seg.f.WriteAt(appendFileHeader(nil, segmentMagic, seg.seq), 0)
	}
	if err == nil {
		err = seg.f.Sync()
	}
	if err != nil {
		return writeError("rewrite header of", seg.path, err)
	}
	seg.size = fileHeader
	seg.written.Store(fileHeader)
	return nil
}

// readFileHeader reads and checks a file's header; it returns the reason
// it is wrong, or "".
func readFileHeader(f File, size int64, magic [8]byte, seq uint64) (string, error) {
	h := make([]byte, min(size, fileHeader))
	if _, err := f.ReadAt(h, 0); err != nil && err != io.EOF {
		return "", err
	}
	return checkFileHeader(h, magic, seq), nil
}

// allZero reports whether the first size bytes of f are all zero.
func allZero(f File, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(size-off, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return false, err
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
	}
	return true, nil
}

func (l *Log) remove(path string) {
	if err := l.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.log.Warn("wal: cannot remove a covered file", "file", path, "err", err)
	}
}
