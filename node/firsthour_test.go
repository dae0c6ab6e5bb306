package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// clusterJSON is /v1/cluster as a client reads it.
type clusterJSON struct {
	Leader         uint64   `json:"leader"`
	Replicas       int      `json:"replicas"`
	ReplicasWanted int      `json:"replicas_wanted"`
	Mode           string   `json:"mode"`
	Warnings       []string `json:"warnings"`
	Nodes          []struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"nodes"`
}

func getCluster(t *testing.T, n *clustertest.Node) clusterJSON {
	t.Helper()
	r := n.Do(http.MethodGet, "/v1/cluster", nil)
	var ci clusterJSON
	if r.Status != 200 || json.Unmarshal(r.Body, &ci) != nil {
		t.Fatalf("GET /v1/cluster: %v", r)
	}
	return ci
}

// TestReadOnlySaysWhy kills two of four nodes, the leader among them: for
// as long as the cluster stays read-only, a write through either survivor
// is refused with the truth ("read-only: 2 of 4 members reachable, writes
// need a majority"), not "the new leader is still taking over"; /readyz
// says read-only, and /v1/cluster shows the mode with that warning.
func TestReadOnlySaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 4})
		settle(t, c)
		c.Kill(2)
		c.Kill(3) // the leader
		survivors := c.Nodes()
		var last clustertest.Response
		c.WaitFor(20*time.Second, "a read-only leader among the survivors", func() bool {
			last = survivors[0].Do(http.MethodPut, "/v1/kv/k", []byte("x"))
			return strings.Contains(string(last.Body), `"code":"read_only"`)
		})
		// It stays so, and says so through every survivor.
		for range 3 {
			time.Sleep(2 * time.Second) // virtual time: the refusal must last
			for _, n := range survivors {
				r := n.Do(http.MethodPut, "/v1/kv/k", []byte("x"))
				var e struct{ Error, Code string }
				if r.Status != 503 || json.Unmarshal(r.Body, &e) != nil || e.Code != "read_only" ||
					e.Error != "read-only: 2 of 4 members reachable, writes need a majority (3)" || r.Header.Get("Retry-After") == "" {
					t.Fatalf("write through node %d while read-only: %v", n.Index, r)
				}
			}
		}
		for _, n := range survivors {
			r := n.Do(http.MethodGet, "/readyz", nil)
			if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"read-only"`) || !strings.Contains(string(r.Body), "2 of 4 members reachable") {
				t.Fatalf("/readyz of node %d while read-only: %v", n.Index, r)
			}
			if r := n.Do(http.MethodGet, "/readyz?writes=1", nil); r.Status != 503 {
				t.Fatalf("/readyz?writes=1 of node %d while read-only: %v", n.Index, r)
			}
			ci := getCluster(t, n)
			if ci.Mode != "read-only" || !slices.Contains(ci.Warnings, "read-only: 2 of 4 members reachable, writes need a majority (3)") {
				t.Fatalf("/v1/cluster of node %d while read-only: mode %q, warnings %q", n.Index, ci.Mode, ci.Warnings)
			}
		}
	})
}

// TestReplicasWantedIsShown: --replicas 5 on a cluster of one keeps one
// copy, and /v1/cluster says "wanted 5, have 1"; a cluster that has what
// it wants says nothing.
func TestReplicasWantedIsShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 1, Replicas: 5})
		n := c.WaitLeader(30 * time.Second)
		ci := getCluster(t, n)
		if ci.Replicas != 1 || ci.ReplicasWanted != 5 || !slices.Contains(ci.Warnings, "replicas: wanted 5, have 1 (1 members)") || ci.Mode != "read-write" {
			t.Fatalf("one node with --replicas 5: %+v", ci)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Replicas: 2})
		ci := getCluster(t, settle(t, c))
		if ci.Replicas != 2 || ci.ReplicasWanted != 0 || len(ci.Warnings) != 0 {
			t.Fatalf("three nodes with --replicas 2: %+v", ci)
		}
	})
}

// TestNamesAreShown: each node's --name is listed next to its ID by
// /v1/cluster and /admin/status, on every node.
func TestNamesAreShown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(i int, cfg *node.Config) {
			cfg.Name = fmt.Sprintf("node-%d", i+1)
		}})
		settle(t, c)
		want := map[uint64]string{}
		for _, n := range c.Nodes() {
			want[uint64(n.ID())] = fmt.Sprintf("node-%d", n.Index+1)
		}
		c.WaitFor(10*time.Second, "every node to know every name", func() bool {
			for _, n := range c.Nodes() {
				st := n.Status()
				if st.Name != want[uint64(n.ID())] || len(st.Members) != 3 {
					return false
				}
				for _, m := range st.Members {
					if m.Name != want[uint64(m.ID)] {
						return false
					}
				}
			}
			return true
		})
		for _, n := range c.Nodes() {
			ci := getCluster(t, n)
			for _, ni := range ci.Nodes {
				if ni.Name != want[ni.ID] {
					t.Fatalf("/v1/cluster of node %d names %d %q, want %q", n.Index, ni.ID, ni.Name, want[ni.ID])
				}
			}
		}
	})
	cfg := node.DefaultConfig("10.0.0.1:7070")
	for _, bad := range []string{"a b", "née", strings.Repeat("n", 64)} {
		cfg.Name = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--name") {
			t.Fatalf("name %q: %v, want a refusal naming --name", bad, err)
		}
	}
}

// TestRemoveDeadMember: a dead member is listed until it is removed; the
// removal (asked of a follower, which asks the leader) re-replicates its
// copies, keeps every key readable, and is refused for a live member or
// a node that is no member.
func TestRemoveDeadMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 4, Replicas: 2})
		l := settle(t, c)
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = fmt.Sprintf("r-%d", i)
		}
		writeAll(t, c.Nodes(), keys, "kept", 5*time.Second)
		dead := c.Node(0)
		deadID := dead.ID()
		c.Kill(0)
		follower := c.Node(1)
		if err := follower.RemoveMember(t.Context(), c.Node(2).ID()); !errors.Is(err, wire.ErrBadRequest) {
			t.Fatalf("removing a live member: %v, want a bad request", err)
		}
		c.WaitFor(10*time.Second, "the killed node to be seen dead", func() bool {
			for _, m := range follower.Status().Members {
				if m.ID == deadID {
					return m.State == "dead"
				}
			}
			return false
		})
		time.Sleep(10 * time.Second) // virtual time: dead members stay listed without a removal
		if !memberOf(getCluster(t, l), uint64(deadID)) {
			t.Fatal("the dead member left the cluster by itself")
		}
		r := follower.Do(http.MethodDelete, fmt.Sprintf("/v1/cluster/members/%d", deadID), nil)
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE the dead member through a follower: %v", r)
		}
		for _, n := range c.Nodes() {
			c.WaitFor(10*time.Second, "every node to drop the member", func() bool { return !memberOf(getCluster(t, n), uint64(deadID)) })
		}
		c.WaitFor(20*time.Second, "a ready cluster of three", c.AllReady)
		for _, k := range keys {
			if g := l.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != 200 || string(g.Body) != "kept" {
				t.Fatalf("key %s after the removal: %v", k, g)
			}
		}
		if err := l.RemoveMember(t.Context(), deadID); !errors.Is(err, wire.ErrNotFound) {
			t.Fatalf("removing it again: %v, want not found", err)
		}
		if err := l.RemoveMember(t.Context(), l.ID()); !errors.Is(err, wire.ErrBadRequest) {
			t.Fatalf("removing the leader itself: %v, want a bad request", err)
		}
		if err := l.RemoveMember(t.Context(), shard.NodeID(12345)); !errors.Is(err, wire.ErrNotFound) {
			t.Fatalf("removing a stranger: %v, want not found", err)
		}
	})
}

func memberOf(ci clusterJSON, id uint64) bool {
	return slices.ContainsFunc(ci.Nodes, func(n struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	}) bool {
		return n.ID == id
	})
}
