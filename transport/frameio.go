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

// frameWriter is a connection's single writer. Any goroutine enqueues
// frames into a shared buffer; the run goroutine takes everything queued
// and writes it with one Write call (many frames per syscall), under a
// write deadline.
type frameWriter struct {
	nc      net.Conn
	timeout time.Duration
	limit   int // queued bytes beyond which enqueue waits

	mu      sync.Mutex
	buf     []byte
	err     error         // non-nil once the writer stopped; enqueue then fails
	waiting int           // enqueuers waiting for room
	room    chan struct{} // closed (and replaced) when the writer takes a batch
	wake    chan struct{} // capacity 1: frames are queued
	stop    chan struct{} // closed by shutdown
	frames  uint64        // frames queued so far
	batches uint64        // writes so far
}

var errWriterStopped = errors.New("connection writer stopped")

func newFrameWriter(nc net.Conn, timeout time.Duration, limit int) *frameWriter {
	return &frameWriter{
		nc:      nc,
		timeout: timeout,
		limit:   limit,
		room:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
}

// enqueue appends a frame for the run goroutine to write. A nil result means
// the frame is queued (and will be written unless the connection breaks); an
// error means it was not queued and so surely not sent. It blocks only while
// more than limit bytes are queued, until room frees, ctx ends or the writer
// stops.
func (w *frameWriter) enqueue(ctx context.Context, h wire.Header, body []byte) error {
	w.mu.Lock()
	for w.err == nil && len(w.buf) > 0 && len(w.buf)+wire.HeaderLen+4+len(body) > w.limit {
		room := w.room
		w.waiting++
		w.mu.Unlock()
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
			return err
		}
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	first := len(w.buf) == 0
	w.buf = wire.AppendFrame(w.buf, h, body)
	w.frames++
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// run writes queued frames until shutdown or a write error, which it
// returns. It runs on the connection's writer goroutine.
func (w *frameWriter) run() error {
	var spare []byte
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
		batch := w.buf
		w.buf = spare[:0]
		if len(batch) > 0 {
			w.batches++
		}
		if w.waiting > 0 {
			close(w.room)
			w.room = make(chan struct{})
		}
		w.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			w.fail(err)
			return err
		}
		if _, err := w.nc.Write(batch); err != nil {
			w.fail(err)
			return err
		}
		if cap(batch) > keepBuffer {
			batch = nil
		}
		spare = batch
	}
}

// counts returns how many frames were queued and how many writes made.
func (w *frameWriter) counts() (frames, batches uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames, w.batches
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
