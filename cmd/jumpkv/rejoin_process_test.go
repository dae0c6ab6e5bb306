package main

import (
	"testing"
	"time"
)

// TestProcessLeaveThenRestartRejoins stops a follower gracefully (SIGTERM:
// it hands its buckets off and leaves the membership) and starts it again
// with the same flags after several delays: each time it is admitted and
// stays a member, ready, with three members in the cluster. Once, a node
// restarted 4s after leaving was admitted and evicted again 190ms later,
// and stayed out.
func TestProcessLeaveThenRestartRejoins(t *testing.T) {
	c := startProcCluster(t, 3, "--dead-after", "1s", "--buckets", "128")
	for _, delay := range []time.Duration{500 * time.Millisecond, 4 * time.Second, 8 * time.Second} {
		l := c.settled(60 * time.Second)
		f := (l + 1) % 3
		c.procs[f].stop(t)
		time.Sleep(delay) // the restart delay under test
		c.start(f)
		c.settled(60 * time.Second)
		// It must stay in: ready, and a member, for 3s.
		until := time.Now().Add(3 * time.Second)
		for time.Now().Before(until) {
			view, ok := clusterOf(t, c.http[l])
			st, _, body := request(t, "GET", "http://"+c.http[f]+"/readyz", nil)
			if !ok || len(view.Nodes) != 3 || st != 200 {
				t.Fatalf("restart %v after leaving: %d members, /readyz %d %s", delay, len(view.Nodes), st, body)
			}
			time.Sleep(200 * time.Millisecond) // polling real processes
		}
		t.Logf("restarted %v after leaving: a member and ready for 3s", delay)
	}
}
