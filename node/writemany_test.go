package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/wire"
)

// TestWriteManyAnswersAsWrite: on every node, memory only or with data
// directories, WriteMany answers each write as Write would (puts with and
// without a ttl, a delete, a create of a taken key, a value too large, an
// empty key, a key given twice, a value too large to batch), and what it
// wrote reads back; the puts are carried out together by the leader (a
// delete or create needs the current value, and goes alone), a follower's
// once it forwards them in a batch.
func TestWriteManyAnswersAsWrite(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "durable"}[durable], func(t *testing.T) {
			testWriteManyAnswers(t, durable)
		})
	}
}

func testWriteManyAnswers(t *testing.T, durable bool) {
	const buckets = 8
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, Durable: durable,
		Configure: func(i int, cfg *node.Config) { cfg.MaxValue = 64 << 10 }})
	l := c.WaitLeader(30 * time.Second)
	c.WaitFor(30*time.Second, "every node ready", c.AllReady)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range c.Nodes() {
		if n != l {
			forwardedInBatches(t, ctx, c, n)
		}
		p := "n" + string(rune('0'+n.Index)) + "/"
		if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: p + "taken", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: p + "doomed", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		var ops []wire.WriteOp
		var want []error
		for b := range buckets {
			ops = append(ops, wire.WriteOp{Kind: wire.WritePut, Key: keyIn(p+"put", b, buckets), Value: []byte("v" + p)})
			want = append(want, nil)
		}
		big := bytes.Repeat([]byte("b"), 20<<10)
		ops = append(ops,
			wire.WriteOp{Kind: wire.WritePut, Key: p + "ttl", Value: []byte("t"), TTL: 3_600_000},
			wire.WriteOp{Kind: wire.WriteDelete, Key: p + "doomed"},
			wire.WriteOp{Kind: wire.WriteCreate, Key: p + "taken", Value: []byte("y")},
			wire.WriteOp{Kind: wire.WritePut, Key: p + "huge", Value: make([]byte, 65<<10)},
			wire.WriteOp{Kind: wire.WritePut, Key: "", Value: []byte("e")},
			wire.WriteOp{Kind: wire.WritePut, Key: keyIn(p+"put", 0, buckets), Value: []byte("again")},
			wire.WriteOp{Kind: wire.WritePut, Key: p + "big", Value: big},
		)
		want = append(want, nil, nil, wire.ErrExists, wire.ErrTooLarge, wire.ErrBadRequest, wire.ErrBadRequest, nil)
		before := counterValue(t, l, "jumpkv_writes_together_total")
		got := n.WriteMany(ctx, ops)
		if len(got) != len(ops) {
			t.Fatalf("node %d: %d results for %d writes", n.Index, len(got), len(ops))
		}
		for i, op := range ops {
			switch {
			case want[i] == nil && got[i].Err != nil:
				t.Errorf("node %d: write %d (%q): %v", n.Index, i, op.Key, got[i].Err)
			case want[i] != nil && !errors.Is(got[i].Err, want[i]):
				t.Errorf("node %d: write %d (%q): %v, want %v", n.Index, i, op.Key, got[i].Err, want[i])
			case want[i] == nil && got[i].Version.IsZero():
				t.Errorf("node %d: write %d (%q) answered no version", n.Index, i, op.Key)
			}
		}
		for i, op := range ops[:buckets+1] {
			e, err := l.Get(ctx, op.Key)
			if err != nil || !bytes.Equal(e.Value, op.Value) || e.Version != got[i].Version {
				t.Errorf("node %d: %q reads %q %v (%v), want %q %v", n.Index, op.Key, e.Value, e.Version, err, op.Value, got[i].Version)
			}
		}
		if e, err := l.Get(ctx, p+"ttl"); err != nil || e.Expires == 0 {
			t.Errorf("node %d: the put with a ttl reads %+v (%v): no expiry", n.Index, e, err)
		}
		if _, err := l.Get(ctx, p+"doomed"); !errors.Is(err, wire.ErrNotFound) {
			t.Errorf("node %d: the deleted key reads %v", n.Index, err)
		}
		if e, err := l.Get(ctx, p+"big"); err != nil || !bytes.Equal(e.Value, big) {
			t.Errorf("node %d: the big value reads %d bytes (%v)", n.Index, len(e.Value), err)
		}
		if together := counterValue(t, l, "jumpkv_writes_together_total") - before; together < buckets+1 {
			t.Errorf("node %d: the leader carried out %v writes together, want at least %d", n.Index, together, buckets+1)
		}
	}
}

// TestWriteManyPassesAMovingBucket: a write of a bucket whose gate is
// closed (a placement change moving it) waits alone, as Write does, while
// the writes carried out together with it end: the unit neither waits for
// the gate holding the others' locks, nor loses the write.
func TestWriteManyPassesAMovingBucket(t *testing.T) {
	const buckets = 8
	c, l, ctx := readyCluster(t, buckets)
	var ops []wire.WriteOp
	for b := range buckets {
		ops = append(ops, wire.WriteOp{Kind: wire.WritePut, Key: keyIn("m", b, buckets), Value: []byte("v")})
	}
	open := l.CloseGate(3)
	done := make(chan []node.WriteResult, 1)
	go func() { done <- l.WriteMany(ctx, ops) }()
	c.WaitFor(10*time.Second, "the writes of open buckets applied", func() bool {
		for b, op := range ops {
			if _, err := l.Get(ctx, op.Key); (b == 3) != errors.Is(err, wire.ErrNotFound) {
				return false
			}
		}
		return true
	})
	select {
	case <-done:
		t.Fatal("WriteMany returned while a bucket's gate was closed")
	default:
	}
	open()
	got := <-done
	for b, r := range got {
		if r.Err != nil {
			t.Errorf("bucket %d: %v", b, r.Err)
		}
	}
	if e, err := l.Get(ctx, ops[3].Key); err != nil || string(e.Value) != "v" {
		t.Errorf("the moving bucket's key reads %q (%v) after the gate opened", e.Value, err)
	}
}

// TestWriteManyTriesBusyWritesTogetherAgain: the writes of a unit whose
// key another write holds are tried together once more after the unit,
// rather than each going alone at once (which costs the leader about
// three times as much); only those still busy then go alone. Here two of
// six keys are held until the first unit is on its way (virtual time, 5
// ms per message): all six are carried out together, in two units.
func TestWriteManyTriesBusyWritesTogetherAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, l := delayedCluster(t, 16, 5*time.Millisecond)
		ctx := context.Background()
		var ops []wire.WriteOp
		for i := range 6 {
			ops = append(ops, wire.WriteOp{Kind: wire.WritePut, Key: fmt.Sprintf("busy-%d", i), Value: []byte("v")})
		}
		for i := 2; i < 6; i++ {
			if l.SameStripe(ops[i].Key, ops[0].Key) || l.SameStripe(ops[i].Key, ops[1].Key) {
				t.Fatalf("%s shares a key lock with a held key: pick other keys", ops[i].Key)
			}
		}
		before := counterValue(t, l, "jumpkv_writes_together_total")
		replicatedBefore := histogramCount(t, l, "jumpkv_replication_seconds")
		release0, release1 := l.HoldKeyLock(ops[0].Key), l.HoldKeyLock(ops[1].Key)
		go func() {
			time.Sleep(2 * time.Millisecond) // the first unit's backups have not answered yet
			release0()
			release1()
		}()
		for i, r := range l.WriteMany(ctx, ops) {
			if r.Err != nil {
				t.Fatalf("%s: %v", ops[i].Key, r.Err)
			}
		}
		if together := counterValue(t, l, "jumpkv_writes_together_total") - before; together != 6 {
			t.Errorf("%v of 6 writes carried out together; want all (the two busy ones in a second unit)", together)
		}
		if replicated := histogramCount(t, l, "jumpkv_replication_seconds") - replicatedBefore; replicated != 6 {
			t.Errorf("%d writes replicated for 6 writes: each must be carried out once", replicated)
		}
	})
}

// histogramCount is the number of observations of node n's histogram name
// (0 when it has none).
func histogramCount(t *testing.T, n *clustertest.Node, name string) uint64 {
	t.Helper()
	mfs, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return count
}
