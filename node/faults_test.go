package node_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// ackedWrite is a write a client saw acknowledged.
type ackedWrite struct {
	key, value     string
	version        string
	invoked, acked time.Time
}

// writer writes distinct keys through the given nodes until stop closes,
// recording every acknowledged write.
type writer struct {
	mu    sync.Mutex
	acked []ackedWrite
	tried int
}

func (w *writer) run(nodes func() []*clustertest.Node, prefix string, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ns := nodes()
		n := ns[i%len(ns)]
		key := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		r := n.Do(http.MethodPut, "/v1/kv/"+key, []byte(key))
		w.mu.Lock()
		w.tried++
		if r.Status == http.StatusOK {
			v := strings.Trim(r.Header.Get("ETag"), `"`)
			w.acked = append(w.acked, ackedWrite{key: key, value: key, version: v, invoked: start, acked: time.Now()})
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // virtual time: pace the client
	}
}

// checkAllReadable reads every acknowledged write back through node n. A
// 503 (the cluster settling after a fault) is retried for a while; any
// other answer but the written value fails.
func checkAllReadable(t *testing.T, n *clustertest.Node, acked []ackedWrite) {
	t.Helper()
	for _, a := range acked {
		deadline := time.Now().Add(10 * time.Second)
		for {
			g := n.Do(http.MethodGet, "/v1/kv/"+a.key, nil)
			if g.Status == http.StatusOK && string(g.Body) == a.value {
				break
			}
			if g.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("acknowledged write %s=%s (version %s) reads back %v", a.key, a.value, a.version, g)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// checkOneLeaderAtATime checks, from the acknowledged writes' versions,
// that no two leaders accepted writes at the same moment: every write of a
// term is acknowledged before any write of a later term is acknowledged.
func checkOneLeaderAtATime(t *testing.T, acked []ackedWrite) {
	t.Helper()
	lastAck := map[uint64]time.Time{}
	firstAck := map[uint64]time.Time{}
	for _, a := range acked {
		term, _, _ := strings.Cut(a.version, ".")
		tm, err := strconv.ParseUint(term, 10, 64)
		if err != nil {
			t.Fatalf("version %q", a.version)
		}
		if f, ok := firstAck[tm]; !ok || a.acked.Before(f) {
			firstAck[tm] = a.acked
		}
		if l := lastAck[tm]; a.acked.After(l) {
			lastAck[tm] = a.acked
		}
	}
	for t1, last := range lastAck {
		for t2, first := range firstAck {
			if t2 > t1 && !first.After(last) {
				t.Fatalf("term %d acknowledged a write at %v, after term %d had begun acknowledging at %v",
					t1, last.Format("15:04:05.000"), t2, first.Format("15:04:05.000"))
			}
		}
	}
}

// TestPausedLeaderStepsDownAndLosesNothing pauses the leader while clients
// write through every node, lets a new leader take over, resumes the old
// one, and checks it follows the new leader and every acknowledged write
// is readable.
func TestPausedLeaderStepsDownAndLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := settle(t, c)
		oldTerm := l.Status().Term
		var w writer
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); w.run(c.Nodes, "p", stop) }()
		time.Sleep(time.Second)
		c.Pause(l.Index)
		var nl *clustertest.Node
		c.WaitFor(10*time.Second, "a new leader while the old one is paused", func() bool {
			for _, n := range c.Followers(l) {
				if st := n.Status(); st.Role == "leader" && st.Mode == "read-write" {
					nl = n
					return true
				}
			}
			return false
		})
		time.Sleep(2 * time.Second)
		c.Resume(l.Index)
		// The resumed node has the highest ID: once it has caught up it may
		// take over again at once (bully), so following the new leader can
		// last less than a poll. Either way it must have left its old term.
		c.WaitFor(10*time.Second, "the resumed leader to follow the new one (or lead again in a newer term)", func() bool {
			st := l.Status()
			return st.Term > oldTerm && (st.Role == "follower" && st.Leader == nl.ID() ||
				st.Role == "leader" && st.Leader == l.ID() && st.Mode == "read-write")
		})
		time.Sleep(time.Second)
		close(stop)
		<-done
		if len(w.acked) < 100 {
			t.Fatalf("only %d of %d writes acknowledged", len(w.acked), w.tried)
		}
		checkOneLeaderAtATime(t, w.acked)
		for _, n := range c.Nodes() {
			checkAllReadable(t, n, w.acked)
		}
	})
}

// TestLeaderCutOffNoSplitBrain isolates the leader from its peers while
// clients keep writing through every node, including the cut-off leader:
// it must stop acknowledging writes before the new leader starts.
func TestLeaderCutOffNoSplitBrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 5})
		l := settle(t, c)
		var w writer
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); w.run(c.Nodes, "cut", stop) }()
		time.Sleep(time.Second)
		c.Isolate(l.Index)
		time.Sleep(6 * time.Second)
		c.Heal()
		time.Sleep(4 * time.Second)
		close(stop)
		<-done
		terms := map[string]bool{}
		for _, a := range w.acked {
			term, _, _ := strings.Cut(a.version, ".")
			terms[term] = true
		}
		if len(terms) < 2 {
			t.Fatalf("acknowledged writes span terms %v: expected a new leader during the cut", terms)
		}
		checkOneLeaderAtATime(t, w.acked)
		for _, n := range c.Nodes() {
			checkAllReadable(t, n, w.acked)
		}
	})
}

// TestMinorityKilledFullService kills two of five nodes at once, the
// leader among them, and checks that every key stays readable and
// writable.
func TestMinorityKilledFullService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 5})
		l := settle(t, c)
		keys := make([]string, 200)
		for i := range keys {
			keys[i] = fmt.Sprintf("m-%d", i)
		}
		writeAll(t, c.Nodes(), keys, "v1", 5*time.Second)
		victim := c.Followers(l)[0]
		c.Kill(l.Index)
		c.Kill(victim.Index)
		took := writeAll(t, c.Nodes(), keys, "v2", 10*time.Second)
		t.Logf("two of five killed (leader included): every key writable again after %v", took)
		for _, n := range c.Nodes() {
			for _, k := range keys {
				if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != 200 || string(g.Body) != "v2" {
					t.Fatalf("%s via node %d: %v", k, n.Index, g)
				}
			}
		}
		c.WaitFor(10*time.Second, "replicas auto to follow the 3 live members", func() bool {
			ci, _ := c.Nodes()[0].Cluster(t.Context())
			return ci.Replicas == 2
		})
	})
}

// TestExactlyHalfKilledEveryKeyReadable kills two of four nodes (replicas
// auto = 3) in every combination: every acknowledged key stays readable
// from the survivors, and writes answer 503.
func TestExactlyHalfKilledEveryKeyReadable(t *testing.T) {
	for _, pair := range [][2]int{{0, 1}, {0, 3}, {2, 3}, {1, 2}} {
		t.Run(fmt.Sprintf("kill-%d-%d", pair[0], pair[1]), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := clustertest.Start(t, clustertest.Options{Nodes: 4})
				settle(t, c)
				keys := make([]string, 300)
				for i := range keys {
					keys[i] = fmt.Sprintf("h-%d", i)
				}
				writeAll(t, c.Nodes(), keys, "kept", 5*time.Second)
				c.Kill(pair[0])
				c.Kill(pair[1])
				survivors := c.Nodes()
				c.WaitFor(15*time.Second, "every key readable from every survivor", func() bool {
					for _, n := range survivors {
						for _, k := range keys {
							if g := n.Do(http.MethodGet, "/v1/kv/"+k, nil); g.Status != 200 || string(g.Body) != "kept" {
								return false
							}
						}
					}
					return true
				})
				r := survivors[0].Do(http.MethodPut, "/v1/kv/new", []byte("x"))
				if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
					t.Fatalf("write with half the cluster down: %v, want 503 with Retry-After", r)
				}
			})
		})
	}
}
