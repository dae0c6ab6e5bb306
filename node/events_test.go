package node

import (
	"testing"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// TestStreamQueueBoundedByBytes queues large events for a member that does
// not take them: past streamQueueBytes the queue is dropped (the member is
// told to reset) instead of growing with the values.
func TestStreamQueueBoundedByBytes(t *testing.T) {
	s := &eventSender{wake: make(chan struct{}, 1)}
	value := make([]byte, 1<<20)
	for i := range 40 {
		s.push(uint64(i+1), wire.Event{Key: "k", Value: value, Version: store.Version{Term: 1, Seq: uint64(i + 1)}})
		if s.bytes > streamQueueBytes {
			t.Fatalf("after %d events of 1 MiB, %d bytes queued, past the bound %d", i+1, s.bytes, streamQueueBytes)
		}
	}
	if !s.gap || len(s.queue) >= 40 {
		t.Fatalf("40 MiB queued for a member that took nothing: %d events, gap %v", len(s.queue), s.gap)
	}
}
