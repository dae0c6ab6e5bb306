package transport

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// keepBuffer is the largest write buffer a frameWriter keeps for reuse.
const keepBuffer = 1 << 20

// frameWriter is a connection's single writer. Any goroutine queues
// frames into a shared buffer; the run goroutine takes everything queued
// and writes it with one Write call (many frames per syscall), under a
// write deadline. A goroutine that answers requests as it reads them (a
// connection's reader) may instead hold its frames and flush them itself
// once its input is drained: one write for all, and no hand-off to run.
// One batch is written at a time.
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration
	limit   int // queued bytes beyond which enqueue waits

	mu      sync.Mutex
	buf     []byte
	spare   []byte // the buffer of the last batch written, for reuse
	writing bool   // a batch is being written (by run or flush)
	// slowUntil is when flush may write on its caller's goroutine again
	// after a write took slowAfter or longer (the peer is not keeping
	// up): until then the run goroutine writes, and the caller, a
	// connection's reader, goes on reading.
	slowUntil time.Time
	slowAfter time.Duration
	err       error         // non-nil once the writer stopped; enqueue then fails
	waiting   int           // enqueuers waiting for room
	room      chan struct{} // closed (and replaced) when the writer takes a batch
	wake      chan struct{} // capacity 1: frames are queued
	stop      chan struct{} // closed by shutdown
	counts    *writeCounts  // where frames and writes are counted, if set
}

var errWriterStopped = errors.New("connection writer stopped")

func newFrameWriter(nc net.Conn, timeout time.Duration, limit int) *frameWriter {
	return &frameWriter{
		nc:        nc,
		timeout:   timeout,
		limit:     limit,
		room:      make(chan struct{}),
		slowAfter: slowWrite,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
}

// enqueue appends a frame for the run goroutine to write. A nil result means
// the frame is queued (and will be written unless the connection breaks); an
// error means it was not queued and so surely not sent. It blocks only while
// more than limit bytes are queued, until room frees, ctx ends or the writer
// stops.
func (w *frameWriter) enqueue(ctx context.Context, h wire.Header, body []byte) error {
	_, err := w.add(ctx, h, body, true)
	return err
}

// hold is enqueue for a goroutine that will call flush before it next
// blocks: the run goroutine is not woken for the frame (unless room is
// short), so frames held in a row go out in one write, without a
// goroutine hand-off. It returns the bytes then queued.
func (w *frameWriter) hold(ctx context.Context, h wire.Header, body []byte) (queued int, err error) {
	return w.add(ctx, h, body, false)
}

// counting makes w count its frames and writes in c; it returns w.
func (w *frameWriter) counting(c *writeCounts) *frameWriter {
	w.counts = c
	return w
}

// add queues a frame, waking the run goroutine for it if wake, and
// returns the bytes then queued.
func (w *frameWriter) add(ctx context.Context, h wire.Header, body []byte, wake bool) (int, error) {
	w.mu.Lock()
	for w.err == nil && len(w.buf) > 0 && len(w.buf)+wire.HeaderLen+4+len(body) > w.limit {
		room := w.room
		w.waiting++
		w.mu.Unlock()
		w.signal() // the queued frames may all be held
		var err error
		select {
		case <-room:
		case <-w.stop:
		case <-ctx.Done():
			err = ctx.Err()
		}
		w.mu.Lock()
		w.waiting--
		if err != nil {
			w.mu.Unlock()
			return 0, err
		}
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return 0, err
	}
	first := len(w.buf) == 0
	w.buf = wire.AppendFrame(w.buf, h, body)
	queued := len(w.buf)
	w.mu.Unlock()
	if w.counts != nil {
		w.counts.frames.Add(1)
	}
	if first && wake {
		w.signal()
	}
	return queued, nil
}

// signal wakes the run goroutine, or leaves it a wake-up.
func (w *frameWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// slowWrite and slowBackoff: a write that takes longer than slowWrite
// found the socket full (or its thread starved of CPU: the threshold is
// well above a preempted write's usual delay); for slowBackoff after it,
// flush leaves the writing to the run goroutine.
const (
	slowWrite   = 5 * time.Millisecond
	slowBackoff = time.Second
)

// flush writes the queued frames on the calling goroutine, unless a write
// is in progress (its writer then writes them next) or a recent write was
// slow (the run goroutine is woken to write them). It returns the write's
// error, after which the writer has stopped.
func (w *frameWriter) flush() error {
	w.mu.Lock()
	if w.writing || len(w.buf) == 0 {
		w.mu.Unlock()
		return nil
	}
	if !w.slowUntil.IsZero() && time.Now().Before(w.slowUntil) {
		w.mu.Unlock()
		w.signal()
		return nil
	}
	batch := w.takeLocked()
	w.mu.Unlock()
	if w.counts != nil {
		w.counts.readerWrites.Add(1)
	}
	return w.write(batch)
}

// take returns the queued frames for the caller to write, or nil if there
// are none or a write is in progress.
func (w *frameWriter) take() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writing || len(w.buf) == 0 {
		return nil
	}
	return w.takeLocked()
}

// takeLocked is take, with w.mu held and frames queued and no write in
// progress.
func (w *frameWriter) takeLocked() []byte {
	batch := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.writing = true
	if w.waiting > 0 {
		close(w.room)
		w.room = make(chan struct{})
	}
	return batch
}

// write writes a batch from take, under a write deadline, and makes what
// was queued meanwhile the next batch's.
func (w *frameWriter) write(batch []byte) error {
	start := time.Now()
	err := w.nc.SetWriteDeadline(start.Add(w.timeout))
	if err == nil {
		_, err = w.nc.Write(batch)
	}
	if err != nil {
		w.fail(err)
		w.signal() // run returns the error
		return err
	}
	took := time.Since(start)
	if w.counts != nil {
		w.counts.writes.Add(1)
		if took >= w.slowAfter {
			w.counts.slowWrites.Add(1)
		}
	}
	w.mu.Lock()
	if took >= w.slowAfter {
		w.slowUntil = start.Add(took + slowBackoff)
	}
	w.writing = false
	if cap(batch) <= keepBuffer {
		w.spare = batch
	}
	more := len(w.buf) > 0
	w.mu.Unlock()
	if more {
		w.signal() // frames queued during the write, whose wake-up may have been spent
	}
	return nil
}

// run writes queued frames until shutdown or a write error, which it
// returns. It runs on the connection's writer goroutine.
func (w *frameWriter) run() error {
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return errWriterStopped
		}
		// Let goroutines that are about to queue frames do so, so that
		// one write carries them all.
		runtime.Gosched()
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if batch := w.take(); batch != nil {
			if err := w.write(batch); err != nil {
				return err
			}
		}
	}
}

// fail makes later enqueues fail with err and drops queued frames.
func (w *frameWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.buf = nil
	w.mu.Unlock()
}

// shutdown stops the writer: queued frames are dropped, later enqueues
// fail, waiting enqueuers return. Safe to call more than once.
func (w *frameWriter) shutdown() {
	w.mu.Lock()
	if w.err == nil {
		w.err = errWriterStopped
	}
	w.buf = nil
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.mu.Unlock()
}
