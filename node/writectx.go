package node

import (
	"context"
	"sync/atomic"
	"time"
)

// writeContexts hands out the contexts that bound leader writes. Writes
// that start within one grain of each other share one context, which ends
// between timeout and timeout+grain after each of them started: a context
// of its own per write would set and stop a runtime timer on every write,
// a visible share of a busy leader's CPU. The contexts are never cancelled
// before their deadline (a write, once begun, runs to its end or its
// timeout), so sharing one changes no write's outcome. Safe for concurrent
// use.
type writeContexts struct {
	timeout, grain time.Duration
	cur            atomic.Pointer[sharedDeadline]
}

// sharedDeadline is one context the writes of a grain share.
type sharedDeadline struct {
	ctx      context.Context
	cancel   context.CancelFunc // never called early: the deadline ends it
	deadline time.Time
}

// writeGrain is how far apart the starts of writes sharing a context may be.
const writeGrain = 10 * time.Millisecond

// get returns a context that ends no sooner than timeout after now and no
// later than timeout+grain after it.
func (w *writeContexts) get(now time.Time) context.Context {
	cur := w.cur.Load()
	if cur != nil && !cur.deadline.Before(now.Add(w.timeout)) && !cur.deadline.After(now.Add(w.timeout+w.grain)) {
		return cur.ctx
	}
	deadline := now.Add(w.timeout + w.grain)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	next := &sharedDeadline{ctx: ctx, cancel: cancel, deadline: deadline}
	w.cur.CompareAndSwap(cur, next) // a writer that lost the race still uses its own
	return ctx
}
