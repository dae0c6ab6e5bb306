package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
)

// liveCluster is an in-process cluster (clustertest) whose nodes serve
// their HTTP API on loopback ports that stay the same across restarts: a
// killed node refuses connections, as a dead process does.
type liveCluster struct {
	t     *testing.T
	c     *clustertest.Cluster
	addrs []string

	mu    sync.Mutex
	srvs  []*http.Server
	reads [][]string // keys each node was asked to GET
	wg    sync.WaitGroup
}

func startLive(t *testing.T, n int) *liveCluster {
	t.Helper()
	lc := &liveCluster{t: t, srvs: make([]*http.Server, n), reads: make([][]string, n)}
	lns := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		lc.addrs = append(lc.addrs, ln.Addr().String())
	}
	lc.c = clustertest.Start(t, clustertest.Options{Nodes: n, Configure: func(i int, cfg *node.Config) {
		cfg.HTTPAddr = lc.addrs[i]
	}})
	for i, n := range lc.c.Nodes() {
		lc.serve(i, lns[i], n.HTTP)
	}
	t.Cleanup(func() {
		for i := range n {
			lc.closeServer(i)
		}
		lc.wg.Wait()
	})
	lc.c.WaitLeader(30 * time.Second)
	return lc
}

func (lc *liveCluster) serve(i int, ln net.Listener, h http.Handler) {
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/kv/") {
			lc.mu.Lock()
			lc.reads[i] = append(lc.reads[i], strings.TrimPrefix(r.URL.Path, "/v1/kv/"))
			lc.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 5 * time.Second}
	lc.mu.Lock()
	lc.srvs[i] = srv
	lc.mu.Unlock()
	lc.wg.Go(func() { _ = srv.Serve(ln) })
}

func (lc *liveCluster) closeServer(i int) {
	lc.mu.Lock()
	srv := lc.srvs[i]
	lc.srvs[i] = nil
	lc.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// endpoint returns node i's base URL.
func (lc *liveCluster) endpoint(i int) string { return "http://" + lc.addrs[i] }

// kill stops node i at once and closes its port.
func (lc *liveCluster) kill(i int) {
	lc.closeServer(i)
	lc.c.Kill(i)
}

// restart starts node i again, empty, on the same port.
func (lc *liveCluster) restart(i int) {
	lc.t.Helper()
	n := lc.c.Restart(i)
	var ln net.Listener
	var err error
	clustertest.WaitFor(lc.t, 5*time.Second, "node's port free again", func() bool {
		ln, err = net.Listen("tcp", lc.addrs[i])
		return err == nil
	})
	lc.serve(i, ln, n.HTTP)
}

// index returns the index of the running node with the given ID.
func (lc *liveCluster) index(id uint64) int {
	for _, n := range lc.c.Nodes() {
		if uint64(n.ID()) == id {
			return n.Index
		}
	}
	lc.t.Fatalf("no running node %d", id)
	return -1
}

// statusCounter counts the answers of each status that pass through it.
type statusCounter struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	counts map[int]int
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.counts[resp.StatusCode]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[status]
}

// loopStats tallies a write loop.
type loopStats struct {
	ok, unknown, afterKill atomic.Int64
	mu                     sync.Mutex
	other                  []error
}

func (s *loopStats) record(err error, killed bool) {
	switch {
	case err == nil:
		s.ok.Add(1)
		if killed {
			s.afterKill.Add(1)
		}
	case errors.Is(err, client.ErrUnknownOutcome):
		s.unknown.Add(1)
	default:
		s.mu.Lock()
		s.other = append(s.other, err)
		s.mu.Unlock()
	}
}

// TestLeaderKilledDuringWriteLoops kills the leader while a Put loop and
// an Append loop run through the client. The client rides out the
// election (retrying the 503s) with no error but ErrUnknownOutcome for the
// writes in flight at the kill, and never resends an append by itself: the
// appended log is no longer than the appends acknowledged plus those of
// unknown outcome. Every acknowledged Put reads back.
func TestLeaderKilledDuringWriteLoops(t *testing.T) {
	lc := startLive(t, 3)
	counter := &statusCounter{rt: http.DefaultTransport.(*http.Transport).Clone(), counts: map[int]int{}}
	eps := []string{lc.endpoint(0), lc.endpoint(1), lc.endpoint(2)}
	c := newClient(t, eps, client.WithHTTPClient(&http.Client{Transport: counter}), client.WithTimeout(5*time.Second))

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var killed atomic.Bool
	stop := make(chan struct{})
	var puts, appends loopStats
	var acked sync.Map // key → value of acknowledged puts
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k, v := fmt.Sprintf("loop/put/%d", i), fmt.Sprint(i)
			was := killed.Load()
			_, err := c.Put(ctx, k, []byte(v))
			puts.record(err, was)
			if err == nil {
				acked.Store(k, v)
			}
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
			_, err := c.Append(ctx, "loop/append", []byte("x"))
			appends.record(err, was)
		}
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		clustertest.WaitFor(t, 45*time.Second, what, cond)
	}
	waitFor("writes before the kill", func() bool { return puts.ok.Load() >= 20 && appends.ok.Load() >= 20 })
	ci, err := c.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := lc.index(ci.Leader)
	killed.Store(true)
	lc.kill(leader)
	killedAt := time.Now()
	waitFor("writes acknowledged after the kill", func() bool { return puts.afterKill.Load() >= 20 && appends.afterKill.Load() >= 20 })
	close(stop)
	wg.Wait()
	t.Logf("leader (node %d) killed; writes resumed within %v; puts %d ok, %d unknown; appends %d ok, %d unknown; 503s retried: %d",
		leader, time.Since(killedAt).Round(time.Millisecond), puts.ok.Load(), puts.unknown.Load(),
		appends.ok.Load(), appends.unknown.Load(), counter.count(503))
	for _, s := range []*loopStats{&puts, &appends} {
		if len(s.other) > 0 {
			t.Errorf("errors other than ErrUnknownOutcome: %v", s.other)
		}
	}
	v, err := c.Get(ctx, "loop/append")
	if err != nil {
		t.Fatal(err)
	}
	okA, unkA := appends.ok.Load(), appends.unknown.Load()
	if n := int64(len(v.Data)); n < okA || n > okA+unkA || strings.Trim(string(v.Data), "x") != "" {
		t.Fatalf("the log holds %d appends; %d were acknowledged and %d of unknown outcome", n, okA, unkA)
	}
	acked.Range(func(k, want any) bool {
		v, err := c.Get(ctx, k.(string))
		if err != nil || string(v.Data) != want {
			t.Errorf("acknowledged %s=%s reads %v %v", k, want, v, err)
		}
		return true
	})
}

// TestDeadFirstEndpoint: with the first node down, every operation works
// through the others, watches included.
func TestDeadFirstEndpoint(t *testing.T) {
	lc := startLive(t, 3)
	ci, err := newClient(t, []string{lc.endpoint(0)}).Cluster(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	down := 0
	if lc.index(ci.Leader) == 0 {
		down = 1 // keep the leader: this test is about endpoints, not elections
	}
	lc.kill(down)
	eps := []string{lc.endpoint(down)}
	for i := range 3 {
		if i != down {
			eps = append(eps, lc.endpoint(i))
		}
	}
	c := newClient(t, eps)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	connected := make(chan string, 1)
	events := make(chan client.Event, 10)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev, err := range c.Watch(ctx, "dead-first/", "", client.OnConnect(func(ep string) {
			select {
			case connected <- ep:
			default:
			}
		})) {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			if ev.Type == client.EventPut {
				events <- ev
				return
			}
		}
	})
	defer wg.Wait()
	defer cancel()
	select {
	case ep := <-connected:
		if ep == lc.endpoint(down) {
			t.Fatalf("the watch connected to the dead node")
		}
	case <-ctx.Done():
		t.Fatal("the watch never connected")
	}
	if _, err := c.Put(ctx, "dead-first/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "dead-first/k"); err != nil || string(v.Data) != "v" {
		t.Fatalf("Get: %v %v", v, err)
	}
	var keys []string
	for k, err := range c.List(ctx, "dead-first/") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "dead-first/k" {
		t.Fatalf("listed %v", keys)
	}
	select {
	case ev := <-events:
		if ev.Key != "dead-first/k" || string(ev.Value) != "v" {
			t.Fatalf("watched %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
}

// watchedEvent is an event as the watcher saw it.
type watchedEvent struct {
	client.Event
	endpoint string
}

// TestWatchAcrossNodeRestart watches through the client while the node it
// watches on is killed and restarted (and then the next one killed), with
// writes going on throughout: every acknowledged write is delivered once,
// none twice (checked by version), in version order per key, and a reset
// comes only where the server must send one (after a write of unknown
// outcome).
func TestWatchAcrossNodeRestart(t *testing.T) {
	lc := startLive(t, 3)
	leaderID := uint64(lc.c.WaitLeader(30 * time.Second).ID())
	leader := lc.index(leaderID)
	var followers []int
	for i := range 3 {
		if i != leader {
			followers = append(followers, i)
		}
	}
	// The watch starts on a follower, fails over to the other, then to
	// the leader.
	eps := []string{lc.endpoint(followers[0]), lc.endpoint(followers[1]), lc.endpoint(leader)}
	watcher := newClient(t, eps, client.WithWatchKeepalive(500*time.Millisecond))
	writer := newClient(t, []string{lc.endpoint(leader)})

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		seen     []watchedEvent
		current  string
		connects int
		drops    []string
	)
	connected := make(chan struct{}, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		onConnect := client.OnConnect(func(ep string) {
			mu.Lock()
			current = ep
			connects++
			mu.Unlock()
			select {
			case connected <- struct{}{}:
			default:
			}
		})
		onDrop := client.OnDrop(func(err error) {
			mu.Lock()
			drops = append(drops, err.Error())
			mu.Unlock()
		})
		for ev, err := range watcher.Watch(ctx, "restart/", "", onConnect, onDrop) {
			if err != nil {
				t.Errorf("watch ended: %v", err)
				return
			}
			mu.Lock()
			seen = append(seen, watchedEvent{ev, current})
			mu.Unlock()
		}
	})
	defer wg.Wait()
	defer cancel()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the watch never connected")
	}

	acked := map[string]string{} // version → key
	var unknown int
	write := func(i int) {
		t.Helper()
		k := fmt.Sprintf("restart/k%02d", i%20)
		v, err := writer.Put(ctx, k, []byte(fmt.Sprint(i)))
		switch {
		case err == nil:
			acked[v] = k
		case errors.Is(err, client.ErrUnknownOutcome):
			unknown++
		default:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	for i := range 200 {
		switch i {
		case 50:
			lc.kill(followers[0])
		case 100:
			lc.restart(followers[0])
		case 150:
			lc.kill(followers[1])
		}
		write(i)
	}
	clustertest.WaitFor(t, 30*time.Second, "the watcher to see every acknowledged write", func() bool {
		mu.Lock()
		defer mu.Unlock()
		got := map[string]bool{}
		for _, e := range seen {
			got[e.Version] = true
		}
		for v := range acked {
			if !got[v] {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d acknowledged writes, %d of unknown outcome, %d events over %d connections; drops: %q",
		len(acked), unknown, len(seen), connects, drops)
	if connects < 3 {
		t.Errorf("%d connections: the watch did not move across the kills", connects)
	}
	byVersion := map[string]int{}
	lastOfKey := map[string]string{}
	resets := 0
	for _, e := range seen {
		switch {
		case e.Type == client.EventReset:
			// A node resets its watchers after a write of unknown
			// outcome (it may take effect unseen by the stream); any
			// other reset would be a change the resumption lost.
			resets++
			if unknown == 0 {
				t.Errorf("a reset at %s after %d events, with no write of unknown outcome", e.endpoint, len(byVersion))
			}
			continue
		case e.Type != client.EventPut:
			t.Errorf("unexpected %+v", e.Event)
		}
		byVersion[e.Version]++
		if byVersion[e.Version] == 2 {
			t.Errorf("version %s (%s) delivered twice", e.Version, e.Key)
		}
		if k, ok := acked[e.Version]; ok && k != e.Key {
			t.Errorf("version %s is %s, delivered as %s", e.Version, k, e.Key)
		}
		if prev, ok := lastOfKey[e.Key]; ok && !versionLess(prev, e.Version) {
			t.Errorf("%s: version %s after %s", e.Key, e.Version, prev)
		}
		lastOfKey[e.Key] = e.Version
	}
	t.Logf("%d resets", resets)
	if len(byVersion) > len(acked)+unknown {
		t.Errorf("%d distinct versions delivered for %d writes", len(byVersion), len(acked)+unknown)
	}
}

// versionLess orders two term.seq versions.
func versionLess(a, b string) bool {
	var at, as, bt, bs uint64
	fmt.Sscanf(a, "%d.%d", &at, &as)
	fmt.Sscanf(b, "%d.%d", &bt, &bs)
	return at < bt || at == bt && as < bs
}
