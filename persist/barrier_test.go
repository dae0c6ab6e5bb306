package persist

import (
	"sync"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
)

// waitUntil polls cond until it holds, failing the test after a while.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(time.Millisecond) // polling another goroutine's progress
	}
}

// snapshotWaiting reports whether a snapshot start waits for d's barrier.
func snapshotWaiting(d *Durable) bool {
	d.barrier.mu.Lock()
	defer d.barrier.mu.Unlock()
	return d.barrier.waiting > 0
}

// TestSaveStateDoesNotDeadlockWithCompaction: an append whose apply waits
// for the node's lock holds the barrier; a compaction waits for the
// barrier; the node's lock is held by an install saving its cluster state.
// SaveState must go ahead of the waiting compaction (with a plain
// read-write lock the three waited for each other for good).
func TestSaveStateDoesNotDeadlockWithCompaction(t *testing.T) {
	d, _, _ := open(t, testConfig(t.TempDir()))
	defer d.Close()
	var nodeMu sync.Mutex // the node's lock
	nodeMu.Lock()         // held by the install below
	appended := make(chan struct{})
	appendDone := make(chan error, 1)
	go func() {
		appendDone <- d.Append(0, []store.Entry{{Key: "k", Value: []byte("v"), Version: store.Version{Term: 1, Seq: 1}}}, func() error {
			close(appended)
			nodeMu.Lock() // the apply takes the node's lock
			defer nodeMu.Unlock()
			return nil
		})
	}()
	<-appended
	compactDone := make(chan error, 1)
	go func() { compactDone <- d.Compact() }()
	waitUntil(t, "compaction waiting for the barrier", func() bool { return snapshotWaiting(d) })

	saved := make(chan error, 1)
	go func() { saved <- d.SaveState([]byte("state")) }()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SaveState under the node's lock waited 10s behind a compaction that waits for an append that waits for the node's lock: deadlock")
	}
	nodeMu.Unlock()
	for _, ch := range []chan error{appendDone, compactDone} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// TestBarrier: shared holders exclude a snapshot start and it them; a
// waiting snapshot start holds back new ordinary holders but not urgent
// ones.
func TestBarrier(t *testing.T) {
	b := newBarrier()
	b.RLock()
	locked := make(chan struct{})
	go func() {
		b.Lock()
		close(locked)
	}()
	waitUntil(t, "Lock waiting", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting == 1 })
	if b.TryRLock() {
		t.Fatal("TryRLock succeeded while a Lock waits")
	}
	b.rLockUrgent() // must not wait: only a held Lock stops it
	select {
	case <-locked:
		t.Fatal("Lock taken while shared holders hold the barrier")
	default:
	}
	b.RUnlock()
	b.RUnlock()
	<-locked
	urgent := make(chan struct{})
	go func() {
		b.rLockUrgent()
		close(urgent)
	}()
	select {
	case <-urgent:
		t.Fatal("rLockUrgent taken while Lock holds the barrier")
	case <-time.After(50 * time.Millisecond): // a negative: it must still wait
	}
	b.Unlock()
	<-urgent
	if !b.TryRLock() {
		t.Fatal("TryRLock failed with only shared holders")
	}
}
