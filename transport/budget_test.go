package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// TestFrameBudgetBoundsStalledLargeFrames opens many connections that each
// claim a large frame, send part of its body and stall: what they hold
// together stays within the transport's frame budget, because the
// connections whose frames would go over it are closed; the others stay
// open, and once they are gone the budget is free again.
func TestFrameBudgetBoundsStalledLargeFrames(t *testing.T) {
	cfg := testTCPConfig(fixedStamp(1, 1), nil)
	cfg.MaxFrame = 1 << 20
	cfg.FrameBudget = 2 << 20
	tr, err := ListenTCP("127.0.0.1:0", cfg, HandlerFunc(func(context.Context, Envelope) (wire.Message, error) {
		return &wire.OK{}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const conns = 12
	part := make([]byte, 600<<10) // more than half of a frame: two fit in the budget, not four
	head := wire.AppendFrame(nil, wire.Header{Type: wire.TypeReplicate, ID: 1, From: 9, Term: 1}, nil)
	binary.BigEndian.PutUint32(head, uint32(cfg.MaxFrame)) // claims the largest frame
	var open []net.Conn
	refused := 0 // closed by the node while still being written
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", tr.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(append(head, part...)); err != nil {
			if !isReset(err) {
				t.Fatal(err)
			}
			refused++
			c.Close()
			continue
		}
		open = append(open, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tr.frames.Used() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a counter other goroutines move
	}
	closed := refused
	for _, c := range open {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// still open: its frame is within the budget
		case errors.Is(err, io.EOF) || isReset(err):
			closed++
		default:
			t.Fatalf("reading a stalled connection: %v", err)
		}
	}
	if used := tr.frames.Used(); used > cfg.FrameBudget || used == 0 {
		t.Fatalf("partly read frames hold %d bytes, budget %d", used, cfg.FrameBudget)
	}
	if closed < conns-3 || closed == conns {
		t.Fatalf("%d of %d stalled connections closed; want all but the two or three the budget holds", closed, conns)
	}
	for _, c := range open {
		c.Close()
	}
	open = nil
	deadline = time.Now().Add(10 * time.Second)
	for tr.frames.Used() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if used := tr.frames.Used(); used != 0 {
		t.Fatalf("%d bytes still charged after every connection closed", used)
	}
}

// isReset reports a connection the other side closed with data unread.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
