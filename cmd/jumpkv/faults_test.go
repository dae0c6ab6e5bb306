package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var processKills = flag.Int("process-kills", 3, "leader SIGKILLs in TestProcessLeaderKilledAndStopped (20 for the README's figures)")

// procCluster is N real node processes on loopback with fixed ports, so a
// killed node can be restarted with the same address (and so ID).
type procCluster struct {
	t     *testing.T
	bin   string
	http  []string
	join  []string
	args  []string
	procs []*proc
}

func startProcCluster(t *testing.T, n int, args ...string) *procCluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	c := &procCluster{t: t, bin: binary(t), args: args, procs: make([]*proc, n)}
	for i := range n {
		c.http = append(c.http, "127.0.0.1:"+strconv.Itoa(ports[i]))
		c.join = append(c.join, "127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *procCluster) start(i int) {
	args := append([]string{"node", "--http", c.http[i], "--peer", c.join[i], "--advertise", "127.0.0.1",
		"--join", strings.Join(c.join, ",")}, c.args...)
	c.procs[i] = startProc(c.t, c.bin, c.http[i], args...)
}

func (c *procCluster) running() []*proc {
	var out []*proc
	for _, p := range c.procs {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// leader returns the index of the node every running node names as leader.
func (c *procCluster) leader() int {
	var id string
	for _, p := range c.running() {
		st, h, _ := request(c.t, "GET", "http://"+p.http+"/healthz", nil)
		if st != 200 {
			return -1
		}
		if id == "" {
			id = h.Get("X-Jumpkv-Leader")
		} else if h.Get("X-Jumpkv-Leader") != id {
			return -1
		}
	}
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		_, h, _ := request(c.t, "GET", "http://"+p.http+"/healthz", nil)
		if h.Get("X-Jumpkv-Node") == id {
			return i
		}
	}
	return -1
}

// settled waits until every running node is ready and follows one leader
// that is the highest ID, and returns the leader's index.
func (c *procCluster) settled(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := c.leader()
		ok := l >= 0
		for _, p := range c.running() {
			if st, _, _ := request(c.t, "GET", "http://"+p.http+"/readyz", nil); st != 200 {
				ok = false
			}
		}
		if ok {
			var st struct {
				Members []struct {
					ID uint64 `json:"id"`
				} `json:"members"`
				ID uint64 `json:"id"`
			}
			_, _, b := request(c.t, "GET", "http://"+c.procs[l].http+"/admin/status", nil)
			if json.Unmarshal(b, &st) == nil {
				highest := st.ID
				for _, m := range st.Members {
					highest = max(highest, m.ID)
				}
				if highest == st.ID {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not settled after %v", timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling real processes
	}
}

// writeUntilAll writes every key through the given node until each has
// been acknowledged, and returns how long that took.
func writeUntilAll(t *testing.T, httpAddr string, keys []string, value string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	pending := slices.Clone(keys)
	for len(pending) > 0 {
		if time.Since(start) > limit {
			t.Fatalf("%d keys not writable %v after the fault", len(pending), limit)
		}
		var left []string
		for _, k := range pending {
			if st, _, _ := request(t, "PUT", "http://"+httpAddr+"/v1/kv/"+k, []byte(value)); st != 200 {
				left = append(left, k)
			}
		}
		pending = left
		if len(pending) > 0 {
			time.Sleep(20 * time.Millisecond) // polling real processes
		}
	}
	return time.Since(start)
}

func readsBack(t *testing.T, httpAddr string, keys []string, want string) {
	t.Helper()
	for _, k := range keys {
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _, b := request(t, "GET", "http://"+httpAddr+"/v1/kv/"+k, nil)
			if st == 200 && string(b) == want {
				break
			}
			if st != 503 || time.Now().After(deadline) {
				t.Fatalf("%s via %s: %d %q, want %q", k, httpAddr, st, b, want)
			}
			time.Sleep(50 * time.Millisecond) // polling real processes
		}
	}
}

// TestProcessLeaderKilledAndStopped runs three real node processes with the
// default timings, SIGKILLs the leader (restarting it with the same address
// each time) and measures how long until every key is writable again
// through a follower; then SIGSTOPs the leader past dead-after, checks a
// new leader takes writes, SIGCONTs it and checks it follows and nothing
// acknowledged was lost.
func TestProcessLeaderKilledAndStopped(t *testing.T) {
	c := startProcCluster(t, 3, "--buckets", "256")
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("pk-%d", i)
	}
	var took []time.Duration
	for kill := range *processKills {
		l := c.settled(60 * time.Second)
		f := (l + 1) % 3
		writeUntilAll(t, c.http[f], keys, fmt.Sprintf("before-%d", kill), 10*time.Second)
		_ = c.procs[l].cmd.Process.Signal(syscall.SIGKILL)
		c.procs[l].wait()
		c.procs[l] = nil
		d := writeUntilAll(t, c.http[f], keys, fmt.Sprintf("after-%d", kill), 10*time.Second)
		took = append(took, d)
		readsBack(t, c.http[(l+2)%3], keys, fmt.Sprintf("after-%d", kill))
		c.start(l)
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("real processes, default timings, %d leader SIGKILLs: every key writable again after min %v, median %v, max %v",
		len(sorted), sorted[0].Round(time.Millisecond), sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	// G3's 3s is checked in virtual time (node/failover_test.go), where a
	// busy machine cannot stretch it; real processes get a bound that only
	// catches a failover that does not happen.
	if worst := sorted[len(sorted)-1]; worst > 8*time.Second {
		t.Errorf("worst failover %v (all: %v)", worst, took)
	}

	l := c.settled(60 * time.Second)
	f := (l + 1) % 3
	_ = c.procs[l].cmd.Process.Signal(syscall.SIGSTOP)
	d := writeUntilAll(t, c.http[f], keys, "while-stopped", 10*time.Second)
	t.Logf("leader SIGSTOPped: every key written through a follower after %v (the first forwards to the stopped leader wait out their timeout)", d.Round(time.Millisecond))
	time.Sleep(time.Second) // the old leader stays stopped a while longer
	_ = c.procs[l].cmd.Process.Signal(syscall.SIGCONT)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Role string `json:"role"`
		}
		_, _, b := request(t, "GET", "http://"+c.http[l]+"/admin/status", nil)
		if json.Unmarshal(b, &st) == nil && st.Role == "follower" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed leader did not step down: %s", b)
		}
		time.Sleep(20 * time.Millisecond) // polling real processes
	}
	for _, p := range c.running() {
		readsBack(t, p.http, keys, "while-stopped")
	}
}
