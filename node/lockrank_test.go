package node

import (
	"strings"
	"testing"
)

func TestRankTrackerRefusesOutOfOrder(t *testing.T) {
	var tr rankTracker
	const g, other = 7, 8
	if err := tr.check(g, rankKeyLock); err != nil {
		t.Fatalf("first lock refused: %v", err)
	}
	tr.push(g, rankKeyLock)
	tr.push(g, rankMu)
	if err := tr.check(g, rankStream); err != nil {
		t.Fatalf("streamMu under mu refused: %v", err)
	}
	err := tr.check(g, rankMergeLock)
	if err == nil || !strings.Contains(err.Error(), "taking merge lock while holding mu") {
		t.Fatalf("merge lock under mu: %v, want a violation naming both", err)
	}
	if err := tr.check(g, rankMu); err == nil {
		t.Fatal("taking mu twice was not refused")
	}
	if err := tr.check(other, rankMergeLock); err != nil {
		t.Fatalf("another goroutine's locks counted: %v", err)
	}
	tr.pop(g, rankMu)
	if err := tr.check(g, rankMergeLock); err != nil {
		t.Fatalf("merge lock after mu was released: %v", err)
	}
	tr.pop(g, rankKeyLock)
	if len(tr.held) != 0 {
		t.Fatalf("held after releasing everything: %v", tr.held)
	}
	if err := tr.check(g, rankNone); err != nil {
		t.Fatal("an unranked lock was checked")
	}
}
