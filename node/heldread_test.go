package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// localReads returns how many reads n answered from its own copy held as
// the given kind of replica ("primary" or "backup"), from its metrics.
func localReads(t *testing.T, n *clustertest.Node, copyKind string) float64 {
	t.Helper()
	return counter(t, n, "jumpkv_reads_local_total", "copy", copyKind)
}

// counter returns the value of the counter name in n's metrics, of the
// series with the given label name and value if one is given.
func counter(t *testing.T, n *clustertest.Node, name string, label ...string) float64 {
	t.Helper()
	mfs, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(label) == 0 {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label[0] && lp.GetValue() == label[1] {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter %s%q in node %d's metrics", name, label, n.ID())
	return 0
}

// keyPlaced returns the first key k0, k1, ... of a 64-bucket cluster whose
// bucket's replicas (primary first) satisfy want, and those replicas.
func keyPlaced(st *wire.ClusterState, want func(reps []shard.NodeID) bool) (string, []shard.NodeID) {
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%d", i)
		if reps := st.Table.Buckets[shard.BucketOf(k, 64)]; want(reps) {
			return k, reps
		}
	}
}

// TestLeaderReadsItsBackupCopy checks that the leader answers reads of a
// bucket it holds as a backup from its own copy (no other node asked, so
// they keep working while the primary cannot be reached), and never while
// the key's replicas may disagree: after a write whose outcome is unknown
// it asks the primary until a later write reaches every replica.
func TestLeaderReadsItsBackupCopy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) {
			cfg.CallTimeout = 300 * time.Millisecond // the cut below stays short of DeadAfter
		}})
		l := c.WaitLeader(30 * time.Second)
		key, reps := keyPlaced(l.Placement(), func(reps []shard.NodeID) bool { return len(reps) == 2 && reps[1] == l.ID() })
		primary := c.ByID(reps[0])
		path := "/v1/kv/" + key
		get := func(n *clustertest.Node) clustertest.Response { return n.Do(http.MethodGet, path, nil) }
		if r := l.Do(http.MethodPut, path, []byte("v1")); r.Status != http.StatusOK {
			t.Fatalf("put v1: %v", r)
		}
		// Once the leader has merged the bucket under its term (anti-entropy
		// does it after a takeover), its reads of the key stay local.
		c.WaitFor(30*time.Second, "a read at the leader answered from its backup copy", func() bool {
			before := localReads(t, l, "backup")
			r := get(l)
			return r.Status == http.StatusOK && string(r.Body) == "v1" && localReads(t, l, "backup") == before+1
		})

		c.Net.Block(l.Peer, primary.Peer)
		if r := get(l); r.Status != http.StatusOK || string(r.Body) != "v1" {
			t.Fatalf("read at the leader with the primary cut off: %v, want 200 v1", r)
		}
		// The leader applies v2 to its own copy (backups first), then cannot
		// reach the primary: the outcome is unknown, and the primary's copy,
		// where reads elsewhere come from, may still say v1.
		if r := l.Do(http.MethodPut, path, []byte("v2")); r.Status < 500 {
			t.Fatalf("put v2 with the primary cut off: %v, want a 5xx", r)
		}
		before := localReads(t, l, "backup")
		if r := get(l); r.Status == http.StatusOK && string(r.Body) != "v1" {
			t.Fatalf("read at the leader after a write in doubt: %v; the primary holds v1", r)
		}
		if got := localReads(t, l, "backup"); got != before {
			t.Fatalf("the leader answered %v reads of a key in doubt from its own copy", got-before)
		}
		c.Net.Unblock(l.Peer, primary.Peer)

		// Whatever the primary serves, the leader serves the same.
		c.WaitFor(30*time.Second, "the leader and the primary agree", func() bool {
			a, b := get(l), get(primary)
			return a.Status == http.StatusOK && b.Status == http.StatusOK && string(a.Body) == string(b.Body)
		})
		if r := l.Do(http.MethodPut, path, []byte("v3")); r.Status != http.StatusOK {
			t.Fatalf("put v3: %v", r)
		}
		before = localReads(t, l, "backup")
		if r := get(l); r.Status != http.StatusOK || string(r.Body) != "v3" {
			t.Fatalf("read after v3: %v", r)
		}
		if got := localReads(t, l, "backup"); got != before+1 {
			t.Fatalf("after a write reached every replica the read was not local (%v local reads)", got-before)
		}
	})
}
