package resp_test

import (
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

var (
	respSoakRuns = flag.Int("resp-soak-runs", 20, "nemesis runs of the RESP linearizability test")
	respSoakFor  = flag.Duration("resp-soak-for", 12*time.Second, "virtual duration of each nemesis run")
)

// TestRESPLinearizableUnderNemesis drives the nodes' Redis protocol with
// concurrent clients (GET, SET, SET NX, APPEND, DEL on a few hot keys)
// while the nemesis of node's linearizability test kills, pauses and cuts
// off one node at a time, and checks each history with porcupine. A write
// answered "ERR outcome unknown", or cut off, may or may not have taken
// effect; one answered TRYAGAIN must not have.
func TestRESPLinearizableUnderNemesis(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak: -short skips it")
	}
	dir := t.ArtifactDir()
	for run := range *respSoakRuns {
		seed := uint64(run + 1)
		size := 3 + 2*(run%2)
		var h *clustertest.History
		var faults []string
		synctest.Test(t, func(t *testing.T) {
			c := clustertest.Start(t, clustertest.Options{Nodes: size, Buckets: 64, Seed: seed, RESP: true})
			c.WaitLeader(30 * time.Second)
			h = clustertest.NewHistory()
			keys := []string{"x", "y", "z", "w/1"}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for id := range 6 {
				wg.Go(func() { clustertest.RunRESPClient(h, id, seed, keys, c.Nodes, stop) })
			}
			faults = clustertest.RunNemesis(c, seed, *respSoakFor)
			time.Sleep(2 * time.Second)
			close(stop)
			wg.Wait()
		})
		ops, unknown := h.Stats()
		t.Logf("run %d (%d nodes, seed %d): %d operations, %d with unknown outcome; faults: %s",
			run, size, seed, ops, unknown, strings.Join(faults, ", "))
		if ops < 200 {
			t.Fatalf("run %d recorded only %d operations", run, ops)
		}
		clustertest.CheckLinearizable(t, h, 2*time.Minute, dir, fmt.Sprintf("resp-run-%d-seed-%d", run, seed))
	}
}
