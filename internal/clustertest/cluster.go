// Package clustertest runs clusters of jumpkv nodes inside one test
// process, on the in-memory network, with fault injection and helpers that
// wait for conditions. Cluster tests run it inside testing/synctest
// bubbles, where the default timings cost no real time.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/resp"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/web"
	"github.com/jumpkv/jumpkv/wire"
)

// Options shape a test cluster. Zero fields take defaults.
type Options struct {
	// Nodes is the number of nodes started (default 3).
	Nodes int
	// Buckets per cluster (default 64, to keep tests quick).
	Buckets int
	// Replicas; 0 is auto.
	Replicas int
	// DeadAfter (default 2s, the SPEC default).
	DeadAfter time.Duration
	// Seed of the network's random faults.
	Seed uint64
	// Configure, when set, adjusts each node's config before it starts.
	Configure func(i int, cfg *node.Config)
	// TCP runs the nodes on real TCP connections on loopback (for
	// benchmarks and profiles) instead of the in-memory network; the
	// network's faults do not apply then.
	TCP bool
	// Durable gives node i a data directory of its own, kept across Kill
	// and Restart (and removed when the test ends).
	Durable bool
	// RESP serves the Redis protocol on every node (DialRESP), over
	// in-memory pipes.
	RESP bool
	// DelayMin and DelayMax delay every message by a duration drawn from
	// [DelayMin, DelayMax] (the nemesis puts it back after a fault of
	// its own delays), so that requests overlap as on a real network.
	DelayMin, DelayMax time.Duration
}

// Cluster is a set of in-process nodes on one in-memory network.
type Cluster struct {
	T     testing.TB
	Net   *transport.Network
	opts  Options
	peers []string

	mu       sync.Mutex
	nodes    []*Node
	inc      uint64
	dataDirs map[int]string // with Options.Durable, by node index
}

// Node is one in-process node of a Cluster.
type Node struct {
	*node.Node
	// Index is the node's position in the cluster (0-based).
	Index int
	// Peer is its address on the in-memory network.
	Peer string
	// HTTP serves its client API in process.
	HTTP http.Handler

	cancel context.CancelFunc
	done   chan struct{}
	tr     transport.Transport

	// gate, while the node is paused, is an open channel that client
	// requests wait on (channels, not locks: synctest sees the wait).
	gateMu sync.Mutex
	gate   chan struct{}

	// The Redis-protocol server (Options.RESP).
	resp     *resp.Server
	respLn   *pipeListener
	respDone chan struct{}
}

// PeerAddr returns the peer address of node i on the in-memory network: IDs
// derived from these grow with i, so the last node has the highest ID.
func PeerAddr(i int) string { return fmt.Sprintf("10.0.0.%d:7070", i+1) }

// peerAddr picks node i's peer address: on the in-memory network its fixed
// one, on TCP a free loopback port.
func (c *Cluster) peerAddr(i int) string {
	if !c.opts.TCP {
		return PeerAddr(i)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.T.Fatalf("node %d: no free port: %v", i, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// peerOf returns node i's peer address.
func (c *Cluster) peerOf(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[i]
}

// Start starts a cluster and stops it when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Buckets == 0 {
		opts.Buckets = 64
	}
	if opts.DeadAfter == 0 {
		opts.DeadAfter = 2 * time.Second
	}
	c := &Cluster{T: t, Net: transport.NewNetwork(opts.Seed), opts: opts}
	// A quick request whose handler blocks its connection's reader (see
	// transport.QuickHandler) fails the test, rather than slowing it.
	c.Net.SetQuickStall(0, func(s transport.QuickStall) { t.Errorf("%v", s) })
	c.Net.SetDelay(opts.DelayMin, opts.DelayMax)
	for i := range opts.Nodes {
		c.peers = append(c.peers, c.peerAddr(i))
	}
	c.nodes = make([]*Node, opts.Nodes)
	for i := range opts.Nodes {
		c.nodes[i] = c.startNode(i, c.peers)
	}
	t.Cleanup(c.Stop)
	return c
}

// startNode starts node i joining join.
func (c *Cluster) startNode(i int, join []string) *Node {
	c.T.Helper()
	c.mu.Lock()
	c.inc++
	inc := c.inc
	c.mu.Unlock()
	peer := c.peerOf(i)
	cfg := node.DefaultConfig(peer)
	cfg.HTTPAddr = fmt.Sprintf("10.0.0.%d:8080", i+1)
	cfg.Join = slices.Clone(join)
	cfg.Buckets = c.opts.Buckets
	cfg.Replicas = c.opts.Replicas
	cfg.DeadAfter = c.opts.DeadAfter
	cfg.Incarnation = inc
	cfg.Resolve = func(host string) ([]string, error) { return []string{host}, nil }
	cfg.Logger = testLogger(c.T, i)
	if c.opts.Durable {
		cfg.DataDir = c.DataDir(i)
	}
	if c.opts.Configure != nil {
		c.opts.Configure(i, &cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		c.T.Fatalf("node %d: %v", i, err)
	}
	var tr transport.Transport
	if c.opts.TCP {
		tcfg := transport.DefaultTCPConfig()
		tcfg.Stamp = n.Stamp
		tcfg.MaxFrame = n.Config().MaxFrame()
		tr, err = transport.ListenTCP(peer, tcfg, n)
	} else {
		tr, err = c.Net.Listen(peer, n.Stamp, n)
	}
	if err != nil {
		c.T.Fatalf("node %d: listen: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &Node{Node: n, Index: i, Peer: peer, cancel: cancel, done: make(chan struct{}), tr: tr,
		HTTP: web.New(n, web.Config{MaxValue: cfg.MaxValue, MaxKey: cfg.MaxKey})}
	go func() {
		defer close(tn.done)
		_ = n.Run(ctx, tr)
	}()
	if c.opts.RESP {
		if err := tn.startRESP(cfg.MaxValue, cfg.MaxKey); err != nil {
			c.T.Fatalf("node %d: RESP: %v", i, err)
		}
	}
	return tn
}

// Stop stops every node that runs; safe to call twice.
func (c *Cluster) Stop() {
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	for i, n := range nodes {
		if n != nil {
			c.stopNode(i)
		}
	}
}

// Kill stops node i at once, as SIGKILL would: it hands nothing off.
func (c *Cluster) Kill(i int) { c.stopNode(i) }

func (c *Cluster) stopNode(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return
	}
	n.stopRESP() // its clients see their connections close at once
	n.cancel()
	_ = n.tr.Close()
	<-n.done
}

// Pause freezes node i as SIGSTOP would, as far as others can tell: its
// messages in and out, and client requests to it, wait until Resume.
func (c *Cluster) Pause(i int) {
	n := c.Node(i)
	n.gateMu.Lock()
	n.gate = make(chan struct{})
	n.gateMu.Unlock()
	c.Net.Pause(n.Peer)
}

// Resume lets a paused node i go on.
func (c *Cluster) Resume(i int) {
	n := c.Node(i)
	c.Net.Resume(n.Peer)
	n.gateMu.Lock()
	close(n.gate)
	n.gate = nil
	n.gateMu.Unlock()
}

// Isolate cuts node i off from every other node (clients still reach it).
func (c *Cluster) Isolate(i int) { c.Net.Isolate(PeerAddr(i)) }

// Heal removes every network cut.
func (c *Cluster) Heal() { c.Net.Heal() }

// Leave hands node i's buckets off (as SIGTERM does) and stops it.
func (c *Cluster) Leave(i int, timeout time.Duration) error {
	n := c.Node(i)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := n.Leave(ctx)
	c.stopNode(i)
	return err
}

// Add starts a new node that joins the cluster through the running nodes
// and returns it; its index is the next free one (its ID the highest yet).
func (c *Cluster) Add() *Node {
	c.T.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	c.nodes = append(c.nodes, nil)
	c.peers = append(c.peers, c.peerAddr(i))
	peers := slices.Clone(c.peers)
	c.mu.Unlock()
	n := c.startNode(i, peers)
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return n
}

// Restart starts node i again (after Kill) with the same ID and address
// and a new incarnation: it comes back empty.
func (c *Cluster) Restart(i int) *Node {
	c.T.Helper()
	c.stopNode(i)
	n := c.startNode(i, c.peers)
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return n
}

// Node returns node i, or nil when it is not running.
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Nodes returns the running nodes.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// ByID returns the running node with the given ID, or nil.
func (c *Cluster) ByID(id shard.NodeID) *Node {
	for _, n := range c.Nodes() {
		if n.ID() == id {
			return n
		}
	}
	return nil
}

// Leader returns the running node that every running node follows and that
// is ready to take writes, or nil.
func (c *Cluster) Leader() *Node {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return nil
	}
	id := nodes[0].Leader()
	for _, n := range nodes {
		if n.Leader() != id {
			return nil
		}
	}
	l := c.ByID(id)
	if l == nil {
		return nil
	}
	if st := l.Status(); st.Role != "leader" || st.Mode != "read-write" || !st.InSync {
		return nil
	}
	return l
}

// WaitLeader waits until Leader is not nil and every running node is
// ready, and returns the leader.
func (c *Cluster) WaitLeader(timeout time.Duration) *Node {
	c.T.Helper()
	var l *Node
	c.WaitFor(timeout, "a leader followed by every node, all nodes ready", func() bool {
		l = c.Leader()
		return l != nil && c.AllReady()
	})
	return l
}

// AllReady reports whether every running node answers ready.
func (c *Cluster) AllReady() bool {
	for _, n := range c.Nodes() {
		if ok, _ := n.Ready(); !ok {
			return false
		}
	}
	return true
}

// Followers returns the running nodes other than the leader l.
func (c *Cluster) Followers(l *Node) []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n != l {
			out = append(out, n)
		}
	}
	return out
}

// WaitFor polls cond every 10ms until it holds, failing the test after
// timeout. Inside a synctest bubble the polling costs no real time.
func (c *Cluster) WaitFor(timeout time.Duration, what string, cond func() bool) {
	c.T.Helper()
	WaitFor(c.T, timeout, what, cond)
}

// WaitFor polls cond every 10ms until it holds, failing t after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Response is an in-process HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// Do sends an HTTP request to node n's API in process. While the node is
// paused the request waits, as a request to a stopped process would.
func (n *Node) Do(method, path string, body []byte, header ...string) Response {
	n.waitGate()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	n.HTTP.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// GetMany reads keys through node n (node.Node.GetMany); while the node is
// paused the call waits, as Do does.
func (n *Node) GetMany(ctx context.Context, keys []string) []node.GetResult {
	n.waitGate()
	return n.Node.GetMany(ctx, keys)
}

// WriteMany writes through node n (node.Node.WriteMany); while the node is
// paused the call waits, as Do does.
func (n *Node) WriteMany(ctx context.Context, ops []wire.WriteOp) []node.WriteResult {
	n.waitGate()
	return n.Node.WriteMany(ctx, ops)
}

// waitGate waits while the node is paused.
func (n *Node) waitGate() {
	n.gateMu.Lock()
	gate := n.gate
	n.gateMu.Unlock()
	if gate != nil {
		<-gate
	}
}

// testLogger sends node logs to the test log when JUMPKV_TEST_LOG is set.
func testLogger(t testing.TB, i int) *slog.Logger {
	if os.Getenv("JUMPKV_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("n", i)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// DataDir returns node i's data directory (with Options.Durable), made on
// first use.
func (c *Cluster) DataDir(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dataDirs == nil {
		c.dataDirs = map[int]string{}
	}
	if d, ok := c.dataDirs[i]; ok {
		return d
	}
	d := c.T.TempDir()
	c.dataDirs[i] = d
	return d
}
