package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Watching. The leader numbers every change it acknowledges and streams it
// to every node (events.go); each node keeps a bounded history and fans
// the stream out to its local subscribers here. A Reset event means changes
// may have been missed (a new leader, a gap in the stream, a write whose
// outcome is unknown): the watcher should re-read what it mirrors.

// Watch errors: why a subscription ended, or could not start.
var (
	// ErrWatcherTooSlow ends a subscription whose buffer filled up: the
	// watcher did not keep up with the changes.
	ErrWatcherTooSlow = errors.New("watcher fell behind")
	// ErrTooManyWatchers refuses a subscription past the node's cap.
	ErrTooManyWatchers = fmt.Errorf("%w: too many watchers on this node", wire.ErrUnavailable)
	// ErrWatchStopped ends subscriptions when the node stops.
	ErrWatchStopped = errors.New("node stopping")
)

// WatchConfig sizes the watch machinery.
type WatchConfig struct {
	// MaxWatchers caps subscriptions per node.
	MaxWatchers int
	// Buffer is each subscription's queue length.
	Buffer int
	// HistoryEvents and HistoryBytes bound the history kept for ?since.
	HistoryEvents int
	HistoryBytes  int
}

// DefaultWatchConfig returns the defaults: 1,000 watchers, 1,024 queued
// events each, and a history of 10,000 events or 8 MiB.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{MaxWatchers: 1000, Buffer: 1024, HistoryEvents: 10_000, HistoryBytes: 8 << 20}
}

// Subscription is one watcher's feed.
type Subscription struct {
	// C delivers events; it is closed when the subscription ends.
	C <-chan wire.Event

	ch     chan wire.Event
	prefix string
	since  *store.Version
	err    error       // why it ended; read after C is closed
	freed  atomic.Bool // its place under MaxWatchers was given back
}

// Err returns why the subscription ended (valid once C is closed).
func (s *Subscription) Err() error { return s.err }

// hub fans the change stream out to subscribers. Publishing never blocks:
// events queue under a mutex and one goroutine delivers them.
type hub struct {
	cfg WatchConfig

	mu      sync.Mutex
	pending []wire.Event
	joins   []*Subscription
	leaves  []*Subscription
	wake    chan struct{}

	subs    map[*Subscription]bool // owned by the hub goroutine
	history history                // owned by the hub goroutine
	count   atomic.Int64           // live subscriptions
	dropped atomic.Int64           // subscriptions ended for falling behind
}

func newHub(cfg WatchConfig) *hub {
	return &hub{cfg: cfg, wake: make(chan struct{}, 1), subs: map[*Subscription]bool{},
		history: history{maxEvents: cfg.HistoryEvents, maxBytes: cfg.HistoryBytes}}
}

func (h *hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// maxPendingEvents bounds the events queued for the hub goroutine (at least
// the history bound): a burst of writes while it is starved of CPU must not
// reset every watcher.
const maxPendingEvents = 100_000

// publish queues events for delivery, in order, without blocking. A queue
// grown past its bound is replaced by a single Reset.
func (h *hub) publish(evs ...wire.Event) {
	h.mu.Lock()
	h.pending = append(h.pending, evs...)
	if len(h.pending) > max(h.cfg.HistoryEvents, maxPendingEvents) {
		h.pending = append(h.pending[:0], wire.Event{Reset: true})
	}
	h.mu.Unlock()
	h.signal()
}

// subscribe starts a feed of changes under prefix. With since, it first
// replays the history after that version, or sends a Reset when the
// history no longer holds it.
func (h *hub) subscribe(prefix string, since *store.Version) (*Subscription, error) {
	if h.count.Add(1) > int64(h.cfg.MaxWatchers) {
		h.count.Add(-1)
		return nil, ErrTooManyWatchers
	}
	ch := make(chan wire.Event, h.cfg.Buffer)
	s := &Subscription{C: ch, ch: ch, prefix: prefix, since: since}
	h.mu.Lock()
	h.joins = append(h.joins, s)
	h.mu.Unlock()
	h.signal()
	return s, nil
}

// unsubscribe ends a feed. Its place under the cap is free on return, so a
// client may watch again at once; the hub goroutine closes it later.
func (h *hub) unsubscribe(s *Subscription) {
	h.free(s)
	h.mu.Lock()
	h.leaves = append(h.leaves, s)
	h.mu.Unlock()
	h.signal()
}

// run delivers events until ctx ends, then ends every subscription.
func (h *hub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			joins := h.joins
			h.joins = nil
			h.mu.Unlock()
			for _, s := range joins {
				h.subs[s] = true
			}
			for s := range h.subs {
				h.end(s, ErrWatchStopped)
			}
			return
		case <-h.wake:
		}
		h.mu.Lock()
		evs, joins, leaves := h.pending, h.joins, h.leaves
		h.pending, h.joins, h.leaves = nil, nil, nil
		h.mu.Unlock()
		for _, s := range joins {
			h.join(s)
		}
		for _, s := range leaves {
			h.end(s, nil)
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
func (h *hub) join(s *Subscription) {
	h.subs[s] = true
	if s.since == nil {
		return
	}
	replay, ok := h.history.after(*s.since, s.prefix, cap(s.ch)-1)
	if !ok {
		h.deliver(s, wire.Event{Reset: true})
		return
	}
	for _, e := range replay {
		h.deliver(s, e)
	}
}

// deliver sends e to s, or ends s if its buffer is full.
func (h *hub) deliver(s *Subscription, e wire.Event) {
	select {
	case s.ch <- e:
	default:
		h.dropped.Add(1)
		h.end(s, ErrWatcherTooSlow)
	}
}

// end closes a subscription with its reason.
func (h *hub) end(s *Subscription, err error) {
	if !h.subs[s] {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.ch)
	h.free(s)
}

// free gives back s's place under the cap, once.
func (h *hub) free(s *Subscription) {
	if s.freed.CompareAndSwap(false, true) {
		h.count.Add(-1)
	}
}

// history is a bounded log of recent events, for resuming with ?since: a
// ring buffer that forgets its oldest events past either bound.
type history struct {
	maxEvents, maxBytes int
	ring                []wire.Event
	start, n            int // the oldest event's index in ring, and the count
	bytes               int
}

func eventBytes(e wire.Event) int { return len(e.Key) + len(e.Value) + 32 }

// at returns the i-th oldest event.
func (hs *history) at(i int) wire.Event { return hs.ring[(hs.start+i)%len(hs.ring)] }

func (hs *history) add(e wire.Event) {
	if hs.maxEvents < 1 {
		return
	}
	if hs.ring == nil {
		hs.ring = make([]wire.Event, min(hs.maxEvents, 1024))
	}
	if hs.n == len(hs.ring) && len(hs.ring) < hs.maxEvents {
		grown := make([]wire.Event, min(2*len(hs.ring), hs.maxEvents))
		for i := range hs.n {
			grown[i] = hs.at(i)
		}
		hs.ring, hs.start = grown, 0
	}
	for hs.n > 0 && (hs.n == len(hs.ring) || hs.bytes+eventBytes(e) > hs.maxBytes) {
		hs.bytes -= eventBytes(hs.ring[hs.start])
		hs.ring[hs.start] = wire.Event{}
		hs.start = (hs.start + 1) % len(hs.ring)
		hs.n--
	}
	hs.ring[(hs.start+hs.n)%len(hs.ring)] = e
	hs.n++
	hs.bytes += eventBytes(e)
}

// after returns the events under prefix that follow the event with version
// v (Resets included), at most limit of them; ok is false when the history
// no longer holds v or more than limit events follow.
func (hs *history) after(v store.Version, prefix string, limit int) ([]wire.Event, bool) {
	for i := hs.n - 1; i >= 0; i-- {
		if e := hs.at(i); e.Reset || e.Version != v {
			continue
		}
		var out []wire.Event
		for j := i + 1; j < hs.n; j++ {
			if e := hs.at(j); e.Reset || strings.HasPrefix(e.Key, prefix) {
				if len(out) == limit {
					return nil, false
				}
				out = append(out, e)
			}
		}
		return out, true
	}
	return nil, false
}

// Watch subscribes to the changes under prefix, in version order per key.
// With since (the version of the last event the watcher saw), changes after
// it are replayed from this node's history first, or a Reset is sent when
// the history no longer holds it. Cancel with Unwatch.
func (n *Node) Watch(prefix string, since *store.Version) (*Subscription, error) {
	return n.hub.subscribe(prefix, since)
}

// Unwatch ends a subscription.
func (n *Node) Unwatch(s *Subscription) { n.hub.unsubscribe(s) }

// Watchers returns the number of live subscriptions and how many were ended
// for falling behind.
func (n *Node) Watchers() (live, dropped int64) { return n.hub.count.Load(), n.hub.dropped.Load() }
