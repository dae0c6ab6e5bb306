package resp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/watch"
	"github.com/jumpkv/jumpkv/wire"
)

// fakeBackend is an in-memory node: one map, versions that grow, the
// node's write conditions, and a watch feed.
type fakeBackend struct {
	mu      sync.Mutex
	data    map[string]store.Entry
	seq     uint64
	hub     *watch.Hub // the watch feed, as a node's
	subs    int
	fail    error // when set, every call fails with it
	writes  int
	maxSubs int
	// getManys counts GetMany calls (reads done together).
	getManys int
	// writeManys counts WriteMany calls (writes carried out together).
	writeManys int
}

func newFake(t testing.TB) *fakeBackend {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeBackend{data: map[string]store.Entry{}, hub: watch.NewHub(watch.DefaultConfig()), maxSubs: 1000}
	done := make(chan struct{})
	go func() { defer close(done); f.hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *fakeBackend) ID() shard.NodeID     { return 1 }
func (f *fakeBackend) Leader() shard.NodeID { return 1 }

func (f *fakeBackend) Get(ctx context.Context, key string) (store.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Entry{}, f.fail
	}
	if key == "" {
		return store.Entry{}, fmt.Errorf("%w: empty key", wire.ErrBadRequest)
	}
	e, ok := f.data[key]
	if !ok {
		return store.Entry{}, fmt.Errorf("%w: %q", wire.ErrNotFound, key)
	}
	return e, nil
}

// getManyCalls returns the GetMany calls so far.
func (f *fakeBackend) getManyCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.getManys
}

func (f *fakeBackend) GetMany(ctx context.Context, keys []string) []node.GetResult {
	f.mu.Lock()
	f.getManys++
	f.mu.Unlock()
	res := make([]node.GetResult, len(keys))
	for i, k := range keys {
		res[i].Entry, res[i].Err = f.Get(ctx, k)
	}
	return res
}

func (f *fakeBackend) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Version{}, f.fail
	}
	if op.Key == "" {
		return store.Version{}, fmt.Errorf("%w: empty key", wire.ErrBadRequest)
	}
	if len(op.Value) > 1<<20 {
		return store.Version{}, fmt.Errorf("%w: %d bytes", wire.ErrTooLarge, len(op.Value))
	}
	cur, found := f.data[op.Key]
	if err := replication.CheckConditions(op, cur, found); err != nil {
		return store.Version{}, err
	}
	f.seq++
	f.writes++
	v := store.Version{Term: 1, Seq: f.seq}
	ev := wire.Event{Key: op.Key, Version: v}
	switch op.Kind {
	case wire.WriteDelete:
		delete(f.data, op.Key)
		ev.Deleted = true
	case wire.WriteAppend:
		e := store.Entry{Key: op.Key, Value: append(slices.Clone(cur.Value), op.Value...), Version: v}
		f.data[op.Key] = e
		ev.Value = e.Value
	default:
		f.data[op.Key] = store.Entry{Key: op.Key, Value: op.Value, ContentType: op.ContentType, Version: v}
		ev.Value = op.Value
	}
	f.hub.Publish(ev)
	return v, nil
}

// writeManyCalls returns the WriteMany calls so far.
func (f *fakeBackend) writeManyCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeManys
}

func (f *fakeBackend) WriteMany(ctx context.Context, ops []wire.WriteOp) []node.WriteResult {
	f.mu.Lock()
	f.writeManys++
	f.mu.Unlock()
	res := make([]node.WriteResult, len(ops))
	for i, op := range ops {
		res[i].Version, res[i].Err = f.Write(ctx, op)
	}
	return res
}

func (f *fakeBackend) List(ctx context.Context, prefix, after string, limit int) ([]string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, "", f.fail
	}
	var keys []string
	for k := range f.data {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > limit {
		keys = keys[:limit]
		return keys, keys[len(keys)-1], nil
	}
	return keys, "", nil
}

func (f *fakeBackend) Cluster(ctx context.Context) (wire.ClusterInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return wire.ClusterInfo{Leader: 1, Replicas: 1, Nodes: []wire.NodeInfo{{ID: 1, Keys: int64(len(f.data))}}}, nil
}

func (f *fakeBackend) Watch(prefix string, since *store.Version) (*node.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs >= f.maxSubs {
		return nil, node.ErrTooManyWatchers
	}
	s, err := f.hub.Subscribe(prefix, since)
	if err == nil {
		f.subs++
	}
	return s, err
}

func (f *fakeBackend) Unwatch(s *node.Subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !s.Ended() {
		f.subs--
	}
	f.hub.Unsubscribe(s)
}

func (f *fakeBackend) watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs
}

// startServer serves b on a free loopback port until the test ends and
// returns the address.
func startServer(t testing.TB, b Backend, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
