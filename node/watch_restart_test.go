package node_test

import (
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestWatchOnARestartedNode: the leader is killed, a new one takes over,
// and the old one is restarted (empty: memory only) and follows it. A
// watch opened on the restarted node must see every change acknowledged
// afterwards, through the new leader and through the hand-over back to the
// restarted node, which has the highest ID.
func TestWatchOnARestartedNode(t *testing.T) {
	t.Run("memory", func(t *testing.T) { synctest.Test(t, func(t *testing.T) { watchOnARestartedNode(t, false) }) })
	t.Run("tcp", func(t *testing.T) { watchOnARestartedNode(t, true) })
}

func watchOnARestartedNode(t *testing.T, tcp bool) {
	{
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, DeadAfter: time.Second, TCP: tcp})
		l := settle(t, c)
		rng := rand.New(rand.NewPCG(3, 4))
		makeChanges(t, c, rng, "w/", 100)
		c.Kill(l.Index)
		c.WaitFor(10*time.Second, "a new leader", func() bool { return c.Leader() != nil })
		makeChanges(t, c, rng, "w/", 300) // queued for the dead node meanwhile
		r := c.Restart(l.Index)
		c.WaitFor(10*time.Second, "the restarted node following the leader", func() bool {
			ok, _ := r.Ready()
			return ok
		})
		sub, err := r.Watch("w/", nil)
		if err != nil {
			t.Fatal(err)
		}
		changes := makeChanges(t, c, rng, "w/", 200)
		evs := collect(t, sub, 2*time.Second)
		var got []string
		for _, e := range evs {
			if !e.Reset {
				got = append(got, e.Key)
			}
		}
		if len(got) < len(changes) {
			t.Fatalf("the watch on the restarted node got %d of %d changes (%d events in all; first %v)", len(got), len(changes), len(evs), evs[:min(3, len(evs))])
		}
	}
}
