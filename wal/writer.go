package wal

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// request is one Append or AppendBatch waiting to be written.
type request struct {
	one  []byte   // a single record, or
	many [][]byte // several
	size int      // framed bytes
	done chan error
}

// newRequest makes a request for a Log's pool. The pool is the Log's own,
// not the package's: a request's channel must not travel between Logs (a
// testing/synctest bubble refuses a channel made in another bubble).
func newRequest() any { return &request{done: make(chan error, 1)} }

// Append writes rec to the log and returns once it is durable as
// Config.Fsync promises: fsynced (always) or written to the file (everysec,
// no). Concurrent calls share writes and fsyncs. rec must not change until
// Append returns. On error the record is not in the log: ErrNoSpace or
// ErrIO (disk trouble; retry later), ErrTooLarge, ErrClosed, ErrNotReplayed.
func (l *Log) Append(rec []byte) error {
	if len(rec) > l.cfg.MaxRecord {
		return fmt.Errorf("%w: %d bytes, the maximum is %d", ErrTooLarge, len(rec), l.cfg.MaxRecord)
	}
	r := l.requests.Get().(*request)
	r.one, r.size = rec, frameHeader+len(rec)
	err := l.submit(r)
	r.one = nil
	l.requests.Put(r)
	return err
}

// refusalLocked returns why the log takes no append now (ErrClosed,
// ErrNotReplayed), or nil. The caller holds q.
func (l *Log) refusalLocked() error {
	switch {
	case l.q.closed:
		return ErrClosed
	case !l.q.running:
		return ErrNotReplayed
	}
	return nil
}

// batchSize returns the bytes recs take framed in the log (0 for none), or
// ErrTooLarge for a record past MaxRecord.
func (l *Log) batchSize(recs [][]byte) (int, error) {
	size := 0
	for _, rec := range recs {
		if len(rec) > l.cfg.MaxRecord {
			return 0, fmt.Errorf("%w: %d bytes, the maximum is %d", ErrTooLarge, len(rec), l.cfg.MaxRecord)
		}
		size += frameHeader + len(rec)
	}
	return size, nil
}

// AppendBatch writes recs, in order, with one wait: all of them are
// durable when it returns nil, and none of them is in the log when it
// returns an error. The records are written contiguously, in one write.
func (l *Log) AppendBatch(recs [][]byte) error {
	size, err := l.batchSize(recs)
	if err != nil || size == 0 {
		return err
	}
	r := l.requests.Get().(*request)
	r.many, r.size = recs, size
	err = l.submit(r)
	r.many = nil
	l.requests.Put(r)
	return err
}

// errLead is sent on a waiting request's done channel to make its
// appender the next writer: the queue holds requests and nobody writes.
// It never leaves the package.
var errLead = errors.New("wal: your turn to write")

// submit queues r and waits for its answer. There is no writer goroutine:
// appenders take turns. The appender that finds nobody writing becomes the
// writer (q.writing) and writes a batch of everything queued, its own
// request included (unless MaxBatchBytes cuts the batch short), then
// passes the turn to the first request still queued, whose appender wakes
// to write the next batch. So a lone appender writes its own record with
// no hand-off to another goroutine, and appenders that arrive while a
// batch is being written (and fsynced) share the next one.
func (l *Log) submit(r *request) error {
	l.q.Lock()
	if err := l.refusalLocked(); err != nil {
		l.q.Unlock()
		return err
	}
	l.q.reqs = append(l.q.reqs, r)
	lead := !l.q.writing
	l.q.writing = true
	l.q.Unlock()
	for {
		if lead {
			l.lead()
		}
		err := <-r.done
		if err != errLead {
			return err
		}
		lead = true
	}
}

// lead writes one batch as the writer, then passes the turn on: to the
// first request still queued, or to nobody.
func (l *Log) lead() {
	l.wmu.Lock()
	l.writeBatch(true)
	l.wmu.Unlock()
	l.passTurn()
}

// passTurn ends a writer's turn: it wakes the appender of the first
// request still queued to write the next batch, or ends the writing.
func (l *Log) passTurn() {
	l.q.Lock()
	if len(l.q.reqs) == 0 {
		l.q.writing = false
		l.q.Unlock()
		return
	}
	next := l.q.reqs[0]
	l.q.Unlock()
	// next is queued, so nothing has answered it, and its appender waits
	// on done (capacity 1) for exactly this.
	next.done <- errLead
}

// testHookTryQueued, when set (by tests), runs in TryAppendBatch between
// queueing its request and writing the batch, where other appenders may
// join it.
var testHookTryQueued func(*Log)

// TryAppendBatch is AppendBatch for a caller that must not wait for the
// disk or for other appenders (a connection's reader, say). It appends
// recs only when it can write them itself at once: the fsync mode does not
// fsync each append (everysec or no), nobody else is writing or waiting
// to, and the write needs neither a new segment nor the repair of an
// earlier failure (each means fsyncs). Otherwise it returns ErrWouldWait
// and has changed nothing. It still waits for its write to the file (the
// page cache), and appenders arriving meanwhile may join the write.
func (l *Log) TryAppendBatch(recs [][]byte) error {
	if l.cfg.Fsync == FsyncAlways {
		return ErrWouldWait
	}
	size, err := l.batchSize(recs)
	if err != nil || size == 0 {
		return err
	}
	l.q.Lock()
	if err := l.refusalLocked(); err != nil {
		l.q.Unlock()
		return err
	}
	if l.q.writing || !l.wmu.TryLock() {
		l.q.Unlock()
		return ErrWouldWait
	}
	// Nobody writing, so nothing is queued: r is the batch's first request.
	if l.w.broken != nil || l.w.seg.size+int64(size) >= l.cfg.SegmentSize {
		l.wmu.Unlock()
		l.q.Unlock()
		return ErrWouldWait
	}
	r := l.requests.Get().(*request)
	r.many, r.size = recs, size
	l.q.reqs = append(l.q.reqs, r)
	l.q.writing = true
	l.q.Unlock()
	if testHookTryQueued != nil {
		testHookTryQueued(l)
	}
	// Appenders queued meanwhile join this batch and may fill the segment:
	// its rotation (fsyncs) is left to the next appender that may wait.
	l.writeBatch(false)
	l.wmu.Unlock()
	l.passTurn()
	err = <-r.done
	r.many = nil
	l.requests.Put(r)
	return err
}

// control runs fn as the writer would, between batches (rotation for a
// snapshot). It returns ErrClosed once Close has begun.
func (l *Log) control(fn func()) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	fn()
	return nil
}

// take moves the next batch from the queue to l.w.batch and reports
// whether requests remain. The caller holds wmu.
func (l *Log) take() bool {
	l.q.Lock()
	defer l.q.Unlock()
	n, size := 0, 0
	for n < len(l.q.reqs) && (n == 0 || size+l.q.reqs[n].size <= l.cfg.MaxBatchBytes) {
		size += l.q.reqs[n].size
		n++
	}
	l.w.batch = append(l.w.batch[:0], l.q.reqs[:n]...)
	rest := copy(l.q.reqs, l.q.reqs[n:])
	clear(l.q.reqs[rest:])
	l.q.reqs = l.q.reqs[:rest]
	return rest > 0
}

// writeBatch writes one batch and answers its requests; it reports whether
// more requests wait. With rotate it then starts a new segment if this one
// is full. The caller holds wmu.
func (l *Log) writeBatch(rotate bool) bool {
	more := l.take()
	batch := l.w.batch
	if len(batch) == 0 {
		return more
	}
	err := l.write(batch)
	records := 0
	for _, r := range batch {
		if r.many != nil {
			records += len(r.many)
		} else {
			records++
		}
	}
	if err != nil { // counted before answering, so Stats agrees with what callers saw
		l.st.appendErrors.Add(uint64(records))
	} else {
		l.st.appends.Add(uint64(records))
		l.st.batches.Add(1)
	}
	for _, r := range batch {
		r.done <- err
	}
	clear(l.w.batch)
	if rotate && err == nil && l.w.seg.size >= l.cfg.SegmentSize && time.Now().After(l.w.rotateAfter) {
		l.sealFull()
	}
	return more
}

// sealFull rotates a full segment. If it cannot (disk full), appends go on
// into the current segment and the rotation is retried a second later,
// logged once per episode.
func (l *Log) sealFull() {
	_, err := l.rotate()
	switch {
	case err != nil && l.w.rotateAfter.IsZero():
		l.log.Warn("wal: cannot start a new segment; appending to the current one", "err", err)
		fallthrough
	case err != nil:
		l.w.rotateAfter = time.Now().Add(time.Second)
	case !l.w.rotateAfter.IsZero():
		l.log.Info("wal: started a new segment again")
		l.w.rotateAfter = time.Time{}
	}
}

// write puts a batch in the active segment, durable per the fsync mode. On
// failure it truncates the segment back, so nothing of the batch stays.
func (l *Log) write(batch []*request) error {
	seg := l.w.seg
	if err := l.repair(); err != nil {
		return err
	}
	if p := l.syncErr.Load(); p != nil {
		return *p // everysec: a background fsync failed; refuse until one succeeds
	}
	buf := l.w.buf[:0]
	for _, r := range batch {
		if r.many == nil {
			buf = appendFrame(buf, r.one)
			continue
		}
		for _, rec := range r.many {
			buf = appendFrame(buf, rec)
		}
	}
	if cap(buf) <= 2*l.cfg.MaxBatchBytes {
		l.w.buf = buf // keep the buffer unless one huge batch grew it
	} else {
		l.w.buf = nil
	}
	off := seg.size
	if _, err := seg.f.WriteAt(buf, off); err != nil {
		werr := writeError("write", seg.path, err)
		l.rollback(off, werr)
		return werr
	}
	seg.written.Store(off + int64(len(buf)))
	if l.cfg.Fsync == FsyncAlways {
		seg.mu.Lock()
		err := l.timedSync(seg)
		seg.mu.Unlock()
		if err != nil {
			werr := writeError("fsync", seg.path, err)
			seg.written.Store(off)
			l.rollback(off, werr)
			return werr
		}
	}
	seg.size = off + int64(len(buf))
	return nil
}

// rollback truncates the active segment back to at, its size before a
// failed batch, and fsyncs the truncation so that no part of the batch can
// reappear after a crash. If that fails too, the log is marked broken and
// the next batch tries again first.
func (l *Log) rollback(at int64, cause error) {
	l.w.broken = &broken{at: at, err: cause}
	if err := l.repair(); err != nil {
		l.log.Warn("wal: cannot truncate a failed write away yet; appends fail until it can", "file", l.w.seg.path, "err", err)
	}
}

// repair finishes a pending rollback, if any.
func (l *Log) repair() error {
	b := l.w.broken
	if b == nil {
		return nil
	}
	seg := l.w.seg
	err := seg.f.Truncate(b.at)
	if err == nil {
		seg.mu.Lock()
		err = l.timedSync(seg)
		seg.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%w (an earlier failed write is not yet truncated away: %v)", writeError("truncate", seg.path, err), b.err)
	}
	seg.size = b.at
	seg.written.Store(b.at)
	l.w.broken = nil
	return nil
}

// rotate seals the active segment (fsync, in every mode, so a sealed
// segment is whole on disk) and starts the next one. It returns the new
// segment's sequence number. On failure the active segment stays.
func (l *Log) rotate() (uint64, error) {
	if err := l.repair(); err != nil {
		return 0, err
	}
	old := l.w.seg
	old.mu.Lock()
	err := l.timedSync(old)
	old.mu.Unlock()
	if err != nil {
		return 0, writeError("fsync", old.path, err)
	}
	next, err := l.createSegment(old.seq + 1)
	if err != nil {
		return 0, err
	}
	l.st.mu.Lock()
	l.st.sealed[old.seq] = old.size
	l.active.Store(next)
	l.st.mu.Unlock()
	l.w.seg = next
	old.mu.Lock()
	if err := old.f.Close(); err != nil {
		l.log.Warn("wal: closing a sealed segment", "file", old.path, "err", err)
	}
	old.closed = true
	old.mu.Unlock()
	return next.seq, nil
}

// createSegment creates segment seq with its header, fsyncs it and the
// directory (in every mode, so the file survives a crash).
func (l *Log) createSegment(seq uint64) (*segment, error) {
	path := l.path(segmentName(seq))
	f, err := l.fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, filePerm)
	if err != nil {
		return nil, writeError("create", path, err)
	}
	seg := &segment{seq: seq, path: path, f: f, size: fileHeader}
	seg.written.Store(fileHeader)
	_, err = f.WriteAt(appendFileHeader(nil, segmentMagic, seq), 0)
	if err == nil {
		seg.mu.Lock()
		err = l.timedSync(seg)
		seg.mu.Unlock()
	}
	if err == nil {
		err = l.fs.SyncDir(l.cfg.Dir)
	}
	if err != nil {
		f.Close()
		// Best effort: a leftover holds at most a header, which the next
		// rotation truncates and Replay accepts as an empty last segment.
		l.fs.Remove(path)
		return nil, writeError("create", path, err)
	}
	return seg, nil
}

// syncer fsyncs the active segment every SyncInterval (fsync everysec).
// It runs beside the writer, so appends are not held up by the fsync.
func (l *Log) syncer() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.syncActive()
		}
	}
}

// syncActive fsyncs the active segment if anything was written since the
// last fsync, or if the last one failed. A failure makes appends fail (as
// Redis refuses writes when its AOF fsync fails) until an fsync succeeds.
func (l *Log) syncActive() {
	seg := l.active.Load()
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if seg.closed || (seg.written.Load() == seg.synced && l.syncErr.Load() == nil) {
		return
	}
	if err := l.timedSync(seg); err != nil {
		werr := writeError("fsync", seg.path, err)
		if l.syncErr.Swap(&werr) == nil {
			l.log.Error("wal: background fsync failed; appends fail until one succeeds", "file", seg.path, "err", err)
		}
		return
	}
	if l.syncErr.Swap(nil) != nil {
		l.log.Info("wal: background fsync succeeds again", "file", seg.path)
	}
}
