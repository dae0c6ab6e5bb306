package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// sendFrames opens a connection to a peer port as an outsider (no cluster
// secret is set, and the test runs on loopback), sends each message as a
// well-formed frame, and reads whatever the node answers for a moment.
func sendFrames(t *testing.T, addr string, from, term uint64, msgs ...wire.Message) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer nc.Close()
	var out []byte
	for i, m := range msgs {
		body, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		out = wire.AppendFrame(out, wire.Header{Type: m.WireType(), ID: uint64(100 + i), From: from, Term: term}, body)
	}
	if _, err := nc.Write(out); err != nil {
		t.Fatalf("write to %s: %v", addr, err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = io.Copy(io.Discard, nc) // answers (errors), until the deadline
}

// TestProcessForgedPeerFramesChangeNothing replays, against real nodes,
// the single frames that once broke a cluster from its peer port: a term
// of 2^64-1 (term+1 wrapped, no election could succeed again), a term a
// day ahead (deposed the leader), a forged Install with an empty Since
// array (panicked every node that received it), a Repair at version
// MAX.MAX (made later writes of the key silently do nothing) and a Leave
// for another node's ID (evicted it). Afterwards the same leader leads at
// the same term, every node is up and ready, and writes take effect.
func TestProcessForgedPeerFramesChangeNothing(t *testing.T) {
	const buckets = 128
	c := startProcCluster(t, 3, "--dead-after", "1s", "--buckets", fmt.Sprint(buckets))
	l := c.settled(60 * time.Second)
	before, ok := clusterOf(t, c.http[l])
	if !ok {
		t.Fatal("no cluster view")
	}
	const key = "forged-key"
	if st, _, b := request(t, "PUT", "http://"+c.http[l]+"/v1/kv/"+key, []byte("v1")); st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	var epoch uint64
	{
		st, _, b := request(t, "GET", "http://"+c.http[l]+"/v1/cluster", nil)
		var v struct {
			Epoch uint64 `json:"epoch"`
		}
		if st != 200 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("/v1/cluster: %d %s", st, b)
		}
		epoch = v.Epoch
	}
	leaderID, term := before.Leader, before.Term
	var follower uint64
	for _, n := range before.Nodes {
		if n.ID != leaderID {
			follower = n.ID
		}
	}
	dayAhead := uint64(time.Now().Add(24 * time.Hour).UnixMicro())
	b := shard.BucketOf(key, buckets)
	forged := store.Entry{Key: key, Value: []byte("666"), Version: store.Version{Term: math.MaxUint64, Seq: math.MaxUint64}}
	emptySince := wire.ClusterState{Term: term, Leader: shard.NodeID(leaderID),
		Members: []wire.Member{{ID: shard.NodeID(leaderID), Peer: "127.0.0.1:1"}},
		Table:   shard.Table{Epoch: epoch + 1, Buckets: make([][]shard.NodeID, buckets)}}

	for _, peer := range c.join {
		sendFrames(t, peer, 99, math.MaxUint64, &wire.ClusterReq{})
		sendFrames(t, peer, 99, dayAhead, &wire.ClusterReq{})
		sendFrames(t, peer, leaderID, term, &wire.Install{State: emptySince})
		sendFrames(t, peer, 99, term, &wire.Leave{ID: shard.NodeID(follower)})
		for since := uint64(1); since <= epoch; since++ {
			for _, n := range before.Nodes {
				sendFrames(t, peer, n.ID, term, &wire.Repair{Bucket: b, Since: since, Entries: []store.Entry{forged}})
			}
		}
	}

	after, ok := clusterOf(t, c.http[l])
	if !ok || after.Leader != leaderID || after.Term != term || len(after.Nodes) != 3 {
		t.Fatalf("after the forged frames: leader %d term %d, %d nodes; before: leader %d term %d",
			after.Leader, after.Term, len(after.Nodes), leaderID, term)
	}
	for _, addr := range c.http {
		if st, _, body := request(t, "GET", "http://"+addr+"/readyz", nil); st != 200 {
			t.Fatalf("%s not ready after the forged frames: %d %s", addr, st, body)
		}
	}
	if st, _, body := request(t, "PUT", "http://"+c.http[l]+"/v1/kv/"+key, []byte("v2")); st != 200 {
		t.Fatalf("PUT after: %d %s", st, body)
	}
	for _, addr := range c.http {
		if st, _, body := request(t, "GET", "http://"+addr+"/v1/kv/"+key, nil); st != 200 || string(body) != "v2" {
			t.Fatalf("GET via %s after the forged Repair: %d %q, want v2", addr, st, body)
		}
	}
	if st, _, body := request(t, "DELETE", "http://"+c.http[l]+"/v1/kv/"+key, nil); st != 204 {
		t.Fatalf("DELETE: %d %s", st, body)
	}
	if st, _, _ := request(t, "GET", "http://"+c.http[(l+1)%3]+"/v1/kv/"+key, nil); st != 404 {
		t.Fatalf("GET after DELETE: %d, want 404", st)
	}
	out := c.procs[l].out.String()
	if !strings.Contains(out, "refused a peer message") {
		t.Errorf("the leader did not log the refusals")
	}
	if strings.Contains(out, "panic") {
		t.Errorf("a node panicked:\n%s", out)
	}
}
