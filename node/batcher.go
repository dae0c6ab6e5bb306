package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// Batching of peer messages. Messages of different keys that wait for the
// same peer at the same time (a pipeline's writes or reads, many
// clients') share one batch frame and one answer instead of paying a
// round trip, a frame and a handler each. Each message is still checked
// and served on the peer as it would be alone, and gets its own answer:
// batching changes what a message costs, not what it means. The leader's
// writes to a replica (replbatch.go) and a node's reads of a primary
// (readbatch.go) are batched so.
//
// There is no goroutine of its own: senders take turns. A sender whose
// message finds fewer than batchInflight batches on their way to the peer
// sends at once, taking the messages already waiting along; otherwise its
// message waits, and the sender whose batch comes back first hands the
// next turn, with every message that waits meanwhile, to the sender of the
// oldest.

// Limits of one batch.
const (
	batchInflight = 2                // batches on their way to one peer at once
	batchMaxItems = 256              // messages in one batch
	batchMaxBytes = 256 << 10        // their key and value bytes (batchable.BatchBytes)
	batchMinLeft  = time.Millisecond // a waiting message with less time left is not sent
)

// maxBatchItems bounds the messages of a batch a peer accepts (Decode's
// bound, checked again by the door; above batchMaxItems so that a later
// build may send more).
const maxBatchItems = wire.MaxBatchItems

// batchable is what a batcher carries: a pointer to a message M that
// tells how many bytes it adds to its batch.
type batchable[M any] interface {
	*M
	BatchBytes() int
}

// batchItem is one message waiting for, or carried by, a batch. The fields
// but msg and deadline are guarded by the batcher's mu until ready is
// signalled, and belong to the sender after.
type batchItem[M any] struct {
	msg      *M
	deadline time.Time       // zero: none
	err      error           // its outcome, set before ready is signalled
	ready    chan struct{}   // signalled once: the outcome is set, or it is this sender's turn
	turn     []*batchItem[M] // the batch this sender is to send (itself first), set with ready
	taken    bool            // it left the queue: into a batch, or failed there
}

// batchSend sends a batch to the peer and sets each message's err (and
// whatever answer its message holds).
type batchSend[M any] func(batch []*batchItem[M])

// batcher queues the messages for one peer. The zero batcher is ready.
// Safe for concurrent use.
type batcher[M any, P batchable[M]] struct {
	mu       sync.Mutex
	waiting  []*batchItem[M] // oldest first
	inflight int             // batches sent and not yet answered
	send     batchSend[M]    // sends a batch to this peer; immutable
}

// batchers holds a batcher per peer address, made on first use (a cluster
// has few members; an address that leaves keeps an empty batcher). Safe
// for concurrent use.
type batchers[M any, P batchable[M]] struct {
	send func(addr string, batch []*batchItem[M]) // immutable after New
	mu   sync.Mutex
	by   map[string]*batcher[M, P]
}

func (bs *batchers[M, P]) get(addr string) *batcher[M, P] {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.by[addr]
	if b == nil {
		if bs.by == nil {
			bs.by = map[string]*batcher[M, P]{}
		}
		b = &batcher[M, P]{send: func(batch []*batchItem[M]) { bs.send(addr, batch) }}
		bs.by[addr] = b
	}
	return b
}

func (b *batcher[M, P]) size(it *batchItem[M]) int { return P(it.msg).BatchBytes() }

// do sends msg to the peer, in a batch with other messages waiting for it
// at the same time, and returns its outcome, as a call of msg alone would
// (the wire sentinels), by ctx's deadline: a message still waiting then
// was surely not sent (wire.ErrUnreachable), one on its way may have been
// served (wire.ErrTimeout). Only a sender handed the turn just as its
// deadline passes sends its batch first, within the batch's own deadline.
func (b *batcher[M, P]) do(ctx context.Context, msg *M, send batchSend[M]) error {
	it := &batchItem[M]{msg: msg, ready: make(chan struct{}, 1)}
	it.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	if b.inflight < batchInflight {
		b.inflight++
		batch := b.takeLocked(it, time.Now())
		b.mu.Unlock()
		b.run(batch, send)
		return it.err
	}
	b.waiting = append(b.waiting, it)
	b.mu.Unlock()
	select {
	case <-it.ready:
	case <-ctx.Done():
		b.mu.Lock()
		taken, turn := it.taken, it.turn != nil
		if !taken {
			b.waiting = slices.DeleteFunc(b.waiting, func(w *batchItem[M]) bool { return w == it })
		}
		b.mu.Unlock()
		switch {
		case !taken:
			return fmt.Errorf("%w: the deadline passed while the message waited to be sent", wire.ErrUnreachable)
		case !turn:
			select {
			case <-it.ready: // its batch came back just now
				return it.err
			default:
				return fmt.Errorf("%w: the message's batch did not come back by its deadline", wire.ErrTimeout)
			}
		}
		<-it.ready // the turn, signalled right after it was set
	}
	if it.turn != nil {
		b.run(it.turn, send)
	}
	return it.err
}

// doMany sends msgs (at least one) to the peer, in batches with each
// other and with other messages waiting for it at the same time, and
// returns each one's outcome, as do would return it for each (a sender's
// messages taking one place in the queue each, in order). Unlike do it
// waits for every outcome rather than for ctx: a message still waiting
// when its deadline (ctx's) is near is failed by the next batch taken
// (takeLocked), and each batch on its way ends by its own deadline.
//
// Every message of msgs signals one shared channel once: when its outcome
// is set, or when it is handed the turn (whose batch this sender then
// sends); only the first message, when it goes out at once, does not.
func (b *batcher[M, P]) doMany(ctx context.Context, msgs []M, send batchSend[M]) []error {
	if len(msgs) == 0 {
		return nil
	}
	deadline, _ := ctx.Deadline()
	ready := make(chan struct{}, len(msgs))
	items := make([]batchItem[M], len(msgs))
	for i := range msgs {
		items[i] = batchItem[M]{msg: &msgs[i], deadline: deadline, ready: ready}
	}
	defer b.abandonOnPanic(items, send)
	signals := len(items)
	b.mu.Lock()
	now := b.inflight < batchInflight // the first message goes at once
	for i := range items {
		if i > 0 || !now {
			b.waiting = append(b.waiting, &items[i])
		}
	}
	var batch []*batchItem[M]
	if now {
		b.inflight++
		batch = b.takeLocked(&items[0], time.Now())
		signals--
	}
	b.mu.Unlock()
	if batch != nil {
		b.run(batch, send)
	}
	for ; signals > 0; signals-- {
		<-ready
		// The signal may be a turn: each message handed one sends its batch.
		for turn := b.takeTurn(items); turn != nil; turn = b.takeTurn(items) {
			b.run(turn, send)
		}
	}
	errs := make([]error, len(items))
	for i := range items {
		errs[i] = items[i].err
	}
	return errs
}

// takeTurn returns the batch handed to one of items, if any, taking it
// from the item (only turn is read: the other fields of an item in a
// batch on its way belong to its sender).
func (b *batcher[M, P]) takeTurn(items []batchItem[M]) []*batchItem[M] {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range items {
		if t := items[k].turn; t != nil {
			items[k].turn = nil
			return t
		}
	}
	return nil
}

// abandonOnPanic, deferred by doMany, lets a panicking sender leave the
// queue whole: its messages still waiting leave it, and a turn already
// handed to one of them is sent, so the messages of other senders in that
// batch, and the peer's place in flight, are not lost. The panic goes on.
func (b *batcher[M, P]) abandonOnPanic(items []batchItem[M], send batchSend[M]) {
	p := recover()
	if p == nil {
		return
	}
	b.mu.Lock()
	b.waiting = slices.DeleteFunc(b.waiting, func(w *batchItem[M]) bool {
		return len(items) > 0 && w.ready == items[0].ready
	})
	b.mu.Unlock()
	for turn := b.takeTurn(items); turn != nil; turn = b.takeTurn(items) {
		b.run(turn, send)
	}
	panic(p)
}

// takeLocked returns a batch: first (if not nil), then the oldest waiting
// messages, within the batch limits. A waiting message with less than
// batchMinLeft of its deadline left at now is failed, not sent.
func (b *batcher[M, P]) takeLocked(first *batchItem[M], now time.Time) []*batchItem[M] {
	var batch []*batchItem[M]
	size := 0
	if first != nil {
		first.taken = true
		batch = append(batch, first)
		size = b.size(first)
	}
	n := 0
	for n < len(b.waiting) && len(batch) < batchMaxItems {
		it := b.waiting[n]
		if !it.deadline.IsZero() && it.deadline.Sub(now) < batchMinLeft {
			it.taken = true
			it.err = fmt.Errorf("%w: the deadline passed while the message waited to be sent", wire.ErrUnreachable)
			it.ready <- struct{}{}
			n++
			continue
		}
		if len(batch) > 0 && size+b.size(it) > batchMaxBytes {
			break
		}
		it.taken = true
		size += b.size(it)
		batch = append(batch, it)
		n++
	}
	rest := copy(b.waiting, b.waiting[n:])
	clear(b.waiting[rest:])
	b.waiting = b.waiting[:rest]
	return batch
}

// run sends batch (whose first message is the caller's), tells the other
// messages their outcome, and hands the turn on: to the sender of the
// oldest message still waiting, with the batch it is to send. It does the
// telling and handing on even if send panics (which then goes on): a
// batch that never ended would hold every later message to the peer.
func (b *batcher[M, P]) run(batch []*batchItem[M], send batchSend[M]) {
	sent := false
	defer func() {
		if !sent {
			for _, it := range batch {
				it.err = fmt.Errorf("%w: sending a batch failed", wire.ErrUnknownOutcome)
			}
		}
		for _, it := range batch[1:] {
			it.ready <- struct{}{}
		}
		b.mu.Lock()
		next := b.takeLocked(nil, time.Now())
		if len(next) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		next[0].turn = next
		b.mu.Unlock()
		next[0].ready <- struct{}{}
	}()
	send(batch)
	sent = true
}

// batchDeadline is the latest deadline of a batch's messages (zero: one
// of them has none).
func batchDeadline[M any](batch []*batchItem[M]) time.Time {
	var deadline time.Time
	for _, it := range batch {
		if it.deadline.IsZero() {
			return time.Time{}
		}
		if it.deadline.After(deadline) {
			deadline = it.deadline
		}
	}
	return deadline
}

// earliestDeadline is the earliest deadline of a batch's messages (zero:
// none of them has one).
func earliestDeadline[M any](batch []*batchItem[M]) time.Time {
	var deadline time.Time
	for _, it := range batch {
		if !it.deadline.IsZero() && (deadline.IsZero() || it.deadline.Before(deadline)) {
			deadline = it.deadline
		}
	}
	return deadline
}

// batchContext is a context that ends at the latest deadline of batch
// (none if one of its messages has none), for the call that sends it:
// each sender stops waiting at its own.
func batchContext[M any](batch []*batchItem[M]) (context.Context, context.CancelFunc) {
	return contextUntil(batchDeadline(batch))
}

// contextUntil is a context that ends at deadline (never if zero).
func contextUntil(deadline time.Time) (context.Context, context.CancelFunc) {
	if !deadline.IsZero() {
		return context.WithDeadline(context.Background(), deadline)
	}
	return context.Background(), func() {}
}
