//go:build lockcheck

package node

import (
	"context"
	"strings"
	"testing"
)

// TestLockcheckCatchesAnInversion takes a key lock while holding mu on a
// real node, which the lock order forbids: the lockcheck build must panic.
func TestLockcheckCatchesAnInversion(t *testing.T) {
	n, err := New(DefaultConfig("127.0.0.1:7070"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmtPanic(r), "taking key lock while holding mu") {
			t.Fatalf("recovered %v, want a lock order violation", r)
		}
	}()
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = n.keyLocks[0].lock(context.Background())
}

func fmtPanic(r any) string {
	if e, ok := r.(error); ok {
		return e.Error()
	}
	return ""
}
