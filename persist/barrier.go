package persist

import "sync"

// barrier keeps a snapshot from starting between a record's append and
// its apply: appenders hold it shared across both steps, a snapshot start
// holds it alone while the log rotates.
//
// It is sync.RWMutex with one difference. A waiting snapshot start holds
// back new ordinary appenders (or a stream of writes would starve it), but
// not an urgent one (rLockUrgent). That is for callers that hold the
// node's own lock while they append (the cluster state saved on install):
// an ordinary appender may hold the barrier while its apply waits for that
// lock, so making the urgent caller wait behind the snapshot start, which
// waits for the ordinary appender, would close a cycle. An urgent caller
// waits only while a snapshot start actually holds the barrier, which
// takes nothing the appenders hold.
type barrier struct {
	mu      sync.Mutex
	changed *sync.Cond // broadcast when readers, writing or waiting change
	readers int        // shared holders
	writing bool       // a snapshot start holds it
	waiting int        // snapshot starts waiting for it
}

func newBarrier() *barrier {
	b := &barrier{}
	b.changed = sync.NewCond(&b.mu)
	return b
}

// RLock takes the barrier shared, after any snapshot start waiting for it.
func (b *barrier) RLock() {
	b.mu.Lock()
	for b.writing || b.waiting > 0 {
		b.changed.Wait()
	}
	b.readers++
	b.mu.Unlock()
}

// rLockUrgent takes the barrier shared as soon as no snapshot start holds
// it, ahead of one that waits.
func (b *barrier) rLockUrgent() {
	b.mu.Lock()
	for b.writing {
		b.changed.Wait()
	}
	b.readers++
	b.mu.Unlock()
}

// TryRLock takes the barrier shared if RLock would not wait, and reports
// whether it did.
func (b *barrier) TryRLock() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writing || b.waiting > 0 {
		return false
	}
	b.readers++
	return true
}

// RUnlock releases a shared hold.
func (b *barrier) RUnlock() {
	b.mu.Lock()
	b.readers--
	if b.readers == 0 {
		b.changed.Broadcast()
	}
	b.mu.Unlock()
}

// Lock takes the barrier alone, once every shared holder has released it.
func (b *barrier) Lock() {
	b.mu.Lock()
	b.waiting++
	for b.writing || b.readers > 0 {
		b.changed.Wait()
	}
	b.waiting--
	b.writing = true
	b.mu.Unlock()
}

// Unlock releases the barrier held alone.
func (b *barrier) Unlock() {
	b.mu.Lock()
	b.writing = false
	b.changed.Broadcast()
	b.mu.Unlock()
}
