package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/internal/clustertest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// jumpkvBinary builds the jumpkv binary once per test run.
func jumpkvBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jumpkv-client-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "jumpkv")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/jumpkv/jumpkv/cmd/jumpkv").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// procCluster is a cluster of jumpkv node processes on loopback.
type procCluster struct {
	t     testing.TB
	bin   string
	http  []string // host:port
	args  [][]string
	mu    sync.Mutex
	procs []*exec.Cmd
	outs  []*syncBuffer
	done  []chan struct{}
}

func startProcs(t testing.TB, n int) *procCluster {
	t.Helper()
	pc := &procCluster{t: t, bin: jumpkvBinary(t), procs: make([]*exec.Cmd, n), outs: make([]*syncBuffer, n), done: make([]chan struct{}, n)}
	var peers []string
	for range n {
		pc.http = append(pc.http, freeAddr(t))
		peers = append(peers, freeAddr(t))
	}
	for i := range n {
		pc.args = append(pc.args, []string{"node", "--http", pc.http[i], "--peer", peers[i], "--advertise", "127.0.0.1",
			"--join", strings.Join(peers, ","), "--dead-after", "1s", "--buckets", "128"})
		pc.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			pc.kill(i)
		}
		if t.Failed() {
			for i := range n {
				t.Logf("node %d output:\n%s", i, pc.outs[i].String())
			}
		}
	})
	pc.waitReady(time.Minute)
	return pc
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (pc *procCluster) start(i int) {
	pc.t.Helper()
	cmd := exec.Command(pc.bin, pc.args[i]...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		pc.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pc.mu.Lock()
	pc.procs[i], pc.outs[i], pc.done[i] = cmd, out, done
	pc.mu.Unlock()
}

// kill sends SIGKILL to node i and waits for it to exit.
func (pc *procCluster) kill(i int) {
	pc.mu.Lock()
	cmd, done := pc.procs[i], pc.done[i]
	pc.procs[i] = nil
	pc.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

func (pc *procCluster) endpoint(i int) string { return "http://" + pc.http[i] }

// waitReady waits until every running node answers /readyz and they agree
// on a leader; it returns the leader's index.
func (pc *procCluster) waitReady(timeout time.Duration) int {
	pc.t.Helper()
	leader := -1
	clustertest.WaitFor(pc.t, timeout, "every node ready under one leader", func() bool {
		var leaders []uint64
		for i, ep := range pc.http {
			pc.mu.Lock()
			running := pc.procs[i] != nil
			pc.mu.Unlock()
			if !running {
				continue
			}
			if !ready("http://" + ep) {
				return false
			}
			c, err := client.New([]string{ep}, client.WithRetry(client.RetryPolicy{MaxAttempts: 1, BaseDelay: 1, MaxDelay: 1}))
			if err != nil {
				return false
			}
			st, err := c.Status(pc.t.Context())
			if err != nil {
				return false
			}
			leaders = append(leaders, st.Leader)
			if st.Role == "leader" {
				leader = i
			}
		}
		for _, l := range leaders {
			if l != leaders[0] || l == 0 {
				return false
			}
		}
		return leader >= 0
	})
	return leader
}

// TestRealProcesses runs three jumpkv node processes and holds the client
// to its promises against them: SIGKILL of the leader during Put and
// Append loops (503s retried, ErrUnknownOutcome reported, no append
// resent), a dead first endpoint, and a watch across the SIGKILL and
// restart of its node with no acknowledged write lost or repeated.
func TestRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	pc := startProcs(t, 3)
	leader := pc.waitReady(time.Minute)
	eps := []string{pc.endpoint(0), pc.endpoint(1), pc.endpoint(2)}
	c := newClient(t, eps, client.WithTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// 1. The leader killed during write loops.
	var killed atomic.Bool
	stop := make(chan struct{})
	var puts, appends loopStats
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			was := killed.Load()
			_, err := c.Put(ctx, fmt.Sprintf("proc/put/%d", i), []byte(strconv.Itoa(i)))
			puts.record(err, was)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			was := killed.Load()
			_, err := c.Append(ctx, "proc/append", []byte("x"))
			appends.record(err, was)
		}
	})
	clustertest.WaitFor(t, 30*time.Second, "writes before the kill", func() bool { return puts.ok.Load() >= 20 && appends.ok.Load() >= 20 })
	killed.Store(true)
	pc.kill(leader)
	killedAt := time.Now()
	clustertest.WaitFor(t, 30*time.Second, "writes after the kill", func() bool {
		return puts.afterKill.Load() >= 20 && appends.afterKill.Load() >= 20
	})
	close(stop)
	wg.Wait()
	t.Logf("leader process killed: writes resumed within %v; puts %d ok %d unknown; appends %d ok %d unknown",
		time.Since(killedAt).Round(time.Millisecond), puts.ok.Load(), puts.unknown.Load(), appends.ok.Load(), appends.unknown.Load())
	for _, s := range []*loopStats{&puts, &appends} {
		if len(s.other) > 0 {
			t.Errorf("errors other than ErrUnknownOutcome: %v", s.other)
		}
	}
	v, err := c.Get(ctx, "proc/append")
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(v.Data)); n < appends.ok.Load() || n > appends.ok.Load()+appends.unknown.Load() {
		t.Fatalf("the log holds %d appends; %d acknowledged, %d of unknown outcome", n, appends.ok.Load(), appends.unknown.Load())
	}

	// 2. The dead node first in a new client's endpoints.
	first := newClient(t, append([]string{pc.endpoint(leader)}, without(eps, leader)...))
	if v, err := first.Get(ctx, "proc/append"); err != nil || len(v.Data) == 0 {
		t.Fatalf("Get with a dead first endpoint: %v %v", v, err)
	}

	// 3. A watch across the kill and restart of its node.
	pc.start(leader)
	leader = pc.waitReady(time.Minute)
	var followers []int
	for i := range 3 {
		if i != leader {
			followers = append(followers, i)
		}
	}
	watcher := newClient(t, []string{pc.endpoint(followers[0]), pc.endpoint(followers[1]), pc.endpoint(leader)},
		client.WithWatchKeepalive(500*time.Millisecond))
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	var (
		mu        sync.Mutex
		seen      []client.Event
		connects  int
		endpoints []string // where the watch connected, in order
	)
	connected := make(chan struct{}, 1)
	wg.Go(func() {
		onConnect := client.OnConnect(func(ep string) {
			mu.Lock()
			connects++
			endpoints = append(endpoints, ep)
			mu.Unlock()
			select {
			case connected <- struct{}{}:
			default:
			}
		})
		for ev, err := range watcher.Watch(wctx, "proc/watch/", "", onConnect) {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
		}
	})
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the watch never connected")
	}
	// Until the watcher has seen a change it has no version to resume
	// from, and a watch that loses its node then can only begin again with
	// a reset. A node restarted a moment ago gets the leader's stream only
	// once the leader's sender reaches it: wait for a first change, so that
	// what is checked below is the resumption, not that start.
	firstVer, err := c.Put(ctx, "proc/watch/start", []byte("start"))
	if err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 30*time.Second, "the watcher seeing a first change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(seen, func(e client.Event) bool { return e.Version == firstVer })
	})
	acked := map[string]bool{firstVer: true}
	unknown := 0
	for i := range 150 {
		switch i {
		case 50:
			pc.kill(followers[0])
		case 100:
			pc.start(followers[0])
		}
		ver, err := c.Put(ctx, fmt.Sprintf("proc/watch/k%02d", i%10), []byte(strconv.Itoa(i)))
		switch {
		case err == nil:
			acked[ver] = true
		case errors.Is(err, client.ErrUnknownOutcome):
			unknown++
		default:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := map[string]bool{}
		for _, e := range seen {
			got[e.Version] = true
		}
		var out []string
		for v := range acked {
			if !got[v] {
				out = append(out, v)
			}
		}
		slices.Sort(out)
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(missing()) > 0; {
		if time.Now().After(deadline) {
			mu.Lock()
			var trace []string
			for _, e := range seen {
				trace = append(trace, string(e.Type)+" "+e.Key+" "+e.Version)
			}
			mu.Unlock()
			t.Fatalf("after 30s, %d of %d acknowledged writes never watched: %v\n%d connections (%v; leader %s, killed and restarted %s); events seen:\n%s",
				len(missing()), len(acked), missing(), connects, endpoints, pc.endpoint(leader), pc.endpoint(followers[0]), strings.Join(trace, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling the watcher's progress
	}
	wcancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	count := map[string]int{}
	resets := 0
	for _, e := range seen {
		if e.Type == client.EventReset {
			resets++
			continue
		}
		if count[e.Version]++; count[e.Version] == 2 {
			t.Errorf("version %s (%s) delivered twice", e.Version, e.Key)
		}
	}
	t.Logf("watch: %d acknowledged writes, %d of unknown outcome, %d events, %d resets, %d connections",
		len(acked), unknown, len(seen), resets, connects)
	if resets > 0 && unknown == 0 {
		t.Errorf("%d resets with no write of unknown outcome: changes were lost in the resumption", resets)
	}
	if connects < 2 {
		t.Errorf("%d connections: the watch did not move when its node died", connects)
	}
}

// without returns eps without index i.
func without(eps []string, i int) []string {
	var out []string
	for j, e := range eps {
		if j != i {
			out = append(out, e)
		}
	}
	return out
}
