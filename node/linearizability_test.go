package node_test

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
	soakRuns = flag.Int("soak-runs", 20, "nemesis runs of the linearizability test")
	soakFor  = flag.Duration("soak-for", 12*time.Second, "virtual duration of each nemesis run")
	soakFrom = flag.Int("soak-from", 0, "first nemesis run of each linearizability test (to replay one run's seed)")
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
	backupReads, _ := nemesisRuns(t, "run", *soakFrom, *soakRuns, func(run int) uint64 { return uint64(run + 1) }, defaultShape)
	if backupReads == 0 {
		t.Fatal("no read was answered from a leader's backup copy: the runs did not check that path")
	}
}

// nemesisRuns runs nemesisRun with shape for runs first, first+1, ...
// (3 and 5 nodes in turn, seedOf(run) each), checks that each history is
// linearizable, and returns the reads answered from a leader's backup
// copy and the batches of replica writes sent, summed over the runs.
func nemesisRuns(t *testing.T, name string, first, runs int, seedOf func(run int) uint64, shape nemesisShape) (backupReads, batches float64) {
	dir := t.ArtifactDir()
	for run := first; run < first+runs; run++ {
		seed := seedOf(run)
		nodes := 3 + 2*(run%2)
		var h *clustertest.History
		var faults []string
		var fromBackup, sent float64
		synctest.Test(t, func(t *testing.T) {
			h, faults, fromBackup, sent = nemesisRun(t, seed, nodes, *soakFor, shape.opts, shape)
		})
		backupReads += fromBackup
		batches += sent
		ops, unknown := h.Stats()
		t.Logf("%s %d (%d nodes, seed %d): %d operations, %d with unknown outcome, %v reads from a leader's backup copy, %v batches sent by the nodes running at the end; faults: %s",
			name, run, nodes, seed, ops, unknown, fromBackup, sent, strings.Join(faults, ", "))
		if ops < 200 {
			t.Fatalf("%s %d recorded only %d operations", name, run, ops)
		}
		clustertest.CheckLinearizable(t, h, 2*time.Minute, dir, fmt.Sprintf("%s-%d-seed-%d", name, run, seed))
	}
	return backupReads, batches
}

// nemesisRun runs clients against a cluster while injecting one fault at a
// time, and returns the history, the faults injected, how many reads the
// nodes running at the end answered from a backup copy as leader and how
// many batches of replica writes they sent.
func nemesisRun(t *testing.T, seed uint64, size int, d time.Duration, opts clustertest.ClientOptions, shape nemesisShape) (h *clustertest.History, faults []string, fromBackup, batches float64) {
	c := clustertest.Start(t, clustertest.Options{Nodes: size, Buckets: 64, Seed: seed, DelayMin: shape.delayMin, DelayMax: shape.delayMax})
	settle(t, c)
	h = clustertest.NewHistory()
	keys := shape.keys
	doers := func() []clustertest.Doer {
		var out []clustertest.Doer
		for _, n := range c.Nodes() {
			out = append(out, n)
		}
		return out
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for id := range shape.clients {
		wg.Go(func() { clustertest.RunClientWith(h, id, seed, keys, doers, stop, opts) })
	}
	faults = clustertest.RunNemesis(c, seed, d)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	for _, n := range c.Nodes() {
		fromBackup += localReads(t, n, "backup")
		batches += counterValue(t, n, shape.batchesMetric())
	}
	return h, faults, fromBackup, batches
}

// nemesisShape is the load of a nemesis run: clients on keys, over a
// network whose every message takes delayMin to delayMax. The batches a
// run reports are those of the counter batches names (replica writes by
// default).
type nemesisShape struct {
	clients            int
	keys               []string
	delayMin, delayMax time.Duration
	opts               clustertest.ClientOptions
	batches            string
}

func (s nemesisShape) batchesMetric() string {
	if s.batches == "" {
		return "jumpkv_replication_batches_total"
	}
	return s.batches
}

// defaultShape: six clients on four hot keys, no delay but the nemesis's.
var defaultShape = nemesisShape{clients: 6, keys: []string{"x", "y", "z", "w/1"}}

var batchRuns = flag.Int("batch-runs", 6, "nemesis runs of the linearizability test of batched replication")

// TestLinearizableWithBatchedReplication is TestLinearizableUnderNemesis
// with 32 clients on 32 keys over a network that delays every message by
// 1 to 4 ms, so that writes to one replica overlap and the
// leader sends them in batches (replbatch.go): batched writes must keep
// every guarantee of single ones, under the same faults. Six runs; more:
// -batch-runs.
func TestLinearizableWithBatchedReplication(t *testing.T) {
	var keys []string
	for i := range 32 {
		keys = append(keys, fmt.Sprintf("b/%d", i))
	}
	shape := nemesisShape{clients: 32, keys: keys, delayMin: time.Millisecond, delayMax: 4 * time.Millisecond}
	if _, batches := nemesisRuns(t, "batch-run", 0, *batchRuns, func(run int) uint64 { return uint64(2000 + run) }, shape); batches == 0 {
		t.Fatal("no write was sent in a batch: the runs did not check that path")
	}
}

var readBatchRuns = flag.Int("read-batch-runs", 4, "nemesis runs of the linearizability test of batched reads")

// TestLinearizableWithBatchedReads is TestLinearizableUnderNemesis with
// reads of several keys at once (GetMany, as for a pipeline's GETs or an
// MGET), each recorded as a read of its own, by 16 clients on 16 keys over
// a network that delays every message by 1 to 4 ms: the reads other nodes
// are primary for travel in ReadBatches, which must keep every guarantee
// of single reads under the same faults. Four runs; more: -read-batch-runs.
func TestLinearizableWithBatchedReads(t *testing.T) {
	manyKeysNemesis(t, "read-batch-run", "r/", 3000, *readBatchRuns, clustertest.ClientOptions{ManyReads: true},
		"jumpkv_read_batches_total", "no read was sent in a batch: the runs did not check that path")
}

// manyKeysNemesis runs runs nemesis runs (seeds from seed) of 16 clients
// on 16 keys named prefix0.. with opts, over a network that delays every
// message by 1 to 4 ms, and fails with unchecked when the nodes counted
// nothing in metric: the path under test was not taken.
func manyKeysNemesis(t *testing.T, name, prefix string, seed uint64, runs int, opts clustertest.ClientOptions, metric, unchecked string) {
	t.Helper()
	var keys []string
	for i := range 16 {
		keys = append(keys, fmt.Sprintf("%s%d", prefix, i))
	}
	shape := nemesisShape{clients: 16, keys: keys, delayMin: time.Millisecond, delayMax: 4 * time.Millisecond,
		opts: opts, batches: metric}
	if _, counted := nemesisRuns(t, name, *soakFrom, runs, func(run int) uint64 { return seed + uint64(run) }, shape); counted == 0 {
		t.Fatal(unchecked)
	}
}

var togetherRuns = flag.Int("together-runs", 4, "nemesis runs of the linearizability test of writes carried out together")

// TestLinearizableWithWritesTogether is TestLinearizableUnderNemesis with
// puts of several keys at once (WriteMany, as for a pipeline's SETs), each
// recorded as a put of its own, by 16 clients on 16 keys over a network
// that delays every message by 1 to 4 ms: the leader carries them out as
// one unit (writemany.go), which must keep every guarantee of single
// writes under the same faults. Four runs; more: -together-runs.
func TestLinearizableWithWritesTogether(t *testing.T) {
	manyKeysNemesis(t, "together-run", "t/", 4000, *togetherRuns, clustertest.ClientOptions{ManyWrites: true},
		"jumpkv_writes_together_total", "no write was carried out together with others: the runs did not check that path")
}

var forwardBatchRuns = flag.Int("forward-batch-runs", 4, "nemesis runs of the linearizability test of writes forwarded in batches")

// TestLinearizableWithForwardedBatches is TestLinearizableWithWritesTogether
// counting the followers' path: puts of several keys at once sent to a
// follower, and the writes of clients that reach it at the same time,
// travel to the leader in shared ForwardBatch frames (forwardbatch.go),
// which must keep every guarantee of single forwarded writes under the
// same faults. Four runs; more: -forward-batch-runs.
func TestLinearizableWithForwardedBatches(t *testing.T) {
	manyKeysNemesis(t, "forward-run", "f/", 4500, *forwardBatchRuns, clustertest.ClientOptions{ManyWrites: true},
		"jumpkv_forward_batches_total", "no write was forwarded in a batch: the runs did not check that path")
}

var ttlDelayRuns = flag.Int("ttl-delay-runs", 8, "nemesis runs of the linearizability test with ttls and delays")

// TestLinearizableWithTTLsAndDelays is TestLinearizableWithTTLsUnderNemesis
// with 16 clients on 16 keys over a network that delays every message by
// 1 to 4 ms, so that a conditional write judged against a value just
// before it expires is often still on its way when it does. Such a write
// became readable after the expiry, and a read in between answered the key
// absent: one run in about 20 failed before reads of a value just expired
// asked the leader (Node.readAnswer). About one run in 500 still failed
// (seed 6628: a read at the leader took the key's lock before the expiry
// and judged it after, while a CAS judged against the live value was on
// its way) until the leader judged the expiry at the instant it held the
// lock, and the asker took that answer as final (Node.leaderRead). 8
// runs; more: -ttl-delay-runs.
func TestLinearizableWithTTLsAndDelays(t *testing.T) {
	manyKeysNemesis(t, "ttl-delay-run", "e/", 4000, *ttlDelayRuns, clustertest.ClientOptions{TTLs: true},
		"jumpkv_expired_total", "no value expired: the runs did not check expiry")
}

var ttlRuns = flag.Int("ttl-runs", 10, "nemesis runs of the linearizability test with ttls")

// TestLinearizableWithTTLsUnderNemesis is TestLinearizableUnderNemesis
// with half of the puts and creates given a ttl of 20 to 300ms: the model
// treats an expiry as a delete at the instant the leader stamped plus the
// ttl (somewhere in the write's call..return, give or take
// clustertest.ExpirySkew), so a read must never return a value past it,
// nor miss one before it. Ten runs; more: -ttl-runs.
func TestLinearizableWithTTLsUnderNemesis(t *testing.T) {
	dir := t.ArtifactDir()
	for run := range *ttlRuns {
		seed := uint64(1000 + run)
		nodes := 3 + 2*(run%2)
		var h *clustertest.History
		var faults []string
		synctest.Test(t, func(t *testing.T) {
			h, faults, _, _ = nemesisRun(t, seed, nodes, *soakFor, clustertest.ClientOptions{TTLs: true}, defaultShape)
		})
		ops, unknown := h.Stats()
		withTTL, expiredReads := 0, 0
		for _, op := range h.Ops() {
			in, out := op.Input.(clustertest.OpInput), op.Output.(clustertest.OpOutput)
			if in.TTL > 0 && out.OK {
				withTTL++
			}
			if in.Kind == clustertest.OpGet && !out.OK {
				expiredReads++
			}
		}
		t.Logf("run %d (%d nodes, seed %d): %d operations, %d with unknown outcome, %d acknowledged writes with a ttl, %d reads found nothing; faults: %s",
			run, nodes, seed, ops, unknown, withTTL, expiredReads, strings.Join(faults, ", "))
		if ops < 200 || withTTL < 10 {
			t.Fatalf("run %d recorded only %d operations, %d acknowledged with a ttl", run, ops, withTTL)
		}
		clustertest.CheckLinearizable(t, h, 2*time.Minute, dir, fmt.Sprintf("ttl-run-%d-seed-%d", run, seed))
	}
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
