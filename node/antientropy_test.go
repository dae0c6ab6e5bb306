package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
)

// converged reports whether every replica of every bucket has the same
// digest, and returns the number of buckets that differ.
func converged(c *clustertest.Cluster, buckets int) int {
	l := c.Leader()
	if l == nil {
		return -1
	}
	st := l.Placement()
	differ := 0
	for b := range buckets {
		var first uint64
		for i, id := range st.Table.Replicas(b) {
			n := c.ByID(id)
			if n == nil {
				continue
			}
			if d := n.Store().Digest(b); i == 0 {
				first = d
			} else if d != first {
				differ++
				break
			}
		}
	}
	return differ
}

// TestAntiEntropyRepairsDivergence makes replicas diverge the ways real
// faults do, in both directions: a backup that missed writes (whole
// buckets), a backup that missed deletes (it still holds the old value),
// and a primary that missed the last write of keys its backup took (a
// write that timed out). Anti-entropy must repair all of it within two
// sync intervals, no deleted key may come back, and the tombstones are
// purged once every replica has them.
func TestAntiEntropyRepairsDivergence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 64
		const syncEvery = 5 * time.Second
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets})
		l := settle(t, c)
		st := l.Placement()
		keys := make([]string, 200)
		for i := range keys {
			keys[i] = fmt.Sprintf("ae-%d", i)
		}
		writeAll(t, c.Nodes(), keys, "v1", 5*time.Second)
		deleted := keys[:40]
		for _, k := range deleted {
			if r := l.Do(http.MethodDelete, "/v1/kv/"+k, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete %s: %v", k, r)
			}
		}
		live := keys[40:]
		// Acknowledged writes are on every replica already: nothing differs.
		time.Sleep(100 * time.Millisecond)
		if d := converged(c, buckets); d != 0 {
			t.Fatalf("%d buckets differ before any fault", d)
		}

		backupOf := func(k string) (*clustertest.Node, *clustertest.Node, int) {
			b := shard.BucketOf(k, buckets)
			reps := st.Table.Replicas(b)
			return c.ByID(reps[0]), c.ByID(reps[1]), b
		}
		// 1. A backup missed every write of three buckets.
		dropped := map[int]bool{}
		for _, k := range live {
			if _, bk, b := backupOf(k); len(dropped) < 3 && !dropped[b] {
				bk.Store().Drop(b)
				dropped[b] = true
			}
		}
		// 2. A backup missed deletes: it holds the value from before.
		for _, k := range deleted[:20] {
			p, bk, b := backupOf(k)
			tomb, _ := p.Store().Get(b, k)
			if !tomb.Deleted {
				t.Fatalf("%s is not a tombstone on its primary", k)
			}
			bk.Store().Drop(b) // forget the bucket's tombstones ...
			for _, e := range fullBucket(p, b) {
				if e.Key == k {
					e = store.Entry{Key: k, Value: []byte("v1"), Version: store.Version{Term: tomb.Version.Term, Seq: tomb.Version.Seq - 1}}
				}
				bk.Store().Apply(b, e) // ... and put back the rest, with k live at an older version
			}
		}
		// 3. A primary missed the newest write of keys its backup took.
		newer := live[100:120]
		for _, k := range newer {
			p, bk, b := backupOf(k)
			cur, _ := p.Store().Get(b, k)
			bk.Store().Apply(b, store.Entry{Key: k, Value: []byte("v2"), Version: store.Version{Term: cur.Version.Term, Seq: cur.Version.Seq + 1_000_000}})
		}
		if d := converged(c, buckets); d == 0 {
			t.Fatal("the faults made no replica differ")
		}

		start := time.Now()
		for converged(c, buckets) != 0 {
			if time.Since(start) > 2*syncEvery {
				t.Fatalf("%d buckets still differ two sync intervals after the faults", converged(c, buckets))
			}
			for _, n := range c.Nodes() {
				for _, k := range deleted {
					if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != http.StatusNotFound {
						t.Fatalf("deleted %s came back via node %d: %v", k, n.Index, g)
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("replicas converged %v after the faults (sync interval %v)", time.Since(start), syncEvery)
		for _, n := range c.Nodes() {
			for _, k := range deleted {
				if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != http.StatusNotFound {
					t.Fatalf("deleted %s came back via node %d: %v", k, n.Index, g)
				}
			}
			for _, k := range live {
				want := "v1"
				if contains(newer, k) {
					want = "v2"
				}
				if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != 200 || string(g.Body) != want {
					t.Fatalf("%s via node %d: %v, want %s", k, n.Index, g, want)
				}
			}
		}
		// Tombstones go once every replica has held them for a round.
		c.WaitFor(4*syncEvery, "tombstones purged on every node", func() bool {
			for _, n := range c.Nodes() {
				if n.Store().Stats().Tombstones != 0 {
					return false
				}
			}
			return true
		})
		for _, n := range c.Nodes() {
			for _, k := range deleted {
				if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != http.StatusNotFound {
					t.Fatalf("deleted %s came back after the purge via node %d: %v", k, n.Index, g)
				}
			}
		}
	})
}

func fullBucket(n *clustertest.Node, b int) []store.Entry {
	var out []store.Entry
	after := ""
	for {
		es, more := n.Store().Range(b, after, 1<<20)
		out = append(out, es...)
		if !more || len(es) == 0 {
			return out
		}
		after = es[len(es)-1].Key
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
