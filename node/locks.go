package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/jumpkv/jumpkv/wire"
)

// The locks here are held across network calls, so waiting for them must
// end with the waiter's context, and they block on channels (not sync
// primitives) so that testing/synctest counts their waiters as durably
// blocked and lets virtual time run.

// chanLock is a mutual-exclusion lock whose lock gives up when ctx ends.
type chanLock struct {
	ch   chan struct{}
	rank lockRank
}

func newChanLocks(n int, rank lockRank) []chanLock {
	ls := make([]chanLock, n)
	for i := range ls {
		ls[i] = chanLock{ch: make(chan struct{}, 1), rank: rank}
	}
	return ls
}

// lock takes l, or fails with a 503-class error when ctx ends first.
func (l chanLock) lock(ctx context.Context) error {
	lockWillTake(l.rank)
	select {
	case l.ch <- struct{}{}:
		lockTaken(l.rank)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for a lock: %v", wire.ErrUnavailable, ctx.Err())
	}
}

func (l chanLock) unlock() {
	lockReleased(l.rank)
	<-l.ch
}

// tryLockAll takes those of the locks of ls at idx that are free, without
// waiting, and returns them (held). They count as one lock of rank (theirs),
// released by unlockAll. A holder never waits for a lock, so holders of
// several need no order among themselves.
func tryLockAll(ls []chanLock, rank lockRank, idx []uint64) (held []uint64) {
	lockWillTake(rank)
	for _, i := range idx {
		select {
		case ls[i].ch <- struct{}{}:
			held = append(held, i)
		default:
		}
	}
	lockTaken(rank)
	return held
}

// unlockAll releases the locks tryLockAll took (held).
func unlockAll(ls []chanLock, rank lockRank, held []uint64) {
	lockReleased(rank)
	for _, i := range held {
		<-ls[i].ch
	}
}

// gate lets writes into a bucket, unless a placement change has closed it:
// then new writes wait, and the change waits for those already in.
type gate struct {
	mu       sync.Mutex
	closed   chan struct{} // non-nil while closed; closed again on reopening
	inflight int
	drained  chan struct{} // closed when the last write leaves a closed gate
}

// enter admits a write, waiting while the gate is closed; it fails when ctx
// ends first.
func (g *gate) enter(ctx context.Context) error {
	for {
		lockWillTake(rankGate)
		g.mu.Lock()
		c := g.closed
		if c == nil {
			g.inflight++
			g.mu.Unlock()
			lockTaken(rankGate)
			return nil
		}
		g.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("%w: the bucket is moving: %v", wire.ErrUnavailable, ctx.Err())
		}
	}
}

// tryEnter admits a write if the gate is open, without waiting. It takes
// no place in the lock order: a caller entering several gates reports them
// as one (enterGates).
func (g *gate) tryEnter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		return false
	}
	g.inflight++
	return true
}

// leave lets a write out.
func (g *gate) leave() {
	lockReleased(rankGate)
	g.release()
}

// release lets out a write that tryEnter admitted.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// close stops new writes and waits until the writes already in have left.
// Only one placement change closes gates at a time.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = make(chan struct{})
	if g.inflight == 0 {
		g.mu.Unlock()
		return
	}
	d := make(chan struct{})
	g.drained = d
	g.mu.Unlock()
	<-d
}

// open lets writes in again.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.closed)
	g.closed = nil
}
