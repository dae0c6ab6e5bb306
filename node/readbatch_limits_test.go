package node_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// primaryBucketsOf returns a follower of leader l and the buckets it is
// primary for, with the assignment epochs of all buckets.
func primaryBucketsOf(t *testing.T, ctx context.Context, c *clustertest.Cluster, l *clustertest.Node, buckets int) (*clustertest.Node, []int, []uint64) {
	t.Helper()
	for _, f := range c.Followers(l) {
		table := placementOf(t, ctx, l, f)
		var own []int
		for b := range buckets {
			if table.Primary(b) == shard.NodeID(f.ID()) {
				own = append(own, b)
			}
		}
		if len(own) > 0 {
			return f, own, table.Since
		}
	}
	t.Fatal("no follower is primary for a bucket")
	return nil, nil, nil
}

// delayedCluster starts 3 nodes of the given buckets over a network that
// delays every message by delay, and waits for a leader and every node
// ready (in virtual time: call it in a synctest bubble).
func delayedCluster(t *testing.T, buckets int, delay time.Duration) (*clustertest.Cluster, *clustertest.Node) {
	t.Helper()
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, DelayMin: delay, DelayMax: delay})
	l := c.WaitLeader(120 * time.Second)
	c.WaitFor(120*time.Second, "every node ready", c.AllReady)
	return c, l
}

// TestReadBatchAnswerFitsAFrame: the answer to a ReadBatch must fit
// in a peer frame, or the transport replaces it with ErrTooLarge and the
// whole batch fails. onReadBatch puts every value in one ReadBatchResp
// with no bound on its bytes (a Pull's Chunk has pullChunkBytes; a single
// Read carries one value), so a batch GetMany really sends (three keys of
// one primary, at the configured --max-value of 8 MiB) is answered with a
// frame over MaxFrame: the primary reads and encodes 24 MiB for nothing
// and every read is redone alone. A peer can ask for the same large key
// 1024 times in one small frame and make the primary encode 1024 values.
func TestReadBatchAnswerFitsAFrame(t *testing.T) {
	const buckets = 8
	const maxValue = 8 << 20
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets,
		Configure: func(_ int, cfg *node.Config) { cfg.MaxValue = maxValue }})
	l := c.WaitLeader(30 * time.Second)
	c.WaitFor(30*time.Second, "every node ready", c.AllReady)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, own, since := primaryBucketsOf(t, ctx, c, l, buckets)

	var keys []string
	for i := range 3 {
		k := keyIn(fmt.Sprintf("big%d", i), own[i%len(own)], buckets)
		v := bytes.Repeat([]byte{byte('a' + i)}, maxValue)
		if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: k, Value: v}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		keys = append(keys, k)
	}
	// GetMany on the leader sends these three reads to f in one batch.
	c.WaitFor(30*time.Second, "the leader sends reads in batches", func() bool {
		before := counterValue(t, l, "jumpkv_read_batches_total")
		l.GetMany(ctx, []string{keyIn("small-a", own[0], buckets), keyIn("small-b", own[0], buckets)})
		return counterValue(t, l, "jumpkv_read_batches_total") > before
	})
	before := counterValue(t, l, "jumpkv_read_batches_total")
	got := l.GetMany(ctx, keys)
	if counterValue(t, l, "jumpkv_read_batches_total") == before {
		t.Fatal("GetMany sent no batch for three keys of one primary")
	}
	for i := range keys {
		if got[i].Err != nil || len(got[i].Entry.Value) != maxValue {
			t.Fatalf("GetMany %q: %d bytes, %v", keys[i], len(got[i].Entry.Value), got[i].Err)
		}
	}

	// That batch, as the primary answers it.
	reads := make([]wire.Read, len(keys))
	for i, k := range keys {
		b := shard.BucketOf(k, buckets)
		reads[i] = wire.Read{Bucket: b, Since: since[b], Key: k}
	}
	msg, err := f.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: l.Status().Term, Msg: &wire.ReadBatch{Reads: reads}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := wire.AppendEncode(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	if size, limit := wire.HeaderLen+len(body), f.Config().MaxFrame(); size > limit {
		t.Errorf("the answer to a batch of %d reads GetMany sends is a frame of %d bytes, over the peer frame limit %d: "+
			"the transport answers ErrTooLarge instead and every read is redone alone", len(reads), size, limit)
	}
	// A peer asking for one large key 1024 times in one small frame gets
	// the value once, and the other reads refused: not 1024 copies.
	same := make([]wire.Read, 1024)
	for i := range same {
		same[i] = reads[0]
	}
	msg, err = f.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: l.Status().Term, Msg: &wire.ReadBatch{Reads: same}})
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, r := range msg.(*wire.ReadBatchResp).Results {
		if r.Code == "" {
			answered++
		}
	}
	if answered != 1 {
		t.Errorf("a batch of 1024 reads of one %d-byte value: %d answered with the value, want 1", maxValue, answered)
	}
}

// primaryCutOff starts 3 nodes with callTimeout (nobody declared dead for
// 20s), makes n keys named prefix0.. of buckets one follower is primary
// of, waits until the leader sends reads in batches, and cuts that
// follower off until the test ends. It returns the leader and the keys (in
// virtual time: call it in a synctest bubble).
func primaryCutOff(t *testing.T, callTimeout time.Duration, prefix string, n int) (*clustertest.Node, []string) {
	t.Helper()
	const buckets = 8
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, DeadAfter: 20 * time.Second,
		Configure: func(_ int, cfg *node.Config) { cfg.CallTimeout = callTimeout }})
	l := c.WaitLeader(120 * time.Second)
	ctx := context.Background()
	f, own, _ := primaryBucketsOf(t, ctx, c, l, buckets)
	var keys []string
	for i := range n {
		keys = append(keys, keyIn(fmt.Sprintf("%s%d", prefix, i), own[i%len(own)], buckets))
	}
	c.WaitFor(60*time.Second, "the leader sends reads in batches", func() bool {
		before := counterValue(t, l, "jumpkv_read_batches_total")
		l.GetMany(ctx, keys)
		return counterValue(t, l, "jumpkv_read_batches_total") > before
	})
	c.Isolate(f.Index)
	t.Cleanup(c.Heal)
	return l, keys
}

// TestGetManyRedoesReadsAtOnce: when a batch is not settled (here its
// primary cannot be reached), GetMany redoes its reads one Get after the
// other, each waiting out its own CallTimeout (twice: to the primary, then
// through the leader), so an MGET of k keys of an unreachable primary
// takes about (1+2k) CallTimeouts where its k Gets, done at once as MGET
// did them before GetMany, took two. In virtual time (synctest), so the
// durations are exact.
func TestGetManyRedoesReadsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callTimeout = 100 * time.Millisecond
		l, keys := primaryCutOff(t, callTimeout, "k", 6)
		ctx := context.Background()

		start := time.Now()
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Go(func() { l.Get(ctx, k) })
		}
		wg.Wait()
		gets := time.Since(start)

		start = time.Now()
		res := l.GetMany(ctx, keys)
		many := time.Since(start)
		for i := range res {
			if res[i].Err == nil {
				t.Fatalf("%q read from an isolated primary", keys[i])
			}
		}
		if many > gets+2*callTimeout {
			t.Errorf("GetMany of %d keys of an unreachable primary took %v; the same Gets at once took %v "+
				"(the reads a batch leaves are redone one after the other)", len(keys), many, gets)
		}
	})
}

// TestGetManyCallersShareBatches: reads of one primary by GetManys running
// at once (the pipelines of many clients) share ReadBatch frames: while
// batchInflight batches are on their way, the reads of later callers wait
// and go together in the next. Sixteen callers of two keys each, over a
// network that delays every message by 2 ms, in virtual time (synctest):
// sent one frame per caller, a frame would carry two reads; shared, more.
// Every read answers its own key's value.
func TestGetManyCallersShareBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 8
		c, l := delayedCluster(t, buckets, 2*time.Millisecond)
		ctx := context.Background()
		_, own, _ := primaryBucketsOf(t, ctx, c, l, buckets)
		const callers = 16
		keys := make([][]string, callers)
		for i := range callers {
			for j := range 2 {
				k := keyIn(fmt.Sprintf("c%d-%d", i, j), own[(i+j)%len(own)], buckets)
				if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: k, Value: []byte("v-" + k)}); err != nil {
					t.Fatalf("put %q: %v", k, err)
				}
				keys[i] = append(keys[i], k)
			}
		}
		c.WaitFor(60*time.Second, "the leader sends reads in batches", func() bool {
			before := counterValue(t, l, "jumpkv_read_batches_total")
			l.GetMany(ctx, keys[0])
			return counterValue(t, l, "jumpkv_read_batches_total") > before
		})
		batches, reads := counterValue(t, l, "jumpkv_read_batches_total"), counterValue(t, l, "jumpkv_read_batched_reads_total")
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				for j, r := range l.GetMany(ctx, keys[i]) {
					if r.Err != nil || string(r.Entry.Value) != "v-"+keys[i][j] {
						t.Errorf("caller %d read %q: %q, %v", i, keys[i][j], r.Entry.Value, r.Err)
					}
				}
			})
		}
		wg.Wait()
		batches = counterValue(t, l, "jumpkv_read_batches_total") - batches
		reads = counterValue(t, l, "jumpkv_read_batched_reads_total") - reads
		if reads != 2*callers {
			t.Fatalf("%v reads sent in batches, want %d", reads, 2*callers)
		}
		if per := reads / batches; per <= 2 {
			t.Errorf("%v reads in %v batches (%.1f each): the callers did not share frames", reads, batches, per)
		}
		t.Logf("%v reads of %d callers in %v batches", reads, callers, batches)
	})
}

// TestGetManyCallersOfLargeValuesShareBatches: reads of large values by
// GetManys running at once also share batches, and the reads a primary
// leaves unanswered because a batch's answer is full (readBatchAnswerBytes)
// go again in the next batch rather than one by one: 64 callers of one
// 64 KiB value each (a batch's answer holds about 16) all read their
// value, and more reads travel in batches than there are callers.
func TestGetManyCallersOfLargeValuesShareBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 8
		c, l := delayedCluster(t, buckets, 2*time.Millisecond)
		ctx := context.Background()
		_, own, _ := primaryBucketsOf(t, ctx, c, l, buckets)
		const callers = 64
		keys := make([]string, callers)
		value := func(k string) []byte { return append([]byte(k), bytes.Repeat([]byte("v"), 64<<10)...) }
		for i := range callers {
			keys[i] = keyIn(fmt.Sprintf("big%d", i), own[i%len(own)], buckets)
			if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: keys[i], Value: value(keys[i])}); err != nil {
				t.Fatalf("put %q: %v", keys[i], err)
			}
		}
		c.WaitFor(60*time.Second, "the leader sends reads in batches", func() bool {
			before := counterValue(t, l, "jumpkv_read_batches_total")
			l.GetMany(ctx, keys[:2])
			return counterValue(t, l, "jumpkv_read_batches_total") > before
		})
		reads := counterValue(t, l, "jumpkv_read_batched_reads_total")
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				r := l.GetMany(ctx, keys[i:i+1])[0]
				if r.Err != nil || !bytes.Equal(r.Entry.Value, value(keys[i])) {
					t.Errorf("caller %d read %q: %d bytes, %v", i, keys[i], len(r.Entry.Value), r.Err)
				}
			})
		}
		wg.Wait()
		if sent := counterValue(t, l, "jumpkv_read_batched_reads_total") - reads; sent <= callers {
			t.Errorf("%v reads sent in batches for %d callers: the reads a full answer left went alone", sent, callers)
		}
	})
}

// TestGetManyWaitsNoLongerForSharingABatch: a read that waited its turn
// behind batches to a primary that stopped answering, and then went in a
// batch with a later caller's read, is given up when its own deadline
// passes, not the later caller's, so that sharing a batch costs a caller
// no more than reading alone. Four callers of one key each, 30ms apart,
// at the leader, while the primary is cut off: the first two go at once,
// the last two wait and then share a batch. The third must take no
// longer than the first, which went alone. In virtual time (synctest).
func TestGetManyWaitsNoLongerForSharingABatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, keys := primaryCutOff(t, 100*time.Millisecond, "w", 4)
		ctx := context.Background()
		took := make([]time.Duration, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				start := time.Now()
				if r := l.GetMany(ctx, keys[i:i+1])[0]; r.Err == nil {
					t.Errorf("%q read from a primary cut off", keys[i])
				}
				took[i] = time.Since(start)
			})
			time.Sleep(30 * time.Millisecond)
		}
		wg.Wait()
		if took[2] > took[0]+15*time.Millisecond {
			t.Errorf("the third caller took %v, the first (alone) %v: a shared batch held it past its deadline (all: %v)",
				took[2], took[0], took)
		}
	})
}

// TestReadBatchMergesItsBucketsAtOnce: a primary asked a ReadBatch of
// keys of several buckets not merged under the current authority (as
// after a new term) merges them all at once before serving the reads.
// Served in order, each read waited for its bucket's merge before the
// next read's began: a batch of four buckets took four merges' time
// (virtual time, 5 ms per message).
func TestReadBatchMergesItsBucketsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 16
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, DelayMin: 5 * time.Millisecond, DelayMax: 5 * time.Millisecond,
			Configure: func(_ int, cfg *node.Config) { cfg.SyncInterval = time.Hour }})
		l := c.WaitLeader(120 * time.Second)
		c.WaitFor(120*time.Second, "every node ready", c.AllReady)
		ctx := context.Background()
		f, own, since := primaryBucketsOf(t, ctx, c, l, buckets)
		if len(own) < 4 {
			t.Fatalf("node %d is primary of %d buckets: want 4", f.Index, len(own))
		}
		var reads []wire.Read
		for _, b := range own[:4] {
			k := keyIn("merge", b, buckets)
			if _, err := l.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: k, Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			reads = append(reads, wire.Read{Bucket: b, Since: since[b], Key: k})
		}
		// The follower's first read lease begins after the cluster is
		// ready: a merge under no lease yet does not count.
		c.WaitFor(30*time.Second, "the follower serving reads from its own copy", func() bool {
			_, err := f.Get(ctx, reads[0].Key)
			return err == nil && counterValue(t, f, "jumpkv_reads_local_total") > 0
		})
		timed := func(reads []wire.Read) time.Duration {
			f.ForgetMerges()
			start := time.Now()
			msg, err := f.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: l.Status().Term, Msg: &wire.ReadBatch{Reads: reads}})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range msg.(*wire.ReadBatchResp).Results {
				if r.Code != "" || !r.Found || string(r.Entry.Value) != "v" {
					t.Fatalf("read %d of %d: %+v", i, len(reads), r)
				}
			}
			return took
		}
		one, four := timed(reads[:1]), timed(reads)
		if one < 10*time.Millisecond {
			t.Fatalf("a read of one unmerged bucket took %v: less than a round trip, so no merge was waited for", one)
		}
		if four > 2*one {
			t.Errorf("reads of 4 unmerged buckets took %v, of one %v: the merges ran one after the other", four, one)
		}
	})
}

// TestReadBatchMergesEndByOneDeadline: the merges a ReadBatch waits for
// all end by one deadline, a CallTimeout after it arrives, by when its
// sender has stopped waiting: reads of buckets still unmerged then answer
// ErrUnavailable. Here the primary's co-replica of more buckets than are
// merged at once does not answer (each merge waits out a CallTimeout);
// the batch took two CallTimeouts, one per round of merges (virtual time).
func TestReadBatchMergesEndByOneDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 128
		const callTimeout = 200 * time.Millisecond
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets, DeadAfter: 20 * time.Second,
			Configure: func(_ int, cfg *node.Config) { cfg.SyncInterval = time.Hour; cfg.CallTimeout = callTimeout }})
		l := c.WaitLeader(120 * time.Second)
		c.WaitFor(120*time.Second, "every node ready", c.AllReady)
		ctx := context.Background()
		f, own, since := primaryBucketsOf(t, ctx, c, l, buckets)
		var other *clustertest.Node // the follower that is not f
		for _, n := range c.Followers(l) {
			if n != f {
				other = n
			}
		}
		table := placementOf(t, ctx, l, f)
		var reads []wire.Read
		for _, b := range own {
			if reps := table.Buckets[b]; len(reps) == 2 && reps[1] == shard.NodeID(other.ID()) {
				reads = append(reads, wire.Read{Bucket: b, Since: since[b], Key: keyIn("d", b, buckets)})
			}
		}
		if len(reads) <= 8 {
			t.Fatalf("%d buckets of node %d have node %d as their backup: want more than are merged at once (8)", len(reads), f.Index, other.Index)
		}
		f.ForgetMerges()
		c.Net.Block(f.Peer, other.Peer)
		defer c.Net.Heal()
		start := time.Now()
		msg, err := f.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: l.Status().Term, Msg: &wire.ReadBatch{Reads: reads}})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		answered := 0
		for i, r := range msg.(*wire.ReadBatchResp).Results {
			switch r.Code {
			case "":
				answered++
			case wire.CodeOf(wire.ErrUnavailable):
			default:
				t.Errorf("read %d: %q %q", i, r.Code, r.Message)
			}
		}
		if took > callTimeout+callTimeout/2 {
			t.Errorf("the batch of %d reads took %v: its merges should end by one deadline, %v", len(reads), took, callTimeout)
		}
		t.Logf("%d reads of unmerged buckets, %d answered, in %v", len(reads), answered, took)
	})
}
