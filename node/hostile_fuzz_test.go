package node_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// outsider is the sender ID of the hostile messages: not a member.
const outsider = 99

// hostileTerm picks the frame term of a fuzzed message relative to the
// cluster's current one. Terms a little ahead of the current one are left
// out: claiming a new term is what an election does, and a node that holds
// the cluster secret may legitimately do it (see the README's threat
// model); everything else must change nothing.
func hostileTerm(sel uint8, current uint64) uint64 {
	switch sel % 6 {
	case 0:
		return current
	case 1:
		return current - 1
	case 2:
		return 0
	case 3:
		return math.MaxUint64
	case 4:
		return uint64(time.Now().Add(24 * time.Hour).UnixMicro())
	}
	return uint64(time.Now().Add(2 * time.Minute).UnixMicro())
}

// hostileSeeds returns encoded messages of every request type, shaped like
// the attacks that once worked.
func hostileSeeds(buckets int) map[wire.Type]wire.Message {
	forged := store.Entry{Key: "fz-1", Value: []byte("666"), Version: store.Version{Term: math.MaxUint64, Seq: math.MaxUint64}}
	return map[wire.Type]wire.Message{
		wire.TypeHeartbeat: &wire.Heartbeat{Self: wire.Member{ID: outsider, Peer: "10.9.9.9:7070"}, Leading: 2, Epoch: math.MaxUint64, Committed: math.MaxUint64},
		wire.TypeHello:     &wire.Hello{Self: wire.Member{ID: outsider, Peer: "10.9.9.9:7070"}, Buckets: buckets},
		wire.TypeVote:      &wire.Vote{Term: math.MaxUint64},
		wire.TypeResign:    &wire.Resign{},
		wire.TypePreempt:   &wire.Preempt{},
		wire.TypeJoin:      &wire.Join{Member: wire.Member{ID: outsider, Peer: "10.9.9.9:7070"}, Buckets: buckets},
		wire.TypeLeave:     &wire.Leave{ID: 1},
		wire.TypeInstall:   &wire.Install{State: wire.ClusterState{Leader: outsider, Table: shard.Table{Epoch: 1 << 40, Buckets: make([][]shard.NodeID, buckets)}}},
		wire.TypeGetState:  &wire.GetState{},
		wire.TypeFill:      &wire.Fill{Epoch: 1 << 40, Buckets: []wire.FillBucket{{Bucket: 3, Fresh: true}}},
		wire.TypePull:      &wire.Pull{Bucket: -1, MaxBytes: math.MaxInt},
		wire.TypeReplicate: &wire.Replicate{Bucket: shard.BucketOf("fz-1", buckets), Since: 1, Entry: forged},
		wire.TypeReplicateBatch: &wire.ReplicateBatch{Items: []wire.Replicate{
			{Bucket: shard.BucketOf("fz-1", buckets), Since: 1, Entry: forged},
			{Bucket: shard.BucketOf("fz-2", buckets) + 1, Since: 1, Entry: store.Entry{Key: "fz-2", Value: []byte("x"), Version: forged.Version}},
		}},
		wire.TypeRead: &wire.Read{Bucket: buckets, Key: "fz-1", Raw: true},
		wire.TypeReadBatch: &wire.ReadBatch{Reads: []wire.Read{
			{Bucket: shard.BucketOf("fz-1", buckets), Since: math.MaxUint64, Key: "fz-1"},
			{Bucket: shard.BucketOf("fz-2", buckets) + 1, Key: "fz-2"},
			{Bucket: -1, Key: ""},
		}},
		wire.TypeForward: &wire.Forward{Op: wire.WriteOp{Kind: 9, Key: ""}},
		wire.TypeForwardBatch: &wire.ForwardBatch{Ops: []wire.WriteOp{
			{Kind: 9, Key: "fz-1"},
			{Kind: wire.WritePut, Key: ""},
			{Kind: wire.WritePut, Key: "fz-1", TTL: -1},
			{Kind: wire.WriteDelete, Key: "fz-2", Expiring: true},
		}},
		wire.TypeList:       &wire.List{Buckets: []int{-5, buckets + 1}, Limit: -1},
		wire.TypeDigests:    &wire.Digests{Buckets: []int{-1, 1 << 30}},
		wire.TypeClusterReq: &wire.ClusterReq{},
		wire.TypeSummary:    &wire.Summary{Bucket: 1 << 30},
		wire.TypeFetch:      &wire.Fetch{Bucket: 0, Keys: []string{""}},
		wire.TypeRepair:     &wire.Repair{Bucket: shard.BucketOf("fz-1", buckets), Since: 1, Entries: []store.Entry{forged}},
		wire.TypePurge:      &wire.Purge{Bucket: shard.BucketOf("fz-1", buckets), Since: 1, Keys: []store.KeyVersion{{Key: "fz-1", Version: forged.Version, Deleted: true}}},
		wire.TypeEvents:     &wire.Events{Term: math.MaxUint64, First: math.MaxUint64, Events: []wire.Event{{Key: "fz-1", Version: forged.Version}}},
	}
}

func counterValue(t *testing.T, n *clustertest.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += counterOf(m)
			}
			return sum
		}
	}
	return 0
}

func counterOf(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// FuzzHostilePeerMessages feeds decoded but hostile messages of every
// request type, from a non-member, at stale, absurd and far-future terms,
// straight to the handlers of a live in-memory cluster. After each one no
// node has panicked (the handlers recover, so the panic counter is
// checked), no two nodes lead the same term (G7), and every acknowledged
// key still reads back unchanged from every node.
func FuzzHostilePeerMessages(f *testing.F) {
	const buckets = 64
	for typ, m := range hostileSeeds(buckets) {
		body, err := wire.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		for sel := range uint8(6) {
			f.Add(uint8(typ), sel, sel, body)
		}
	}
	c := clustertest.Start(f, clustertest.Options{Nodes: 3, Buckets: buckets, DeadAfter: 400 * time.Millisecond})
	c.WaitFor(30*time.Second, "a leader and every node ready", func() bool { return c.Leader() != nil && c.AllReady() })
	acked := map[string]string{}
	for i := range 16 {
		k, v := fmt.Sprintf("fz-%d", i), fmt.Sprintf("value-%d", i)
		c.WaitFor(10*time.Second, "write "+k, func() bool {
			return c.Nodes()[i%3].Do(http.MethodPut, "/v1/kv/"+k, []byte(v)).Status == 200
		})
		acked[k] = v
	}
	f.Fuzz(func(t *testing.T, typ, nodeSel, termSel uint8, body []byte) {
		msg, err := wire.Decode(wire.Type(typ), body)
		if err != nil {
			return // the decoder's own fuzz targets cover what it refuses
		}
		nodes := c.Nodes()
		target := nodes[int(nodeSel)%len(nodes)]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		term := hostileTerm(termSel, target.Status().Term)
		_, _ = target.ServePeer(ctx, transport.Envelope{From: outsider, Term: term, Msg: msg})

		for _, n := range nodes {
			if p := counterValue(t, n, "jumpkv_peer_panics_total"); p != 0 {
				t.Fatalf("node %d: a handler panicked on %T", n.Index, msg)
			}
		}
		leaders := map[uint64]int{}
		for _, n := range nodes {
			if st := n.Status(); st.Role == "leader" {
				leaders[st.Term]++
				if leaders[st.Term] > 1 {
					t.Fatalf("two leaders of term %d after %T", st.Term, msg)
				}
			}
		}
		for k, v := range acked {
			for _, n := range nodes {
				var r clustertest.Response
				clustertest.WaitFor(t, 10*time.Second, "reading "+k, func() bool {
					r = n.Do(http.MethodGet, "/v1/kv/"+k, nil)
					return r.Status != http.StatusServiceUnavailable
				})
				if r.Status != 200 || string(r.Body) != v {
					t.Fatalf("after %T at term %d: %s via node %d: %v, want %q", msg, term, k, n.Index, r, v)
				}
			}
		}
	})
}
