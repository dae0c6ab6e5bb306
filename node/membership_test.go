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
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// checkBalanced checks a committed state's shape: every bucket has
// `replicas` distinct member replicas, primaries per node differ by at most
// one, and copies per node too.
func checkBalanced(t *testing.T, st *wire.ClusterState) {
	t.Helper()
	prim, copies := map[shard.NodeID]int{}, map[shard.NodeID]int{}
	for _, m := range st.Members {
		prim[m.ID], copies[m.ID] = 0, 0
	}
	for b, reps := range st.Table.Buckets {
		if len(reps) != st.Replicas {
			t.Fatalf("bucket %d has %d replicas, want %d", b, len(reps), st.Replicas)
		}
		seen := map[shard.NodeID]bool{}
		for i, id := range reps {
			if _, ok := prim[id]; !ok || seen[id] {
				t.Fatalf("bucket %d replicas %v: not distinct members", b, reps)
			}
			seen[id] = true
			copies[id]++
			if i == 0 {
				prim[id]++
			}
		}
	}
	spread := func(m map[shard.NodeID]int) int {
		lo, hi := 1<<30, 0
		for _, v := range m {
			lo, hi = min(lo, v), max(hi, v)
		}
		return hi - lo
	}
	if spread(prim) > 1 || spread(copies) > 1 {
		t.Fatalf("unbalanced: primaries %v, copies %v", prim, copies)
	}
}

// waitEpochChange waits until the leader has committed a state other than
// the one at epoch, with every node ready, and returns it.
func waitEpochChange(t *testing.T, c *clustertest.Cluster, epoch uint64, members int) *wire.ClusterState {
	t.Helper()
	var st *wire.ClusterState
	c.WaitFor(30*time.Second, fmt.Sprintf("a placement with %d members, every node ready", members), func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		st = l.Placement()
		if st == nil || st.Table.Epoch == epoch || len(st.Members) != members {
			return false
		}
		for _, n := range c.Nodes() {
			if ok, _ := n.Ready(); !ok {
				return false
			}
		}
		return true
	})
	return st
}

// TestJoinAndLeaveMoveNoMoreThanNeeded grows a loaded cluster by one node
// and shrinks it again by a graceful leave, with fixed and auto replicas:
// the bucket copies moved are at most the newcomer's even share on a join,
// at most the leaver's copies on a leave, the result is balanced, and no
// key is lost.
func TestJoinAndLeaveMoveNoMoreThanNeeded(t *testing.T) {
	for _, replicas := range []int{2, 0} {
		t.Run(fmt.Sprintf("replicas-%d", replicas), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const buckets = 1024
				c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, Replicas: replicas})
				l := settle(t, c)
				keys := make([]string, 500)
				for i := range keys {
					keys[i] = fmt.Sprintf("j-%d", i)
				}
				writeAll(t, c.Nodes(), keys, "v", 5*time.Second)
				before := l.Placement()

				joined := c.Add()
				after := waitEpochChange(t, c, before.Table.Epoch, 4)
				checkBalanced(t, after)
				moved := len(shard.Moves(before.Table, after.Table))
				share := (buckets*after.Replicas + 3) / 4
				ideal := share // the newcomer's even share
				if after.Replicas > before.Replicas {
					ideal = buckets * (after.Replicas - before.Replicas) // every new copy is a move
				}
				t.Logf("join (replicas %d->%d): moved %d bucket copies, ideal %d (newcomer's share %d)",
					before.Replicas, after.Replicas, moved, ideal, share)
				if moved > ideal {
					t.Fatalf("join moved %d copies, more than the %d needed", moved, ideal)
				}
				p, _ := after.Table.Counts(joined.ID())
				if p < buckets/4 {
					t.Fatalf("the newcomer is primary of %d buckets, want its share", p)
				}
				readAll(t, c, keys, "v")
				waitNoStrayCopies(t, c)

				// The newcomer has the highest ID: it takes over as leader.
				settle(t, c)
				before = c.Leader().Placement()
				leaver := c.Nodes()[0]
				lp, lb := before.Table.Counts(leaver.ID())
				if err := c.Leave(leaver.Index, 30*time.Second); err != nil {
					t.Fatalf("leave: %v", err)
				}
				after = waitEpochChange(t, c, before.Table.Epoch, 3)
				checkBalanced(t, after)
				moved = len(shard.Moves(before.Table, after.Table))
				ideal = lp + lb
				if after.Replicas < before.Replicas {
					ideal = 0 // replicas auto shrinks: the others already hold enough copies
				}
				t.Logf("leave (replicas %d->%d): moved %d bucket copies, ideal %d (the leaver held %d)",
					before.Replicas, after.Replicas, moved, ideal, lp+lb)
				if moved > lp+lb {
					t.Fatalf("leave moved %d copies, more than the %d the leaver held", moved, lp+lb)
				}
				readAll(t, c, keys, "v")
				waitNoStrayCopies(t, c)
			})
		})
	}
}

// waitNoStrayCopies waits until no node keeps data of a bucket the
// placement does not give it (dropped once it learns the commit).
func waitNoStrayCopies(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	c.WaitFor(10*time.Second, "every node to hold only the buckets it is assigned", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		st := l.Placement()
		for _, n := range c.Nodes() {
			for b := range len(st.Table.Buckets) {
				if !st.Table.Holds(b, n.ID()) && n.Store().BucketStats(b) != (store.Stats{}) {
					return false
				}
			}
		}
		return true
	})
}

func readAll(t *testing.T, c *clustertest.Cluster, keys []string, want string) {
	t.Helper()
	for _, n := range c.Nodes() {
		for _, k := range keys {
			if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != 200 || string(g.Body) != want {
				t.Fatalf("%s via node %d: %v", k, n.Index, g)
			}
		}
	}
}

// TestDeadNodeIsReplaced kills a follower and checks its buckets are
// re-replicated: every bucket again has the replicas in effect, all on
// live nodes, and every key is readable.
func TestDeadNodeIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 5, Buckets: 256})
		l := settle(t, c)
		keys := make([]string, 300)
		for i := range keys {
			keys[i] = fmt.Sprintf("d-%d", i)
		}
		writeAll(t, c.Nodes(), keys, "v", 5*time.Second)
		before := l.Placement()
		victim := c.Followers(l)[0]
		c.Kill(victim.Index)
		var after *wire.ClusterState
		c.WaitFor(10*time.Second, "a placement without the dead node", func() bool {
			after = l.Placement()
			for _, reps := range after.Table.Buckets {
				for _, id := range reps {
					if id == victim.ID() {
						return false
					}
				}
			}
			return true
		})
		if len(after.Members) != 5 {
			t.Fatalf("the dead node must stay a member (it counts toward the majority): %d members", len(after.Members))
		}
		live := 0
		for _, reps := range after.Table.Buckets {
			if len(reps) == after.Replicas {
				live++
			}
		}
		if after.Replicas != 3 || live != len(after.Table.Buckets) {
			t.Fatalf("replicas %d (auto for 4 live of 5 wants 3), %d of %d buckets full", after.Replicas, live, len(after.Table.Buckets))
		}
		t.Logf("dead node's %d copies re-replicated: moved %d", len(before.Table.Buckets), len(shard.Moves(before.Table, after.Table)))
		readAll(t, c, keys, "v")
		waitNoStrayCopies(t, c)
	})
}

// TestRestartedNodeComesBackEmpty restarts nodes with their old IDs before
// they are declared dead: a follower, then the leader (the highest ID).
// The cluster must not count them as holding their old buckets until they
// are refilled, the restarted leader must not lead from its empty memory,
// and no key is lost.
func TestRestartedNodeComesBackEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: 256})
		l := settle(t, c)
		keys := make([]string, 300)
		for i := range keys {
			keys[i] = fmt.Sprintf("r-%d", i)
		}
		writeAll(t, c.Nodes(), keys, "v", 5*time.Second)
		for _, which := range []string{"follower", "leader"} {
			l = settle(t, c)
			victim := l
			if which == "follower" {
				victim = c.Followers(l)[0]
			}
			c.Kill(victim.Index)
			back := c.Restart(victim.Index)
			if st := back.Store().Stats(); st.Keys != 0 {
				t.Fatalf("a restarted node holds %d keys", st.Keys)
			}
			// While it refills, every key stays readable and writable
			// through the others, and it is not counted as a holder with
			// its new incarnation until its buckets are filled.
			c.WaitFor(30*time.Second, "the restarted node refilled and recognised", func() bool {
				ok, _ := back.Ready()
				return ok
			})
			readAll(t, c, keys, "v")
			settle(t, c)
			if got := back.Status().Keys; got == 0 {
				t.Fatalf("restarted %s holds no keys after refilling", which)
			}
		}
		writeAll(t, c.Nodes(), keys, "v2", 5*time.Second)
		readAll(t, c, keys, "v2")
	})
}

// TestBucketCountMismatchRefused starts a node with another --buckets: it
// is refused and the cluster carries on without it.
func TestBucketCountMismatchRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: 64, Configure: func(i int, cfg *node.Config) {
			if i == 3 {
				cfg.Buckets = 128
			}
		}})
		l := settle(t, c)
		odd := c.Add()
		time.Sleep(10 * time.Second)
		if st := odd.Status(); st.Epoch != 0 || st.InSync {
			t.Fatalf("a node with another bucket count joined: %+v", st)
		}
		if st := l.Placement(); len(st.Members) != 3 || l.Status().Role != "leader" {
			t.Fatalf("members %d after a refused join", len(st.Members))
		}
	})
}

// TestNodesStartedTogetherOnADNSNameFormOneCluster: five nodes start at
// once with --join naming a DNS name that, for its first moments, lists
// each node alone (a Swarm service or headless Kubernetes Service whose
// other tasks are not registered yet). They must wait for the name to
// settle and form one cluster, not five of one node.
func TestNodesStartedTogetherOnADNSNameFormOneCluster(t *testing.T) {
	const nodes = 5
	var all []string
	for i := range nodes {
		all = append(all, clustertest.PeerAddr(i))
	}
	start := time.Now()
	c := clustertest.Start(t, clustertest.Options{Nodes: nodes, DeadAfter: 500 * time.Millisecond,
		Configure: func(i int, cfg *node.Config) {
			self := cfg.PeerAddr
			cfg.Join = []string{"peers.test:7070"}
			cfg.Resolve = func(host string) ([]string, error) {
				if host != "peers.test" {
					return nil, fmt.Errorf("no such host %q", host)
				}
				if time.Since(start) < 300*time.Millisecond {
					return []string{strings.TrimSuffix(self, ":7070")}, nil
				}
				var hosts []string
				for _, a := range all {
					hosts = append(hosts, strings.TrimSuffix(a, ":7070"))
				}
				return hosts, nil
			}
		}})
	l := c.WaitLeader(30 * time.Second)
	st := l.Placement()
	if st == nil || len(st.Members) != nodes {
		var members []string
		if st != nil {
			for _, m := range st.Members {
				members = append(members, m.Peer)
			}
		}
		t.Fatalf("the leader's cluster has members %v, want all %d nodes", members, nodes)
	}
}

// TestJoinNameResolvingLateFormsOneCluster starts three nodes whose one
// --join entry is a DNS name that does not resolve for their first
// seconds, as a Kubernetes headless service's name does while its
// records catch up with the pods: they must wait for it and form one
// cluster, not each a cluster of one.
func TestJoinNameResolvingLateFormsOneCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(i int, cfg *node.Config) {
			cfg.Join = []string{"peers:7070"}
			cfg.Resolve = func(host string) ([]string, error) {
				if host != "peers" || time.Since(start) < 5*time.Second {
					return nil, fmt.Errorf("lookup %s: no such host", host)
				}
				return addrs, nil
			}
		}})
		l := settle(t, c)
		for _, n := range c.Nodes() {
			if st := n.Placement(); st == nil || len(st.Members) != 3 || n.Leader() != l.ID() {
				t.Fatalf("node %d: not in the one cluster of 3 led by %d: %+v", n.Index, l.ID(), n.Status())
			}
		}
	})
}

// TestJoinNameThatNeverResolvesDoesNotBlockTheOthers: a join list names
// three hosts, and the third's DNS entry is gone for good. The two others
// must still form a cluster (the missing one counts as a node that has not
// answered), not wait for it forever.
func TestJoinNameThatNeverResolvesDoesNotBlockTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hosts := map[string]string{"db1": "10.0.0.1", "db2": "10.0.0.2"}
		c := clustertest.Start(t, clustertest.Options{Nodes: 2, Configure: func(i int, cfg *node.Config) {
			cfg.Join = []string{"db1:7070", "db2:7070", "db3:7070"}
			cfg.Resolve = func(host string) ([]string, error) {
				if ip, ok := hosts[host]; ok {
					return []string{ip}, nil
				}
				return nil, fmt.Errorf("lookup %s: no such host", host)
			}
		}})
		l := settle(t, c)
		if st := l.Placement(); st == nil || len(st.Members) != 2 {
			t.Fatalf("the two resolvable nodes did not form one cluster of 2: %+v", l.Status())
		}
	})
}
