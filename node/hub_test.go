package node

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestUnwatchFreesItsPlaceAtOnce fills the watcher cap, ends the watch and
// watches again before the hub goroutine has run: the place must be free
// already. Once the hub has closed the old feed, the count must not drop a
// second time.
func TestUnwatchFreesItsPlaceAtOnce(t *testing.T) {
	h := newHub(WatchConfig{MaxWatchers: 1, Buffer: 4, HistoryEvents: 10, HistoryBytes: 1 << 10})
	first, err := h.subscribe("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe("", nil); !errors.Is(err, ErrTooManyWatchers) {
		t.Fatalf("past the cap: %v, want %v", err, ErrTooManyWatchers)
	}
	h.unsubscribe(first)
	second, err := h.subscribe("", nil)
	if err != nil {
		t.Fatalf("watching again right after an unwatch: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.run(ctx)
	}()
	defer func() { cancel(); <-done }()
	select {
	case _, open := <-first.C:
		if open {
			t.Fatal("the ended feed delivered an event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hub never closed the ended feed")
	}
	if n := h.count.Load(); n != 1 {
		t.Fatalf("%d watchers counted with one live, want 1", n)
	}
	h.unsubscribe(second)
	h.unsubscribe(second)
	if n := h.count.Load(); n != 0 {
		t.Fatalf("%d watchers counted after unwatching twice, want 0", n)
	}
}
