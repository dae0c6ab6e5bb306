package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// recordConn is a net.Conn that records each Write.
type recordConn struct {
	net.Conn // nil: only Write and SetWriteDeadline are used
	mu       sync.Mutex
	writes   [][]byte
}

func (c *recordConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	c.mu.Unlock()
	return len(b), nil
}

func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

func (c *recordConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

func TestFrameWriterCoalesces(t *testing.T) {
	rc := &recordConn{}
	w := newFrameWriter(rc, time.Second, 1<<20)
	const frames = 100
	for i := range frames {
		if err := w.enqueue(context.Background(), wire.Header{Type: wire.TypeOK, ID: uint64(i)}, []byte{0x80}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	waitFor(t, "the batch to be written", func() bool { return rc.count() > 0 })
	w.shutdown()
	if err := <-done; !errors.Is(err, errWriterStopped) {
		t.Fatalf("run: %v", err)
	}
	if n := rc.count(); n != 1 {
		t.Fatalf("%d writes for %d queued frames, want 1", n, frames)
	}
	r := bytes.NewReader(rc.writes[0])
	for i := range frames {
		h, _, err := wire.ReadFrame(r, wire.DefaultMaxFrame)
		if err != nil || h.ID != uint64(i) {
			t.Fatalf("frame %d: %+v, %v", i, h, err)
		}
	}
	if err := w.enqueue(context.Background(), wire.Header{Type: wire.TypeOK}, nil); err == nil {
		t.Fatal("enqueue after shutdown succeeded")
	}
}

func TestFrameWriterBackpressure(t *testing.T) {
	rc := &recordConn{}
	w := newFrameWriter(rc, time.Second, 1000)
	ctx := context.Background()
	if err := w.enqueue(ctx, wire.Header{Type: wire.TypeOK}, make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	// The queue is over its limit: the next frame waits for the writer.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.enqueue(short, wire.Header{Type: wire.TypeOK}, make([]byte, 900)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enqueue over the limit: %v, want to wait until its deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	if err := w.enqueue(ctx, wire.Header{Type: wire.TypeOK}, make([]byte, 900)); err != nil {
		t.Fatalf("enqueue once the writer runs: %v", err)
	}
	waitFor(t, "both frames to be written", func() bool { return rc.count() == 2 })
	w.shutdown()
	<-done
}

// blockConn is a recordConn whose writes wait for release while block is
// set, reporting on started that one began.
type blockConn struct {
	recordConn
	block   atomic.Bool
	started chan struct{}
	release chan struct{}
}

func (c *blockConn) Write(b []byte) (int, error) {
	if c.block.Load() {
		c.started <- struct{}{}
		<-c.release
	}
	return c.recordConn.Write(b)
}

// TestFrameWriterHeldFramesGoOutOnFlush checks that held frames wake no
// writer goroutine and leave in one write on the holder's flush, and that
// frames queued while a flush writes are written next by the writer.
func TestFrameWriterHeldFramesGoOutOnFlush(t *testing.T) {
	bc := &blockConn{started: make(chan struct{}, 1), release: make(chan struct{})}
	w := newFrameWriter(bc, time.Second, 1<<20)
	ctx := context.Background()
	for i := range 10 {
		if _, err := w.hold(ctx, wire.Header{Type: wire.TypeOK, ID: uint64(i)}, []byte{0x80}); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.wake) != 0 || bc.count() != 0 {
		t.Fatalf("held frames signalled the writer (%d) or were written (%d writes)", len(w.wake), bc.count())
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if n := bc.count(); n != 1 || len(bc.writes[0]) != 10*(wire.HeaderLen+4+1) {
		t.Fatalf("flush made %d writes (%v), want one of the 10 frames", n, bc.writes)
	}

	// A flush in progress: what is queued meanwhile goes out after it,
	// even if the writer spent its wake-up while the flush was writing.
	bc.block.Store(true)
	if _, err := w.hold(ctx, wire.Header{Type: wire.TypeOK, ID: 10}, nil); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- w.flush() }()
	<-bc.started
	bc.block.Store(false)
	if err := w.enqueue(ctx, wire.Header{Type: wire.TypeOK, ID: 11}, nil); err != nil {
		t.Fatal(err)
	}
	<-w.wake // as the writer would, finding a write in progress:
	if b := w.take(); b != nil {
		t.Fatalf("took %d bytes while a write was in progress", len(b))
	}
	close(bc.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if len(w.wake) != 1 {
		t.Fatal("a frame queued during the flush is left without a wake-up for the writer")
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	waitFor(t, "the frame queued during the flush to be written", func() bool { return bc.count() == 3 })
	w.shutdown()
	if err := <-done; !errors.Is(err, errWriterStopped) {
		t.Fatalf("run: %v", err)
	}
}

// TestFrameWriterHeldFramesOverTheLimit checks that a holder that runs out
// of room does not wait forever on frames only it would flush: the writer
// is woken and makes room.
func TestFrameWriterHeldFramesOverTheLimit(t *testing.T) {
	rc := &recordConn{}
	w := newFrameWriter(rc, time.Second, 1000)
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := w.hold(ctx, wire.Header{Type: wire.TypeOK, ID: uint64(i)}, make([]byte, 900)); err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the three frames to be written", func() bool { return rc.count() >= 2 && w.queued() == 0 })
	w.shutdown()
	<-done
}

// TestFrameWriterFlushError checks that a failed flush stops the writer:
// run returns the error and later frames are refused.
func TestFrameWriterFlushError(t *testing.T) {
	w := newFrameWriter(failConn{}, time.Second, 1<<20)
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	if _, err := w.hold(context.Background(), wire.Header{Type: wire.TypeOK}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); !errors.Is(err, errBroken) {
		t.Fatalf("flush: %v, want the write's error", err)
	}
	if err := <-done; !errors.Is(err, errBroken) {
		t.Fatalf("run: %v, want the flush's error", err)
	}
	if err := w.enqueue(context.Background(), wire.Header{Type: wire.TypeOK}, nil); err == nil {
		t.Fatal("enqueue after a failed write succeeded")
	}
}

var errBroken = errors.New("broken pipe (test)")

type failConn struct{ net.Conn }

func (failConn) Write([]byte) (int, error)        { return 0, errBroken }
func (failConn) SetWriteDeadline(time.Time) error { return nil }

// TestFrameWriterSlowPeerLeavesWritingToRun checks that after a slow write
// (the peer not keeping up) flush does not write on its caller, a reader
// that should go on reading, but wakes the run goroutine to.
func TestFrameWriterSlowPeerLeavesWritingToRun(t *testing.T) {
	rc := &recordConn{}
	w := newFrameWriter(rc, time.Second, 1<<20)
	w.slowAfter = 0 // every write counts as slow
	ctx := context.Background()
	if _, err := w.hold(ctx, wire.Header{Type: wire.TypeOK, ID: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil || rc.count() != 1 {
		t.Fatalf("first flush: %v, %d writes, want it written inline", err, rc.count())
	}
	if _, err := w.hold(ctx, wire.Header{Type: wire.TypeOK, ID: 2}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 1 || len(w.wake) != 1 {
		t.Fatalf("flush after a slow write: %d writes, %d wake-ups; want none inline and the writer woken", rc.count(), len(w.wake))
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()
	waitFor(t, "the writer to write the frame", func() bool { return rc.count() == 2 })
	w.shutdown()
	<-done
}

// queued returns the bytes queued and not yet being written.
func (w *frameWriter) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}
