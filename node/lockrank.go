package node

import (
	"fmt"
	"sync"
)

// The lock order of Node (see its doc) as ranks: a goroutine may take a
// lock only while every lock it holds has a lower rank. Under the
// lockcheck build tag every ranked lock reports to a tracker that panics,
// naming both locks, on the first acquisition out of order; otherwise the
// hooks are empty and inlined away.
type lockRank uint8

const (
	rankNone      lockRank = iota // not checked
	rankKeyLock                   // writePath.keyLocks
	rankGate                      // writePath.gates
	rankMergeLock                 // Node.syncLocks
	rankMu                        // Node.mu
	rankStream                    // followerStream.streamMu
)

var rankNames = [...]string{"unranked", "key lock", "bucket gate", "merge lock", "mu", "streamMu"}

func (r lockRank) String() string {
	if int(r) < len(rankNames) {
		return rankNames[r]
	}
	return fmt.Sprintf("rank %d", r)
}

// rankedMutex is a sync.Mutex with a place in the lock order.
type rankedMutex struct {
	sync.Mutex
	rank lockRank
}

// Lock takes m, checking the lock order under lockcheck.
func (m *rankedMutex) Lock() {
	lockWillTake(m.rank)
	m.Mutex.Lock()
	lockTaken(m.rank)
}

// Unlock releases m.
func (m *rankedMutex) Unlock() {
	lockReleased(m.rank)
	m.Mutex.Unlock()
}

// rankTracker records the ranks each goroutine holds. It is the checker
// behind the lockcheck tag, kept in every build so its logic is tested.
type rankTracker struct {
	mu   sync.Mutex
	held map[uint64][]lockRank // by goroutine
}

// check returns an error when goroutine g, holding what it holds, may not
// take a lock of rank r.
func (t *rankTracker) check(g uint64, r lockRank) error {
	if r == rankNone {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.held[g] {
		if h >= r {
			return fmt.Errorf("lock order violated: taking %s while holding %s (see the order on Node)", r, h)
		}
	}
	return nil
}

func (t *rankTracker) push(g uint64, r lockRank) {
	if r == rankNone {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil {
		t.held = map[uint64][]lockRank{}
	}
	t.held[g] = append(t.held[g], r)
}

func (t *rankTracker) pop(g uint64, r lockRank) {
	if r == rankNone {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	hs := t.held[g]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i] == r {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(t.held, g)
		return
	}
	t.held[g] = hs
}
