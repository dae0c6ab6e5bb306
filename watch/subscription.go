package watch

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Subscription is one watcher's feed: a queue the hub fills and one
// consumer empties. The queue is bounded in events and in bytes
// (Config.Buffer, Config.BufferBytes); a consumer that lets it fill past
// either is ended with ErrTooSlow and its queue is dropped at once, so a
// stalled watcher holds no more than that.
//
// One goroutine consumes: it waits on Ready and calls Take, or calls Next,
// or ranges over All. Err may be called from any goroutine.
type Subscription struct {
	prefix string
	since  *store.Version
	ready  chan struct{} // capacity 1: events were queued, or the feed ended
	freed  atomic.Bool   // its place under MaxWatchers was given back

	mu    sync.Mutex // guards the fields below
	queue []wire.Event
	bytes int   // EventBytes of queue
	ended bool  // no event will be queued again
	err   error // why it ended

	pending []wire.Event // owned by the consumer: taken but not yet returned by Next
}

func newSubscription(prefix string, since *store.Version) *Subscription {
	return &Subscription{prefix: prefix, since: since, ready: make(chan struct{}, 1)}
}

// Prefix returns the key prefix the subscription watches.
func (s *Subscription) Prefix() string { return s.prefix }

// Ready returns a channel that receives once events are queued or the
// feed has ended: call Take then.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the queued events, oldest first, and empties the queue.
// open is false once the feed has ended (Err says why); the events still
// queued when it ended are dropped, not returned.
func (s *Subscription) Take() (evs []wire.Event, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, s.queue, s.bytes = s.queue, nil, 0
	return evs, !s.ended
}

// Ended reports whether the feed has ended.
func (s *Subscription) Ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// Err returns why the feed ended: ErrTooSlow, ErrStopped or ErrUnwatched;
// nil while it runs.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Next returns the next event, waiting for one until ctx ends. Once the
// feed has ended it returns Err (or ctx's error).
func (s *Subscription) Next(ctx context.Context) (wire.Event, error) {
	for len(s.pending) == 0 {
		evs, open := s.Take()
		if !open {
			return wire.Event{}, s.Err()
		}
		if len(evs) > 0 {
			s.pending = evs
			break
		}
		select {
		case <-ctx.Done():
			return wire.Event{}, ctx.Err()
		case <-s.ready:
		}
	}
	e := s.pending[0]
	s.pending[0] = wire.Event{}
	s.pending = s.pending[1:]
	return e, nil
}

// All yields the events until the feed ends.
func (s *Subscription) All() iter.Seq[wire.Event] {
	return func(yield func(wire.Event) bool) {
		for {
			e, err := s.Next(context.Background())
			if err != nil || !yield(e) {
				return
			}
		}
	}
}

// signal wakes the consumer without blocking.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// push queues e, or ends the feed as too slow when e does not fit within
// the bounds. It reports whether e was queued.
func (s *Subscription) push(e wire.Event, maxEvents, maxBytes int) bool {
	n := EventBytes(e)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= maxEvents || (len(s.queue) > 0 && s.bytes+n > maxBytes) {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, e)
	s.bytes += n
	s.mu.Unlock()
	s.signal()
	return true
}

// end ends the feed with err, dropping its queue so its memory is freed
// even if the consumer never calls Take again. It reports whether this
// call ended it.
func (s *Subscription) end(err error) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.ended, s.err = true, err
	s.queue, s.bytes = nil, 0
	s.mu.Unlock()
	s.signal()
	return true
}

// queued returns the events and bytes queued (for tests).
func (s *Subscription) queued() (events, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue), s.bytes
}
