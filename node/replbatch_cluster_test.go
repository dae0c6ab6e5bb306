package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// keyIn returns a key of bucket b that starts with prefix.
func keyIn(prefix string, b, buckets int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("%s-%d", prefix, i); shard.BucketOf(k, buckets) == b {
			return k
		}
	}
}

// placementOf returns leader l's placement table, asked as node from asks
// (a GetState).
func placementOf(t *testing.T, ctx context.Context, l, from *clustertest.Node) shard.Table {
	t.Helper()
	msg, err := l.ServePeer(ctx, transport.Envelope{From: uint64(from.ID()), Term: l.Status().Term, Msg: &wire.GetState{}})
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*wire.State).State.Table
}

// TestReplicateBatchAnswersAsSingleWrites: every write of a batch gets, on
// every node, the answer the same write gets sent alone (a twin of it: the
// same bucket, assignment and version, another key), and a write the batch
// applied is held as sent. The writes cover applied, not held here, a key
// outside its bucket and a stale assignment; the nodes hold their data in
// memory, or in data directories, with the batch served on a connection's
// reader (inline) or not.
func TestReplicateBatchAnswersAsSingleWrites(t *testing.T) {
	for _, tc := range []struct {
		name            string
		durable, inline bool
	}{{"memory", false, true}, {"durable", true, false}, {"durable inline", true, true}} {
		t.Run(tc.name, func(t *testing.T) { testReplicateBatchAnswers(t, tc.durable, tc.inline) })
	}
}

func testReplicateBatchAnswers(t *testing.T, durable, inline bool) {
	const buckets = 8
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, Durable: durable,
		Configure: func(_ int, cfg *node.Config) { cfg.Fsync = wal.FsyncEverySec }})
	l := c.WaitLeader(30 * time.Second)
	c.WaitFor(30*time.Second, "every node ready", c.AllReady)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	batchCtx := ctx
	if inline {
		batchCtx = transport.WithInline(ctx)
	}
	term := l.Status().Term
	follower := c.Followers(l)[0]
	table := placementOf(t, ctx, l, follower)

	seq := uint64(1 << 40)
	item := func(prefix string, b int) wire.Replicate {
		seq++
		k := keyIn(prefix, b, buckets)
		return wire.Replicate{Bucket: b, Since: table.Since[b],
			Entry: store.Entry{Key: k, Value: []byte("v-" + k), Version: store.Version{Term: term, Seq: seq}}}
	}
	applied, refused := 0, map[string]bool{}
	for _, n := range c.Nodes() {
		var batch, alone []wire.Replicate
		add := func(shape func(*wire.Replicate), b int) {
			x, y := item(fmt.Sprintf("batch-%d", n.Index), b), item(fmt.Sprintf("alone-%d", n.Index), b)
			shape(&x)
			shape(&y)
			batch, alone = append(batch, x), append(alone, y)
		}
		for b := range buckets {
			add(func(*wire.Replicate) {}, b)
		}
		add(func(r *wire.Replicate) { r.Bucket = (r.Bucket + 1) % buckets }, 2) // key outside its bucket
		add(func(r *wire.Replicate) { r.Since++ }, 3)                           // another assignment

		msg, err := n.ServePeer(batchCtx, transport.Envelope{From: uint64(l.ID()), Term: term, Msg: &wire.ReplicateBatch{Items: batch}})
		if err != nil {
			t.Fatalf("node %d: batch refused whole: %v", n.Index, err)
		}
		results := msg.(*wire.ReplicateBatchAck).Results
		if len(results) != len(batch) {
			t.Fatalf("node %d: %d answers to %d writes", n.Index, len(results), len(batch))
		}
		for i := range alone {
			ack, err := n.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: term, Msg: &alone[i]})
			wantCode, wantApplied := "", false
			if err != nil {
				wantCode = wire.CodeOf(err)
			} else {
				wantApplied = ack.(*wire.ReplicateAck).Applied
			}
			got := results[i]
			if got.Code != wantCode || got.Applied != wantApplied {
				t.Errorf("node %d, write %d (bucket %d): in a batch %+v, alone code %q applied %v", n.Index, i, batch[i].Bucket, got, wantCode, wantApplied)
			}
			if got.Code != "" {
				refused[got.Code] = true
				continue
			}
			applied++
			e := batch[i].Entry
			rr, err := n.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: term,
				Msg: &wire.Read{Bucket: batch[i].Bucket, Since: batch[i].Since, Key: e.Key, Raw: true}})
			if err != nil {
				t.Fatalf("node %d: reading back %s: %v", n.Index, e.Key, err)
			}
			if r := rr.(*wire.ReadResp); !r.Found || r.Entry.Version != e.Version || string(r.Entry.Value) != string(e.Value) {
				t.Errorf("node %d: %s reads back as %+v, want %+v", n.Index, e.Key, r, e)
			}
		}
	}
	// The cases above must have happened for the comparison to mean much.
	if applied == 0 {
		t.Error("no write of any batch was applied")
	}
	for _, code := range []string{"not_owner", "bad_request", "stale_epoch"} {
		if !refused[code] {
			t.Errorf("no write was refused with %s; refused: %v", code, refused)
		}
	}
}

// TestReplicateBatchDoorBounds: a batch with no writes or more than a
// replica takes is refused whole before any handler sees it; a write no
// leader can have made (a version of a term far ahead) or over the
// replica's limits is refused alone, as it would be sent alone, and the
// others of its batch are not.
func TestReplicateBatchDoorBounds(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: 8})
	l := c.WaitLeader(30 * time.Second)
	c.WaitFor(30*time.Second, "every node ready", c.AllReady)
	n := c.Followers(l)[0]
	term := l.Status().Term
	forged := []wire.Replicate{
		{Bucket: shard.BucketOf("ok", 8), Entry: store.Entry{Key: "ok", Version: store.Version{Term: term, Seq: 1}}},
		{Bucket: shard.BucketOf("forged", 8), Entry: store.Entry{Key: "forged", Version: store.Version{Term: term + 1e12, Seq: 1}}},
	}
	for name, items := range map[string][]wire.Replicate{"no": nil, "1025": make([]wire.Replicate, 1025)} {
		_, err := n.ServePeer(context.Background(), transport.Envelope{From: uint64(l.ID()), Term: term,
			Msg: &wire.ReplicateBatch{Items: items}})
		if !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("a batch of %s writes: %v, want %v", name, err, wire.ErrBadRequest)
		}
	}
	tooLarge := wire.Replicate{Bucket: shard.BucketOf("big", 8),
		Entry: store.Entry{Key: "big", Value: make([]byte, 2<<20), Version: store.Version{Term: term, Seq: 2}}}
	for _, single := range append(forged[1:], tooLarge) {
		_, aloneErr := n.ServePeer(context.Background(), transport.Envelope{From: uint64(l.ID()), Term: term, Msg: &single})
		msg, err := n.ServePeer(context.Background(), transport.Envelope{From: uint64(l.ID()), Term: term,
			Msg: &wire.ReplicateBatch{Items: []wire.Replicate{forged[0], single}}})
		if err != nil {
			t.Fatalf("a batch with %s in it: refused whole: %v", single.Entry.Key, err)
		}
		r := msg.(*wire.ReplicateBatchAck).Results
		if aloneErr == nil || r[1].Code != wire.CodeOf(aloneErr) {
			t.Errorf("%s in a batch: %+v; alone: %v", single.Entry.Key, r[1], aloneErr)
		}
		if r[0].Code == r[1].Code {
			t.Errorf("the other write of the batch got %s's refusal: %+v", single.Entry.Key, r[0])
		}
	}
}
