package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
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
