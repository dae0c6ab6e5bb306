package node_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
)

// TestMaxMemoryRefusesGrowthAndRecovers fills a cluster whose nodes may
// hold 256 KiB each: writes past the limit get 507 and leave nothing
// behind, every acknowledged key stays readable, deletes go on, and once
// they have freed space writes are accepted again.
func TestMaxMemoryRefusesGrowthAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 256 << 10
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) {
			cfg.MaxMemory = limit
		}})
		settle(t, c)
		value := []byte(strings.Repeat("x", 1000))
		var acked []string
		refused := 0
		for i := 0; i < 2000 && refused < 50; i++ {
			k := fmt.Sprintf("fill-%04d", i)
			switch r := c.Nodes()[i%3].Do(http.MethodPut, "/v1/kv/"+k, value); r.Status {
			case 200:
				acked = append(acked, k)
			case http.StatusInsufficientStorage:
				refused++
				if !strings.Contains(string(r.Body), "insufficient_storage") {
					t.Fatalf("507 body: %s", r.Body)
				}
				if g := c.Nodes()[0].Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != http.StatusNotFound {
					t.Fatalf("a refused write left %s behind: %v", k, g)
				}
			default:
				t.Fatalf("PUT %s: %v", k, r)
			}
			time.Sleep(time.Millisecond) // a client's pace: heartbeats report the fill as it grows
		}
		if refused == 0 {
			t.Fatalf("%d writes of 1000 bytes were all accepted under a %d-byte limit", len(acked), limit)
		}
		for _, n := range c.Nodes() {
			st := n.Status()
			t.Logf("node %d holds %d bytes of data (limit %d)", n.Index, st.MemoryUsed, st.MemoryLimit)
			if st.MemoryUsed > limit*3/2 {
				t.Fatalf("node %d holds %d bytes, past 1.5x its limit", n.Index, st.MemoryUsed)
			}
		}
		checkEveryNode(t, c, func() map[string]string {
			m := map[string]string{}
			for _, k := range acked {
				m[k] = string(value)
			}
			return m
		}(), nil)
		// Deletes go on, and free space for writes again.
		for _, k := range acked[:len(acked)/2] {
			if r := c.Nodes()[0].Do(http.MethodDelete, "/v1/kv/"+k, nil); r.Status != http.StatusNoContent {
				t.Fatalf("DELETE %s at the limit: %v", k, r)
			}
		}
		c.WaitFor(10*time.Second, "writes accepted again once space was freed", func() bool {
			return c.Nodes()[1].Do(http.MethodPut, "/v1/kv/after", value).Status == 200
		})
	})
}

// TestHeapGuardRefusesGrowth: a node whose Go heap is at Config.MaxHeap
// refuses writes that would grow its data, whatever its data limit says,
// and still takes deletes; a guard above the heap refuses nothing.
func TestHeapGuardRefusesGrowth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) {
			cfg.MaxHeap = 1 << 50
		}})
		settle(t, c)
		if r := c.Nodes()[0].Do(http.MethodPut, "/v1/kv/before", []byte("v")); r.Status != 200 {
			t.Fatalf("PUT under a heap guard far above the heap: %v", r)
		}
		c.Stop()
	})
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) {
			cfg.MaxHeap = 1 // every heap is past it
		}})
		settle(t, c)
		r := c.Nodes()[1].Do(http.MethodPut, "/v1/kv/grow", []byte("v"))
		if r.Status != http.StatusInsufficientStorage || !strings.Contains(string(r.Body), "insufficient_storage") {
			t.Fatalf("PUT with every node's heap at its guard: %v, want 507", r)
		}
		if g := c.Nodes()[0].Do(http.MethodGet, "/v1/kv/grow", nil); g.Status != http.StatusNotFound {
			t.Fatalf("a refused write left its key behind: %v", g)
		}
		if d := c.Nodes()[2].Do(http.MethodDelete, "/v1/kv/grow", nil); d.Status >= 500 {
			t.Fatalf("DELETE with every node's heap at its guard: %v", d)
		}
	})
}
