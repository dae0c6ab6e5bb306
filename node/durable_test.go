package node_test

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/wal"
)

// loadAndDelete writes n keys through every node in turn and deletes every
// fifth; it returns the keys that must read back and those that must not.
func loadAndDelete(t *testing.T, c *clustertest.Cluster, prefix string, n int) (live map[string]string, deleted []string) {
	t.Helper()
	live = map[string]string{}
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("%s-%d", prefix, i))
	}
	writeAll(t, c.Nodes(), keys, "v1", 10*time.Second)
	for i, k := range keys {
		if i%5 == 0 {
			c.WaitFor(10*time.Second, "deleting "+k, func() bool {
				st := c.Nodes()[i%len(c.Nodes())].Do(http.MethodDelete, "/v1/kv/"+k, nil).Status
				return st == http.StatusNoContent || st == http.StatusNotFound
			})
			deleted = append(deleted, k)
			continue
		}
		live[k] = "v1"
	}
	return live, deleted
}

// checkEveryNode reads every key through every node.
func checkEveryNode(t *testing.T, c *clustertest.Cluster, live map[string]string, deleted []string) {
	t.Helper()
	for _, n := range c.Nodes() {
		for k, v := range live {
			if r := n.Do(http.MethodGet, "/v1/kv/"+k, nil); r.Status != 200 || string(r.Body) != v {
				t.Fatalf("%s via node %d: %v, want %q", k, n.Index, r, v)
			}
		}
		for _, k := range deleted {
			if r := n.Do(http.MethodGet, "/v1/kv/"+k, nil); r.Status != http.StatusNotFound {
				t.Fatalf("deleted %s via node %d: %v, want 404", k, n.Index, r)
			}
		}
	}
}

// TestWholeClusterRestartKeepsEveryKey stops every node at once (nothing
// handed off) and starts them all again from their data directories: the
// same leader is elected as usual, and every acknowledged key reads back,
// deleted keys still deleted, from every node.
func TestWholeClusterRestartKeepsEveryKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Durable: true})
		settle(t, c)
		live, deleted := loadAndDelete(t, c, "whole", 300)
		ids := map[int]uint64{}
		for _, n := range c.Nodes() {
			ids[n.Index] = uint64(n.ID())
		}
		for i := range 3 {
			c.Kill(i)
		}
		for i := range 3 {
			if n := c.Restart(i); uint64(n.ID()) != ids[i] {
				t.Fatalf("node %d came back as %d, was %d", i, n.ID(), ids[i])
			}
		}
		settle(t, c)
		checkEveryNode(t, c, live, deleted)
	})
}

// TestWholeClusterRestartEverysec is the whole-cluster restart under
// --fsync everysec, where a replica writes a replicated entry to its log
// on the connection's reader (persist.TryAppend) rather than on a
// goroutine of its own: every acknowledged key still reads back.
func TestWholeClusterRestartEverysec(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Durable: true,
			Configure: func(_ int, cfg *node.Config) { cfg.Fsync = wal.FsyncEverySec }})
		settle(t, c)
		live, deleted := loadAndDelete(t, c, "everysec", 300)
		for i := range 3 {
			c.Kill(i)
		}
		for i := range 3 {
			c.Restart(i)
		}
		settle(t, c)
		checkEveryNode(t, c, live, deleted)
	})
}

// TestRestartedNodeKeepsItsCopies restarts one node before it counts as
// dead: it comes back with the same incarnation, so its copies count, and
// it copies nothing to be in sync again.
func TestRestartedNodeKeepsItsCopies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Durable: true})
		l := settle(t, c)
		live, deleted := loadAndDelete(t, c, "quick", 200)
		f := c.Followers(l)[0]
		inc := f.Status().Incarnation
		c.Kill(f.Index)
		back := c.Restart(f.Index)
		if st := back.Status(); st.Incarnation != inc || st.Keys == 0 {
			t.Fatalf("restarted with incarnation %d (was %d) and %d keys", st.Incarnation, inc, st.Keys)
		}
		settle(t, c)
		checkEveryNode(t, c, live, deleted)
		if copied := counterValue(t, back, "jumpkv_fill_copied_bytes_total"); copied != 0 {
			t.Fatalf("the restarted node copied %v bytes; its copies were current", copied)
		}
	})
}

// TestLongAbsenceCopiesOnlyWhatChanged keeps a node down past dead-after,
// so its buckets are re-replicated, writes meanwhile, then restarts it:
// placed back, it copies the changed keys (and compares key versions), a
// small fraction of a full copy, and deleted keys stay deleted.
func TestLongAbsenceCopiesOnlyWhatChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Durable: true})
		l := settle(t, c)
		value := string(make([]byte, 1000))
		keys := make([]string, 600)
		for i := range keys {
			keys[i] = fmt.Sprintf("long-%d", i)
		}
		writeAll(t, c.Nodes(), keys, value, 20*time.Second)
		f := c.Followers(l)[0]
		full := f.Status().Keys * int64(len(value))
		c.Kill(f.Index)
		time.Sleep(3 * node.DefaultConfig("x:1").DeadAfter)
		c.WaitFor(30*time.Second, "the dead node's buckets re-replicated", func() bool {
			st := c.Leader().Placement()
			p, b := st.Table.Counts(f.ID())
			return p+b == 0
		})
		changed := keys[:30]
		writeAll(t, c.Nodes(), changed, "v2", 10*time.Second)
		back := c.Restart(f.Index)
		c.WaitFor(60*time.Second, "the restarted node placed back and in sync", func() bool {
			st := back.Status()
			return st.InSync && st.BucketsPrimary+st.BucketsBackup > 0 && c.AllReady()
		})
		copied := counterValue(t, back, "jumpkv_fill_copied_bytes_total")
		t.Logf("catch-up copied %.0f bytes; a full copy of the node's data is %d bytes", copied, full)
		if copied == 0 || copied > float64(full)/5 {
			t.Fatalf("catch-up copied %.0f bytes of %d", copied, full)
		}
		live := map[string]string{}
		for _, k := range keys {
			live[k] = value
		}
		for _, k := range changed {
			live[k] = "v2"
		}
		checkEveryNode(t, c, live, nil)
	})
}

// TestFullDiskAnswers507AndRecovers fills every node's disk: writes are
// refused with 507 while reads go on, and once space is back writes are
// accepted again, with no node down.
func TestFullDiskAnswers507AndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		disks := make([]*wal.FaultFS, 3)
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Durable: true, Configure: func(i int, cfg *node.Config) {
			disks[i] = wal.NewFaultFS(wal.OSFS{})
			cfg.DataFS = disks[i]
		}})
		l := settle(t, c)
		if r := l.Do(http.MethodPut, "/v1/kv/before", []byte("1")); r.Status != 200 {
			t.Fatalf("PUT before: %v", r)
		}
		for _, d := range disks {
			d.FailWrites(syscall.ENOSPC)
		}
		for _, n := range c.Nodes() {
			r := n.Do(http.MethodPut, "/v1/kv/during", []byte("2"))
			if r.Status != http.StatusInsufficientStorage {
				t.Fatalf("PUT on full disks via node %d: %v, want 507", n.Index, r)
			}
			if r := n.Do(http.MethodGet, "/v1/kv/before", nil); r.Status != 200 || string(r.Body) != "1" {
				t.Fatalf("GET on full disks via node %d: %v", n.Index, r)
			}
		}
		for _, d := range disks {
			d.FailWrites(nil)
		}
		c.WaitFor(10*time.Second, "writes accepted again", func() bool {
			return l.Do(http.MethodPut, "/v1/kv/after", []byte("3")).Status == 200
		})
		checkEveryNode(t, c, map[string]string{"before": "1", "after": "3"}, nil)
	})
}
