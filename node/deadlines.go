package node

import (
	"context"
	"sync/atomic"
	"time"
)

// sharedDeadlines hands out the contexts that bound leader writes and the
// peer calls of reads, which no caller cancels: once begun, they run to
// their end or their timeout. Those that start within one grain of each
// other share one context, which ends between timeout and timeout+grain
// after each of them started: a context of its own per request would set
// and stop a runtime timer every time, a visible share of a busy leader's
// CPU. Safe for concurrent use.
type sharedDeadlines struct {
	timeout, grain time.Duration
	cur            atomic.Pointer[sharedDeadline]
}

// sharedDeadline is one context the requests of a grain share.
type sharedDeadline struct {
	ctx      context.Context
	cancel   context.CancelFunc // never called early: the deadline ends it
	deadline time.Time
}

// deadlineGrain is how far apart the starts of requests sharing a context
// may be.
const deadlineGrain = 10 * time.Millisecond

// get returns a context that ends no sooner than timeout after now and no
// later than timeout+grain after it.
func (w *sharedDeadlines) get(now time.Time) context.Context {
	cur := w.cur.Load()
	if cur != nil && !cur.deadline.Before(now.Add(w.timeout)) && !cur.deadline.After(now.Add(w.timeout+w.grain)) {
		return cur.ctx
	}
	deadline := now.Add(w.timeout + w.grain)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	next := &sharedDeadline{ctx: ctx, cancel: cancel, deadline: deadline}
	w.cur.CompareAndSwap(cur, next) // one that lost the race still uses its own
	return ctx
}
