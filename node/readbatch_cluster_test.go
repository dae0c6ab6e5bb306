package node_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// readyCluster starts 3 nodes of the given buckets, waits for a leader and
// every node ready, and returns them with a context for the test's calls.
func readyCluster(t *testing.T, buckets int) (*clustertest.Cluster, *clustertest.Node, context.Context) {
	t.Helper()
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets})
	l := c.WaitLeader(30 * time.Second)
	c.WaitFor(30*time.Second, "every node ready", c.AllReady)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c, l, ctx
}

// TestGetManyAnswersAsGet: on every node, GetMany answers each key as Get
// does (live, deleted, expired, absent, an empty or too long key), and
// the reads of keys other nodes are primary for travel in ReadBatches.
func TestGetManyAnswersAsGet(t *testing.T) {
	const buckets = 8
	c, l, ctx := readyCluster(t, buckets)
	var keys []string
	write := func(op wire.WriteOp) {
		t.Helper()
		if _, err := l.Write(ctx, op); err != nil {
			t.Fatalf("%v %q: %v", op.Kind, op.Key, err)
		}
	}
	for b := range buckets {
		live, deleted, expired := keyIn("live", b, buckets), keyIn("deleted", b, buckets), keyIn("expired", b, buckets)
		live2 := keyIn("live2", b, buckets)
		write(wire.WriteOp{Kind: wire.WritePut, Key: live, Value: []byte("v-" + live), ContentType: "text/plain"})
		write(wire.WriteOp{Kind: wire.WritePut, Key: live2, Value: []byte("v-" + live2), TTL: 3_600_000})
		write(wire.WriteOp{Kind: wire.WritePut, Key: deleted, Value: []byte("gone")})
		write(wire.WriteOp{Kind: wire.WriteDelete, Key: deleted})
		write(wire.WriteOp{Kind: wire.WritePut, Key: expired, Value: []byte("soon gone"), TTL: 1})
		keys = append(keys, live, live2, deleted, expired, keyIn("absent", b, buckets))
	}
	keys = append(keys, "", strings.Repeat("k", 2000), keys[0]) // refused keys, and one key twice
	c.WaitFor(10*time.Second, "the expiring keys expired", func() bool {
		_, err := l.Get(ctx, keyIn("expired", 0, buckets))
		return errors.Is(err, wire.ErrNotFound)
	})
	// Every node learns from heartbeats which peers serve ReadBatch: read
	// until batches go out, then compare.
	sent := func() (total float64) {
		for _, n := range c.Nodes() {
			total += counterValue(t, n, "jumpkv_read_batches_total")
		}
		return total
	}
	c.WaitFor(30*time.Second, "reads sent in batches", func() bool {
		for _, n := range c.Nodes() {
			n.GetMany(ctx, keys)
		}
		return sent() >= 3
	})
	for _, n := range c.Nodes() {
		before := counterValue(t, n, "jumpkv_read_batches_total")
		got := n.GetMany(ctx, keys)
		if len(got) != len(keys) {
			t.Fatalf("node %d: %d results for %d keys", n.Index, len(got), len(keys))
		}
		if counterValue(t, n, "jumpkv_read_batches_total") == before {
			t.Errorf("node %d sent no batch for %d keys of %d buckets", n.Index, len(keys), buckets)
		}
		for i, k := range keys {
			e, err := n.Get(ctx, k)
			if wire.CodeOf(err) != wire.CodeOf(got[i].Err) || !reflect.DeepEqual(e, got[i].Entry) {
				t.Errorf("node %d, key %.20q: GetMany %+v, %v; Get %+v, %v", n.Index, k, got[i].Entry, got[i].Err, e, err)
			}
		}
		if string(got[0].Entry.Value) != "v-"+keys[0] {
			t.Errorf("node %d read %q for %q", n.Index, got[0].Entry.Value, keys[0])
		}
	}
}

// TestReadBatchDoorBounds: a batch with no reads, more than a node takes,
// or reads other than plain reads of a primary is refused whole before
// any handler sees it; a read its node refuses alone (a key outside its
// bucket, an empty key, a stale assignment, a bucket held elsewhere) is
// refused alone in a batch, and the others are answered.
func TestReadBatchDoorBounds(t *testing.T) {
	const buckets = 8
	c, l, ctx := readyCluster(t, buckets)
	term := l.Status().Term
	follower := c.Followers(l)[0]
	table := placementOf(t, ctx, l, follower)
	own, other := -1, -1 // a bucket the follower leads, and one it does not
	for b := range buckets {
		if table.Primary(b) == shard.NodeID(follower.ID()) && own < 0 {
			own = b
		} else if table.Primary(b) != shard.NodeID(follower.ID()) && other < 0 {
			other = b
		}
	}
	if own < 0 || other < 0 {
		t.Fatalf("table %v: no bucket led by node %d and one not", table, follower.ID())
	}
	key := keyIn("door", own, buckets)
	if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: key, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	serve := func(reads []wire.Read) (wire.Message, error) {
		return follower.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: term, Msg: &wire.ReadBatch{Reads: reads}})
	}
	good := wire.Read{Bucket: own, Since: table.Since[own], Key: key}
	for name, reads := range map[string][]wire.Read{
		"no reads":  nil,
		"1025":      make([]wire.Read, 1025),
		"ViaLeader": {good, {Bucket: own, Since: table.Since[own], Key: key, ViaLeader: true}},
		"Acting":    {good, {Bucket: own, Since: table.Since[own], Key: key, Acting: true}},
		"Raw":       {good, {Bucket: own, Since: table.Since[own], Key: key, Raw: true}},
		"bucket":    {good, {Bucket: buckets, Key: key}},
	} {
		if _, err := serve(reads); !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("a batch with %s: %v, want %v", name, err, wire.ErrBadRequest)
		}
	}
	for _, bad := range []wire.Read{
		{Bucket: other, Since: table.Since[other], Key: key},                        // key outside the bucket
		{Bucket: own, Since: table.Since[own]},                                      // empty key
		{Bucket: own, Since: table.Since[own] + 1, Key: key},                        // stale assignment
		{Bucket: other, Since: table.Since[other], Key: keyIn("x", other, buckets)}, // not its primary
	} {
		_, aloneErr := follower.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: term, Msg: &bad})
		msg, err := serve([]wire.Read{good, bad, good})
		if err != nil {
			t.Fatalf("a batch with %+v in it: refused whole: %v", bad, err)
		}
		r := msg.(*wire.ReadBatchResp).Results
		if len(r) != 3 || aloneErr == nil || r[1].Code != wire.CodeOf(aloneErr) {
			t.Fatalf("%+v in a batch: %+v; alone: %v", bad, r, aloneErr)
		}
		for _, j := range []int{0, 2} {
			if r[j].Code != "" || !r[j].Found || string(r[j].Entry.Value) != "v" {
				t.Errorf("the good read of a batch with %+v: %+v", bad, r[j])
			}
		}
	}
}
