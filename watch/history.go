package watch

import (
	"strings"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// eventOverhead is what an event costs beyond its key and value: the
// Event struct and its share of the slices that hold it.
const eventOverhead = 64

// EventBytes is what e counts against the byte bounds of a subscriber's
// queue and of the history.
func EventBytes(e wire.Event) int { return len(e.Key) + len(e.Value) + eventOverhead }

// history is a bounded log of recent events, for resuming with ?since: a
// ring buffer that forgets its oldest events past either bound. Owned by
// the hub goroutine.
type history struct {
	maxEvents, maxBytes int
	ring                []wire.Event
	start, n            int // the oldest event's index in ring, and the count
	bytes               int
}

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
	for hs.n > 0 && (hs.n == len(hs.ring) || hs.bytes+EventBytes(e) > hs.maxBytes) {
		hs.bytes -= EventBytes(hs.ring[hs.start])
		hs.ring[hs.start] = wire.Event{}
		hs.start = (hs.start + 1) % len(hs.ring)
		hs.n--
	}
	hs.ring[(hs.start+hs.n)%len(hs.ring)] = e
	hs.n++
	hs.bytes += EventBytes(e)
}

// after returns the events under prefix that follow the event with version
// v (Resets included), at most maxEvents of them and maxBytes in all; ok is
// false when the history no longer holds v or more than that follows.
func (hs *history) after(v store.Version, prefix string, maxEvents, maxBytes int) ([]wire.Event, bool) {
	for i := hs.n - 1; i >= 0; i-- {
		if e := hs.at(i); e.Reset || e.Version != v {
			continue
		}
		var out []wire.Event
		size := 0
		for j := i + 1; j < hs.n; j++ {
			if e := hs.at(j); e.Reset || strings.HasPrefix(e.Key, prefix) {
				size += EventBytes(e)
				if len(out) == maxEvents || size > maxBytes {
					return nil, false
				}
				out = append(out, e)
			}
		}
		return out, true
	}
	return nil, false
}
