package node_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
)

// holders counts the running nodes whose store holds key (live).
func holders(c *clustertest.Cluster, key string, buckets int) []shard.NodeID {
	b := shard.BucketOf(key, buckets)
	var out []shard.NodeID
	for _, n := range c.Nodes() {
		if e, ok := n.Store().Get(b, key); ok && !e.Deleted {
			out = append(out, n.ID())
		}
	}
	return out
}

// TestWriteThroughFollowerIsOnExactlyReplicas checks G1's shape: by the
// time a write through a follower is acknowledged, it is on every replica
// of its bucket and on no other node.
func TestWriteThroughFollowerIsOnExactlyReplicas(t *testing.T) {
	cases := []struct {
		nodes, replicas, want int
	}{
		{3, 0, 2}, // auto: floor(3/2)+1
		{5, 0, 3}, // auto
		{4, 0, 3}, // auto
		{5, 2, 2}, // fixed
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-nodes-replicas-%d", tc.nodes, tc.replicas), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := clustertest.Start(t, clustertest.Options{Nodes: tc.nodes, Replicas: tc.replicas})
				l := c.WaitLeader(30 * time.Second)
				fs := c.Followers(l)
				for i := range 40 {
					key := fmt.Sprintf("k%d", i)
					r := fs[i%len(fs)].Do(http.MethodPut, "/v1/kv/"+key, []byte("v"))
					if r.Status != http.StatusOK {
						t.Fatalf("put %s: %v", key, r)
					}
					// Checked right after the 2xx, before any background work.
					h := holders(c, key, 64)
					if len(h) != tc.want {
						t.Fatalf("%s is on %d nodes %v after the ack, want %d", key, len(h), h, tc.want)
					}
					if ci, _ := l.Cluster(t.Context()); ci.Replicas != tc.want {
						t.Fatalf("/v1/cluster says replicas %d, want %d", ci.Replicas, tc.want)
					}
				}
			})
		})
	}
}

// TestConcurrentCreatesOneWins races 20 conditional creates of one key
// through every node: exactly one succeeds.
func TestConcurrentCreatesOneWins(t *testing.T) {
	for _, style := range []string{"if-none-match", "post"} {
		t.Run(style, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := clustertest.Start(t, clustertest.Options{Nodes: 3})
				c.WaitLeader(30 * time.Second)
				nodes := c.Nodes()
				var wg sync.WaitGroup
				statuses := make([]int, 20)
				for i := range statuses {
					wg.Go(func() {
						n := nodes[i%len(nodes)]
						body := []byte(fmt.Sprintf("writer-%d", i))
						var r clustertest.Response
						if style == "post" {
							r = n.Do(http.MethodPost, "/v1/kv/race", body)
						} else {
							r = n.Do(http.MethodPut, "/v1/kv/race", body, "If-None-Match", "*")
						}
						statuses[i] = r.Status
					})
				}
				wg.Wait()
				wins, losses := 0, 0
				okStatus, lostStatus := http.StatusOK, http.StatusPreconditionFailed
				if style == "post" {
					okStatus, lostStatus = http.StatusCreated, http.StatusConflict
				}
				for _, s := range statuses {
					switch s {
					case okStatus:
						wins++
					case lostStatus:
						losses++
					}
				}
				if wins != 1 || losses != 19 {
					t.Fatalf("statuses %v: %d wins, %d losses; want 1 and 19", statuses, wins, losses)
				}
				g := nodes[0].Do(http.MethodGet, "/v1/kv/race", nil)
				if g.Status != http.StatusOK || !strings.HasPrefix(string(g.Body), "writer-") {
					t.Fatalf("get after the race: %v", g)
				}
			})
		})
	}
}

// TestConcurrentAppendsAllLand sends 60 appends through every node at
// once: each lands exactly once.
func TestConcurrentAppendsAllLand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		c.WaitLeader(30 * time.Second)
		nodes := c.Nodes()
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				r := nodes[i%len(nodes)].Do(http.MethodPost, "/v1/kv/log?op=append", []byte{'a' + byte(i%26)})
				if r.Status != http.StatusOK {
					t.Errorf("append %d: %v", i, r)
				}
			})
		}
		wg.Wait()
		g := nodes[1].Do(http.MethodGet, "/v1/kv/log", nil)
		if g.Status != http.StatusOK || len(g.Body) != 60 {
			t.Fatalf("after 60 appends: %d bytes, %v", len(g.Body), g)
		}
		counts := map[byte]int{}
		for _, b := range g.Body {
			counts[b]++
		}
		for i := range 60 {
			counts['a'+byte(i%26)]--
		}
		for b, n := range counts {
			if n != 0 {
				t.Fatalf("byte %q appears %d times too many", b, n)
			}
		}
	})
}
