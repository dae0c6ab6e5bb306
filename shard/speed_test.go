package shard

import (
	"testing"
	"time"
)

// TestPlanFast checks that planning 1024 buckets over 10 nodes with 6
// replicas takes well under 10 ms (the best of several runs, so that a busy
// machine does not fail it; the budget is larger under the race detector),
// and that 16384 buckets plan too.
func TestPlanFast(t *testing.T) {
	budget := 10 * time.Millisecond
	if raceEnabled {
		budget = 100 * time.Millisecond
	}
	for _, c := range []struct {
		name string
		old  func() (Table, []NodeID)
	}{
		{"initial", func() (Table, []NodeID) { _, ids := planCase(1024, 10, 6); return Table{}, ids }},
		{"join", func() (Table, []NodeID) { return planCase(1024, 10, 6) }},
		{"leave", func() (Table, []NodeID) {
			_, ids := planCase(1024, 10, 6)
			return Plan(Table{}, 1024, ids, 6), ids[1:]
		}},
	} {
		old, ids := c.old()
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			Plan(old, 1024, ids, 6)
			best = min(best, time.Since(start))
		}
		t.Logf("%s: B=1024 n=10 r=6 planned in %v", c.name, best)
		if best > budget {
			t.Errorf("%s: planning took %v, budget %v", c.name, best, budget)
		}
	}
	old, ids := planCase(16384, 10, 6)
	got := Plan(old, 16384, ids, 6)
	if err := got.Validate(16384, ids); err != nil {
		t.Fatal(err)
	}
	if moves, share := len(Moves(old, got)), (16384*6+9)/10; moves > share {
		t.Fatalf("16384 buckets: join moved %d copies, more than the newcomer's share %d", moves, share)
	}
}
