// Package watch fans a node's change stream out to its watchers: a hub
// goroutine takes the events the node publishes, keeps a bounded history
// for resuming (?since), and queues each event for every subscription
// whose prefix it falls under. Publishing never blocks the writer, and
// every queue is bounded in events and bytes: a watcher that does not keep
// up is ended (ErrTooSlow) and its queue dropped, never left to grow.
//
// A Reset event means changes may have been missed (a new leader, a gap in
// the stream, a write whose outcome is unknown): the watcher should re-read
// what it mirrors.
package watch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Why a subscription ended, or could not start.
var (
	// ErrTooSlow ends a subscription whose queue filled up: the watcher
	// did not keep up with the changes.
	ErrTooSlow = errors.New("watcher fell behind")
	// ErrTooManyWatchers refuses a subscription past the cap. It is a
	// wire.ErrUnavailable (503, retry later) with its own message.
	ErrTooManyWatchers error = &capError{}
	// ErrStopped ends subscriptions when the node stops.
	ErrStopped = errors.New("node stopping")
	// ErrUnwatched ends a subscription its watcher ended (Unsubscribe).
	ErrUnwatched = errors.New("watch ended")
)

// capError is ErrTooManyWatchers: unavailable, saying why.
type capError struct{}

func (*capError) Error() string { return "too many watchers on this node: retry later" }
func (*capError) Unwrap() error { return wire.ErrUnavailable }

// Bounds of the queue between publishers and the hub goroutine, which a
// burst of writes fills while the hub is starved of CPU. Past either, the
// queue is replaced by a single Reset.
const (
	maxPendingEvents = 100_000
	maxPendingBytes  = 64 << 20
)

// Hub fans the change stream out to subscriptions. Publish, Subscribe and
// Unsubscribe may be called from any goroutine and never block; Run is the
// one goroutine that delivers.
type Hub struct {
	cfg Config

	mu           sync.Mutex // guards the queues below
	pending      []wire.Event
	pendingBytes int
	joins        []*Subscription
	leaves       []*Subscription
	wake         chan struct{}

	subs    map[*Subscription]bool // owned by the Run goroutine
	history history                // owned by the Run goroutine
	count   atomic.Int64           // live subscriptions
	dropped atomic.Int64           // subscriptions ended for falling behind
}

// NewHub returns a hub sized by cfg; zero or negative fields take their
// defaults. Run must run for events to be delivered.
func NewHub(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{cfg: cfg, wake: make(chan struct{}, 1), subs: map[*Subscription]bool{},
		history: history{maxEvents: cfg.HistoryEvents, maxBytes: cfg.HistoryBytes}}
}

func (h *Hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Publish queues events for delivery, in order, without blocking.
func (h *Hub) Publish(evs ...wire.Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	h.pending = append(h.pending, evs...)
	for _, e := range evs {
		h.pendingBytes += EventBytes(e)
	}
	if len(h.pending) > max(h.cfg.HistoryEvents, maxPendingEvents) || h.pendingBytes > max(h.cfg.HistoryBytes, maxPendingBytes) {
		clear(h.pending)
		h.pending = append(h.pending[:0], wire.Event{Reset: true})
		h.pendingBytes = EventBytes(h.pending[0])
	}
	h.mu.Unlock()
	h.signal()
}

// Subscribe starts a feed of the changes under prefix. With since (the
// version of the last event the watcher saw), the history after it is
// replayed first, or a Reset is sent when the history no longer holds it
// or holds more than one queue's worth after it. Past MaxWatchers it
// returns ErrTooManyWatchers.
func (h *Hub) Subscribe(prefix string, since *store.Version) (*Subscription, error) {
	if h.count.Add(1) > int64(h.cfg.MaxWatchers) {
		h.count.Add(-1)
		return nil, ErrTooManyWatchers
	}
	s := newSubscription(prefix, since)
	h.mu.Lock()
	h.joins = append(h.joins, s)
	h.mu.Unlock()
	h.signal()
	return s, nil
}

// Unsubscribe ends a feed (ErrUnwatched) and drops its queue. Its place
// under the cap is free on return, so a client may watch again at once.
// Safe to call more than once.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.free(s)
	s.end(ErrUnwatched)
	h.mu.Lock()
	h.leaves = append(h.leaves, s)
	h.mu.Unlock()
	h.signal()
}

// Stats returns the number of live subscriptions and how many were ended
// for falling behind.
func (h *Hub) Stats() (live, dropped int64) { return h.count.Load(), h.dropped.Load() }

// Run delivers events until ctx ends, then ends every subscription with
// ErrStopped.
func (h *Hub) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			joins := h.joins
			h.joins, h.pending, h.pendingBytes = nil, nil, 0
			h.mu.Unlock()
			for _, s := range joins {
				h.subs[s] = true
			}
			for s := range h.subs {
				h.end(s, ErrStopped)
			}
			return
		case <-h.wake:
		}
		h.mu.Lock()
		evs, joins, leaves := h.pending, h.joins, h.leaves
		h.pending, h.pendingBytes, h.joins, h.leaves = nil, 0, nil, nil
		h.mu.Unlock()
		for _, s := range joins {
			h.join(s)
		}
		for _, s := range leaves {
			delete(h.subs, s)
		}
		for _, e := range evs {
			h.history.add(e)
			for s := range h.subs {
				if e.Reset || strings.HasPrefix(e.Key, s.prefix) {
					h.deliver(s, e)
				}
			}
		}
	}
}

// join registers a subscription, replaying history after its since.
func (h *Hub) join(s *Subscription) {
	if s.Ended() { // unsubscribed before the hub saw it
		return
	}
	h.subs[s] = true
	if s.since == nil {
		return
	}
	reset := wire.Event{Reset: true}
	replay, ok := h.history.after(*s.since, s.prefix, h.cfg.Buffer-1, h.cfg.BufferBytes-EventBytes(reset))
	if !ok {
		h.deliver(s, reset)
		return
	}
	for _, e := range replay {
		h.deliver(s, e)
	}
}

// deliver queues e for s, or ends s as too slow if it does not fit.
func (h *Hub) deliver(s *Subscription, e wire.Event) {
	if !s.push(e, h.cfg.Buffer, h.cfg.BufferBytes) {
		if h.end(s, ErrTooSlow) {
			h.dropped.Add(1)
		}
	}
}

// end ends a subscription with its reason and forgets it; it reports
// whether this call ended it.
func (h *Hub) end(s *Subscription, err error) bool {
	delete(h.subs, s)
	ended := s.end(err)
	h.free(s)
	return ended
}

// free gives back s's place under the cap, once.
func (h *Hub) free(s *Subscription) {
	if s.freed.CompareAndSwap(false, true) {
		h.count.Add(-1)
	}
}
