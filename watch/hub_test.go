package watch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// runHub runs h until the test ends.
func runHub(t *testing.T, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitEnded waits until s has ended, failing after 10s.
func waitEnded(t *testing.T, s *Subscription) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !s.Ended() {
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatal("the subscription never ended")
		}
	}
}

// TestUnwatchFreesItsPlaceAtOnce fills the watcher cap, ends the watch and
// watches again before the hub goroutine has run: the place must be free
// already. Once the hub has run, the count must not drop a second time.
func TestUnwatchFreesItsPlaceAtOnce(t *testing.T) {
	h := NewHub(Config{MaxWatchers: 1, Buffer: 4, HistoryEvents: 10, HistoryBytes: 1 << 10})
	first, err := h.Subscribe("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe("", nil); !errors.Is(err, ErrTooManyWatchers) {
		t.Fatalf("past the cap: %v, want %v", err, ErrTooManyWatchers)
	}
	h.Unsubscribe(first)
	second, err := h.Subscribe("", nil)
	if err != nil {
		t.Fatalf("watching again right after an unwatch: %v", err)
	}
	runHub(t, h)
	h.Publish(ev(1))
	if e, err := second.Next(ctxTimeout(t)); err != nil || e.Key != "k1" {
		t.Fatalf("the second watch got %v, %v", e, err)
	}
	if evs, open := first.Take(); open || len(evs) != 0 || !errors.Is(first.Err(), ErrUnwatched) {
		t.Fatalf("the ended feed: %v open %v err %v", evs, open, first.Err())
	}
	if n, _ := h.Stats(); n != 1 {
		t.Fatalf("%d watchers counted with one live, want 1", n)
	}
	h.Unsubscribe(second)
	h.Unsubscribe(second)
	if n, _ := h.Stats(); n != 0 {
		t.Fatalf("%d watchers counted after unwatching twice, want 0", n)
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCapMessageSaysWhy checks the refusal past the cap is a 503-class
// error whose words are about watchers, not replicas.
func TestCapMessageSaysWhy(t *testing.T) {
	if !errors.Is(ErrTooManyWatchers, wire.ErrUnavailable) {
		t.Fatal("ErrTooManyWatchers should be a wire.ErrUnavailable (503, retry later)")
	}
	if msg := ErrTooManyWatchers.Error(); !strings.Contains(msg, "too many watchers") || strings.Contains(msg, "replicas") {
		t.Fatalf("cap message %q: want it to name watchers and not replicas", msg)
	}
}

// TestQueueIsBoundedInBytes publishes large events to a subscriber that
// never takes them: its queue never holds more than BufferBytes, it is
// ended as too slow with its queue dropped, and a subscriber that keeps
// up receives everything.
func TestQueueIsBoundedInBytes(t *testing.T) {
	const value = 100 << 10
	h := NewHub(Config{MaxWatchers: 4, Buffer: 10_000, BufferBytes: 1 << 20, HistoryEvents: 10, HistoryBytes: 1 << 20})
	stuck, _ := h.Subscribe("", nil)
	reader, _ := h.Subscribe("", nil)
	runHub(t, h)
	big := make([]byte, value)
	for i := uint64(1); i <= 50; i++ {
		h.Publish(wire.Event{Key: "k", Value: big, Version: store.Version{Term: 1, Seq: i}})
		if n, b := stuck.queued(); b > 1<<20 {
			t.Fatalf("after %d events the stuck queue holds %d events, %d bytes: over the 1 MiB bound", i, n, b)
		}
		e, err := reader.Next(ctxTimeout(t))
		if err != nil || e.Version.Seq != i {
			t.Fatalf("reader at %d: %v %v", i, e.Version, err)
		}
	}
	waitEnded(t, stuck)
	if !errors.Is(stuck.Err(), ErrTooSlow) {
		t.Fatalf("stuck ended with %v, want ErrTooSlow", stuck.Err())
	}
	if n, b := stuck.queued(); n != 0 || b != 0 {
		t.Fatalf("a dropped subscriber still holds %d events, %d bytes", n, b)
	}
	if evs, open := stuck.Take(); open || evs != nil {
		t.Fatalf("Take on a dropped subscriber: %d events, open %v", len(evs), open)
	}
	if live, dropped := h.Stats(); live != 1 || dropped != 1 {
		t.Fatalf("live %d dropped %d, want 1 and 1", live, dropped)
	}
}

// TestOneHugeEventStillDelivered checks an event over BufferBytes by
// itself reaches a subscriber whose queue is empty.
func TestOneHugeEventStillDelivered(t *testing.T) {
	h := NewHub(Config{BufferBytes: 1 << 10})
	s, _ := h.Subscribe("", nil)
	runHub(t, h)
	h.Publish(wire.Event{Key: "k", Value: make([]byte, 4<<10), Version: store.Version{Term: 1, Seq: 1}})
	if e, err := s.Next(ctxTimeout(t)); err != nil || len(e.Value) != 4<<10 {
		t.Fatalf("got %d bytes, %v", len(e.Value), err)
	}
}

// TestResumeTooLargeForTheQueueResets checks that resuming from a version
// followed by more bytes than one queue holds sends a Reset instead of
// ending the new subscriber as too slow.
func TestResumeTooLargeForTheQueueResets(t *testing.T) {
	h := NewHub(Config{BufferBytes: 64 << 10, HistoryBytes: 1 << 20})
	runHub(t, h)
	probe, _ := h.Subscribe("", nil)
	for i := uint64(1); i <= 8; i++ {
		h.Publish(wire.Event{Key: "k", Value: make([]byte, 16<<10), Version: store.Version{Term: 1, Seq: i}})
		if _, err := probe.Next(ctxTimeout(t)); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := h.Subscribe("", &store.Version{Term: 1, Seq: 1})
	if e, err := s.Next(ctxTimeout(t)); err != nil || !e.Reset {
		t.Fatalf("resuming 7×16 KiB back with a 64 KiB queue: %+v %v, want a Reset", e, err)
	}
	s2, _ := h.Subscribe("", &store.Version{Term: 1, Seq: 6})
	for want := uint64(7); want <= 8; want++ {
		if e, err := s2.Next(ctxTimeout(t)); err != nil || e.Version.Seq != want {
			t.Fatalf("resuming 2 back: %+v %v, want seq %d", e.Version, err, want)
		}
	}
}

// TestPendingIsBoundedInBytes publishes more bytes than the hub's inbox
// holds before the hub runs: the inbox is replaced by a Reset.
func TestPendingIsBoundedInBytes(t *testing.T) {
	h := NewHub(Config{BufferBytes: 128 << 20})
	s, _ := h.Subscribe("", nil)
	big := make([]byte, 1<<20)
	for i := uint64(1); i <= 100; i++ {
		h.Publish(wire.Event{Key: "k", Value: big, Version: store.Version{Term: 1, Seq: i}})
	}
	h.mu.Lock()
	pending, bytes := len(h.pending), h.pendingBytes
	h.mu.Unlock()
	if bytes > maxPendingBytes || pending > 64 {
		t.Fatalf("the inbox holds %d events, %d bytes after 100 MiB published", pending, bytes)
	}
	runHub(t, h)
	sawReset := false
	for {
		e, err := s.Next(ctxTimeout(t))
		if err != nil {
			t.Fatal(err)
		}
		if e.Reset {
			sawReset = true
		}
		if e.Version.Seq == 100 {
			break
		}
	}
	if !sawReset {
		t.Fatal("events were dropped from the inbox without a Reset")
	}
}

// TestStopEndsEverySubscription checks Run's end ends every feed.
func TestStopEndsEverySubscription(t *testing.T) {
	h := NewHub(Config{})
	a, _ := h.Subscribe("", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	b, _ := h.Subscribe("x", nil)
	cancel()
	<-done
	for _, s := range []*Subscription{a, b} {
		if !s.Ended() || !errors.Is(s.Err(), ErrStopped) {
			t.Fatalf("after Run ended: ended %v err %v", s.Ended(), s.Err())
		}
	}
	if live, _ := h.Stats(); live != 0 {
		t.Fatalf("%d live after stop", live)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	err := Config{BufferBytes: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "BufferBytes") {
		t.Fatalf("negative BufferBytes: %v", err)
	}
}
