package node_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

var (
	soakRuns = flag.Int("soak-runs", 20, "nemesis runs of the linearizability test")
	soakFor  = flag.Duration("soak-for", 12*time.Second, "virtual duration of each nemesis run")
	soakFrom = flag.Int("soak-from", 0, "first nemesis run (to replay one run's seed)")
)

// TestLinearizableUnderNemesis records histories of concurrent clients
// (get, put, create, append, conditional put, delete on a few hot keys)
// while a nemesis kills, pauses, cuts off (both ways or one way) one node
// at a time, the leader included, or makes the network drop and delay
// messages, and checks each history with porcupine. A write that
// answers 5xx may or may not have taken effect. Twenty consecutive runs of
// twelve (virtual) seconds must all pass; longer soaks: -soak-runs,
// -soak-for.
func TestLinearizableUnderNemesis(t *testing.T) {
	dir := t.ArtifactDir()
	var backupReads float64
	for run := *soakFrom; run < *soakFrom+*soakRuns; run++ {
		seed := uint64(run + 1)
		nodes := 3 + 2*(run%2)
		var h *clustertest.History
		var faults []string
		var fromBackup float64
		synctest.Test(t, func(t *testing.T) {
			h, faults, fromBackup = nemesisRun(t, seed, nodes, *soakFor)
		})
		backupReads += fromBackup
		ops, unknown := h.Stats()
		t.Logf("run %d (%d nodes, seed %d): %d operations, %d with unknown outcome, %v reads from a leader's backup copy; faults: %s",
			run, nodes, seed, ops, unknown, fromBackup, strings.Join(faults, ", "))
		if ops < 200 {
			t.Fatalf("run %d recorded only %d operations", run, ops)
		}
		clustertest.CheckLinearizable(t, h, 2*time.Minute, dir, fmt.Sprintf("run-%d-seed-%d", run, seed))
	}
	if backupReads == 0 {
		t.Fatal("no read was answered from a leader's backup copy: the runs did not check that path")
	}
}

// nemesisRun runs clients against a cluster while injecting one fault at a
// time, and returns the history, the faults injected and how many reads
// the nodes running at the end answered from a backup copy as leader.
func nemesisRun(t *testing.T, seed uint64, size int, d time.Duration) (*clustertest.History, []string, float64) {
	c := clustertest.Start(t, clustertest.Options{Nodes: size, Buckets: 64, Seed: seed})
	settle(t, c)
	h := clustertest.NewHistory()
	keys := []string{"x", "y", "z", "w/1"}
	doers := func() []clustertest.Doer {
		var out []clustertest.Doer
		for _, n := range c.Nodes() {
			out = append(out, n)
		}
		return out
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for id := range 6 {
		wg.Go(func() { clustertest.RunClient(h, id, seed, keys, doers, stop) })
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	var faults []string
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		// One fault at a time: the next comes only once the cluster has
		// recovered from the last (a leader, every node ready: a restarted
		// node refilled), else two faults overlap in effect.
		recovered := time.Now().Add(30 * time.Second)
		for !clusterReady(c) && time.Now().Before(recovered) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		victim := rng.IntN(size)
		if l := c.Leader(); l != nil && rng.IntN(2) == 0 {
			victim = l.Index
		}
		hold := time.Duration(500+rng.IntN(3500)) * time.Millisecond
		switch rng.IntN(6) {
		case 3:
			faults = append(faults, fmt.Sprintf("cut %d's outgoing messages for %v", victim, hold))
			for j := range size {
				if j != victim {
					c.Net.Block(clustertest.PeerAddr(victim), clustertest.PeerAddr(j))
				}
			}
			time.Sleep(hold)
			c.Heal()
		case 4:
			faults = append(faults, fmt.Sprintf("cut %d's incoming messages for %v", victim, hold))
			for j := range size {
				if j != victim {
					c.Net.Block(clustertest.PeerAddr(j), clustertest.PeerAddr(victim))
				}
			}
			time.Sleep(hold)
			c.Heal()
		case 5:
			faults = append(faults, fmt.Sprintf("drop 5%% and delay up to 30ms for %v", hold))
			c.Net.SetDropRate(0.05)
			c.Net.SetDelay(0, 30*time.Millisecond)
			time.Sleep(hold)
			c.Net.SetDropRate(0)
			c.Net.SetDelay(0, 0)
		case 0:
			faults = append(faults, fmt.Sprintf("kill %d for %v", victim, hold))
			c.Kill(victim)
			time.Sleep(hold)
			c.Restart(victim)
		case 1:
			faults = append(faults, fmt.Sprintf("pause %d for %v", victim, hold))
			c.Pause(victim)
			time.Sleep(hold)
			c.Resume(victim)
		default:
			faults = append(faults, fmt.Sprintf("isolate %d for %v", victim, hold))
			c.Isolate(victim)
			time.Sleep(hold)
			c.Heal()
		}
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	var fromBackup float64
	for _, n := range c.Nodes() {
		fromBackup += localReads(t, n, "backup")
	}
	return h, faults, fromBackup
}

// clusterReady reports whether every node follows one leader and is ready.
func clusterReady(c *clustertest.Cluster) bool { return c.Leader() != nil && c.AllReady() }

var rollingFor = flag.Duration("rolling-for", 30*time.Second, "virtual duration of the rolling-restart linearizability run")

// TestLinearizableRollingRestartsDurable kills one node every 2s, in turn,
// and restarts it from its data directory 2s later, without waiting for it
// to catch up, so the next kill may come first, while clients run; the
// history must be linearizable. Without data directories this loses
// acknowledged writes (a restarted node comes back empty and counts as a
// lost replica, so two faults overlap). With one node down and another
// restarted less than dead-after ago (it acknowledges no leader yet, as
// its previous life may have granted a lease), no majority can form, so
// the cluster is mostly unavailable during the run: what is checked is
// that nothing acknowledged is lost and that it recovers by itself once
// the kills stop. -rolling-for sets the duration.
func TestLinearizableRollingRestartsDurable(t *testing.T) {
	const size = 3
	var h *clustertest.History
	kills := 0
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: size, Buckets: 64, Seed: 7, Durable: true})
		settle(t, c)
		h = clustertest.NewHistory()
		keys := []string{"x", "y", "z", "w/1"}
		doers := func() []clustertest.Doer {
			var out []clustertest.Doer
			for _, n := range c.Nodes() {
				out = append(out, n)
			}
			return out
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for id := range 6 {
			wg.Go(func() { clustertest.RunClient(h, id, 7, keys, doers, stop) })
		}
		end := time.Now().Add(*rollingFor)
		for victim := 0; time.Now().Before(end); victim = (victim + 1) % size {
			c.Kill(victim)
			kills++
			time.Sleep(2 * time.Second)
			c.Restart(victim)
		}
		// Once the kills stop, the cluster recovers by itself.
		c.WaitFor(30*time.Second, "a leader and every node ready after the last restart", func() bool { return clusterReady(c) })
		before, _ := h.Stats()
		time.Sleep(5 * time.Second)
		if after, _ := h.Stats(); after-before < 100 {
			t.Errorf("only %d operations in the 5s after the cluster recovered", after-before)
		}
		close(stop)
		wg.Wait()
	})
	ops, unknown := h.Stats()
	t.Logf("%d kills over %v: %d operations, %d with unknown outcome", kills, *rollingFor, ops, unknown)
	if ops < 200 {
		t.Fatalf("only %d operations recorded", ops)
	}
	clustertest.CheckLinearizable(t, h, 2*time.Minute, t.ArtifactDir(), "rolling-durable")
}
