package node

import (
	"context"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// The change stream. The leader numbers the changes it acknowledges within
// its term and sends them to every member in order, one sender goroutine
// per member, without ever making a write wait: a member that falls too far
// behind loses its queued events and is told to reset its watchers.

const (
	streamQueueMax   = 50_000   // events queued per member before dropping them
	streamQueueBytes = 16 << 20 // bytes of keys and values queued per member, likewise
	streamBatchMax   = 256      // events per Events message
	streamBatchBytes = 1 << 20  // bytes of keys and values per Events message
)

// leaderStream is the leader's side of the change stream for one term.
type leaderStream struct {
	term    uint64
	mu      sync.Mutex
	next    uint64
	senders map[shard.NodeID]*eventSender
}

// eventSender holds the events on their way to one member.
type eventSender struct {
	mu    sync.Mutex
	queue []wire.Event
	bytes int    // keys and values in queue
	first uint64 // stream number of queue[0]
	gap   bool   // events were dropped: the next batch says Reset
	wake  chan struct{}
	stop  context.CancelFunc
}

// publish numbers e and queues it for every member; it never blocks.
func (ls *leaderStream) publish(e wire.Event) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.next++
	seq := ls.next
	for _, s := range ls.senders {
		s.push(seq, e)
	}
}

func (s *eventSender) push(seq uint64, e wire.Event) {
	s.mu.Lock()
	size := len(e.Key) + len(e.Value)
	if len(s.queue) >= streamQueueMax || s.bytes+size > streamQueueBytes {
		// A member this far behind resets its watchers rather than
		// holding the leader's memory (values can be a megabyte each).
		s.queue, s.bytes, s.gap = nil, 0, true
	}
	s.bytes += size
	if len(s.queue) == 0 {
		s.first = seq
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startStreamLocked begins the change stream of a new term.
func (n *Node) startStreamLocked(term uint64) *leaderStream {
	ls := &leaderStream{term: term, senders: map[shard.NodeID]*eventSender{}}
	n.hub.publish(wire.Event{Reset: true}) // the old leader's tail may not have reached us
	return ls
}

// syncSendersLocked gives every member but this node a sender, and stops
// the senders of nodes that are no longer members.
func (n *Node) syncSendersLocked(ctx context.Context, ls *leaderStream, members []wire.Member) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	keep := map[shard.NodeID]bool{}
	for _, m := range members {
		if m.ID == n.cfg.ID {
			continue
		}
		keep[m.ID] = true
		if ls.senders[m.ID] != nil {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		s := &eventSender{wake: make(chan struct{}, 1), stop: cancel, first: ls.next + 1}
		ls.senders[m.ID] = s
		id := m.ID
		n.goRun(sctx, func(ctx context.Context) { n.sendEvents(ctx, ls.term, id, s) })
	}
	for id, s := range ls.senders {
		if !keep[id] {
			s.stop()
			delete(ls.senders, id)
		}
	}
}

// stopStream stops every sender of a stream.
func (ls *leaderStream) stopAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for id, s := range ls.senders {
		s.stop()
		delete(ls.senders, id)
	}
}

// sendEvents delivers one member's queue in order, batch by batch,
// retrying a batch until it is taken or the stream stops.
func (n *Node) sendEvents(ctx context.Context, term uint64, to shard.NodeID, s *eventSender) {
	for {
		s.mu.Lock()
		msg := &wire.Events{Term: term, First: s.first, Reset: s.gap}
		if len(s.queue) > 0 {
			msg.Events = make([]wire.Event, 0, min(len(s.queue), streamBatchMax))
		}
		size := 0
		for _, e := range s.queue {
			if len(msg.Events) == streamBatchMax || (len(msg.Events) > 0 && size > streamBatchBytes) {
				break
			}
			msg.Events = append(msg.Events, e)
			size += len(e.Key) + len(e.Value)
		}
		s.mu.Unlock()
		if len(msg.Events) == 0 && !msg.Reset {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		n.mu.Lock()
		addr := n.memberAddrLocked(to)
		n.mu.Unlock()
		_, err := n.call(ctx, addr, msg)
		if err != nil {
			if sleepUntil(ctx, time.Now().Add(n.cfg.Election.HeartbeatInterval)) != nil {
				return
			}
			continue
		}
		s.mu.Lock()
		if msg.Reset && s.first == msg.First {
			s.gap = false
		}
		// Drop what was delivered, unless the queue was dropped meanwhile.
		if sent := msg.First + uint64(len(msg.Events)); s.first == msg.First && len(s.queue) >= len(msg.Events) {
			for _, e := range s.queue[:len(msg.Events)] {
				s.bytes -= len(e.Key) + len(e.Value)
			}
			clear(s.queue[:len(msg.Events)]) // let the values go
			s.queue = s.queue[len(msg.Events):]
			s.first = sent
			if len(s.queue) == 0 {
				s.queue, s.bytes = nil, 0
			}
		}
		s.mu.Unlock()
	}
}

// onEvents takes the leader's change stream into this node's watch hub,
// resetting the watchers where it finds a gap.
func (n *Node) onEvents(from shard.NodeID, term uint64, m *wire.Events) (wire.Message, error) {
	n.mu.Lock()
	err := n.checkLeaderLocked(from, term)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	evs := m.Events
	reset := m.Reset
	if m.Term != n.streamTerm {
		reset = true
		n.streamTerm, n.streamNext = m.Term, m.First
	}
	switch {
	case m.First > n.streamNext:
		reset = true // a gap: some events never arrived
	case m.First < n.streamNext:
		skip := n.streamNext - m.First // a batch sent again: skip what we have
		if skip >= uint64(len(evs)) {
			evs = nil
		} else {
			evs = evs[skip:]
		}
	}
	if reset {
		n.hub.publish(wire.Event{Reset: true})
	}
	n.hub.publish(evs...)
	n.streamNext = max(n.streamNext, m.First) + uint64(len(evs))
	return &wire.OK{}, nil
}

// resetStream tells this node's watchers to re-read after a leader change
// (the old leader's last events may never arrive) and expects the new
// leader's stream for term from its start.
func (n *Node) resetStream(term uint64) {
	n.streamMu.Lock()
	n.streamTerm, n.streamNext = term, 1
	n.streamMu.Unlock()
	n.hub.publish(wire.Event{Reset: true})
}
