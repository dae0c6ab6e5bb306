package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProcessClusterSecret runs three nodes sharing --cluster-secret, then
// starts a fourth with another secret and a fifth with none, both joining
// the three: neither gets in (the cluster keeps its members and no message
// of theirs reaches it), neither holds or serves data, both say why in
// their logs, and the cluster's nodes log each refused peer once, not once
// per attempt.
func TestProcessClusterSecret(t *testing.T) {
	const secret = "the cluster's shared secret, 16+ bytes"
	c := startProcCluster(t, 3, "--dead-after", "1s", "--buckets", "128", "--cluster-secret", secret)
	l := c.settled(60 * time.Second)
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("secret-%d", i)
	}
	writeUntilAll(t, c.http[(l+1)%3], keys, "v", 10*time.Second)
	before, ok := clusterOf(t, c.http[l])
	if !ok || len(before.Nodes) != 3 {
		t.Fatalf("cluster view before the intruders: %+v", before)
	}

	ports := freePorts(t, 4)
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	join := strings.Join(c.join, ",")
	intruder := func(httpAddr, peerAddr string, extra ...string) *proc {
		args := append([]string{"node", "--http", httpAddr, "--peer", peerAddr, "--advertise", "127.0.0.1",
			"--join", join, "--dead-after", "1s", "--buckets", "128"}, extra...)
		return startProc(t, c.bin, httpAddr, args...)
	}
	wrongPeer, nonePeer := addr(2), addr(3)
	wrong := intruder(addr(0), wrongPeer, "--cluster-secret", "another secret, also 16+ bytes")
	none := intruder(addr(1), nonePeer)

	// The refused nodes say why.
	waitLog(t, wrong, 20*time.Second, "peer refused: cluster secret mismatch")
	waitLog(t, none, 20*time.Second, "refused: cluster secret mismatch", "this cluster requires --cluster-secret")
	// The refusing nodes say whom they refused.
	for _, p := range c.running() {
		waitLog(t, p, 20*time.Second, "refusing peer connection: cluster secret mismatch", wrongPeer,
			"it runs without --cluster-secret")
	}

	// For three times dead-after, while both keep trying (every 100ms), the
	// cluster keeps its three members and a leader among them, never learns
	// of the refused nodes, and they hold nothing.
	members := map[uint64]bool{}
	for _, n := range before.Nodes {
		members[n.ID] = true
	}
	terms := map[uint64]bool{before.Term: true}
	watchUntil := time.Now().Add(3 * time.Second)
	polls := 0
	for time.Now().Before(watchUntil) {
		polls++
		for _, p := range c.running() {
			cv, ok := clusterOf(t, p.http)
			if !ok {
				t.Fatalf("%s stopped answering /v1/cluster", p.http)
			}
			if len(cv.Nodes) != 3 || cv.Leader != 0 && !members[cv.Leader] {
				t.Fatalf("the cluster changed while refused nodes tried to join: %+v, before %+v", cv, before)
			}
			for _, n := range cv.Nodes {
				if !members[n.ID] || n.Peer == wrongPeer || n.Peer == nonePeer {
					t.Fatalf("a refused node appears in /v1/cluster: %+v", cv)
				}
			}
			terms[cv.Term] = true
		}
		for _, p := range []*proc{wrong, none} {
			st, ok := nodeStatus(t, p.http)
			if !ok {
				t.Fatalf("refused node %s does not answer /admin/status", p.http)
			}
			if st.Keys != 0 || st.Leader != 0 && st.Leader != st.ID || len(st.Members) > 1 {
				t.Fatalf("refused node %s: %+v", p.http, st)
			}
		}
		time.Sleep(100 * time.Millisecond) // polling real processes
	}
	// They serve nothing of the cluster's, and take no writes.
	for _, p := range []*proc{wrong, none} {
		if st, _, b := request(t, "GET", "http://"+p.http+"/v1/kv/"+keys[0], nil); st == 200 {
			t.Errorf("refused node %s served a key of the cluster: %s", p.http, b)
		}
		if st, _, b := request(t, "PUT", "http://"+p.http+"/v1/kv/intruder", []byte("x")); st/100 == 2 {
			t.Errorf("refused node %s took a write: %d %s", p.http, st, b)
		}
	}
	if st, _, _ := request(t, "GET", "http://"+c.http[l]+"/v1/kv/intruder", nil); st != 404 {
		t.Errorf("the cluster has the refused node's key: %d", st)
	}
	for _, p := range c.running() {
		readsBack(t, p.http, keys, "v")
	}

	// Each refusal is logged once per peer and reason, not per attempt.
	for _, p := range c.running() {
		out := p.out.String()
		if n := linesWith(out, "refusing peer connection: cluster secret mismatch", wrongPeer); n != 1 {
			t.Errorf("%s logged %d refusals of %s, want 1 (rate-limited)", p.http, n, wrongPeer)
		}
		if n := linesWith(out, "refusing peer connection: cluster secret mismatch", "without --cluster-secret"); n != 1 {
			t.Errorf("%s logged %d refusals of the node without a secret, want 1 (rate-limited)", p.http, n)
		}
		if n := linesWith(out, "transport: handshake failed"); n != 0 {
			t.Errorf("%s logged %d per-connection handshake failures besides its rate-limited lines", p.http, n)
		}
	}
	for _, peer := range c.join {
		if n := linesWith(wrong.out.String(), "peer refused: cluster secret mismatch", peer); n != 1 {
			t.Errorf("the node with the wrong secret logged %d refusals by %s, want 1", n, peer)
		}
	}
	// No message of theirs reached the cluster: its nodes never name them
	// (no vote, no join, no hello), and they never heard of its leader.
	for _, p := range []*proc{wrong, none} {
		st, _ := nodeStatus(t, p.http)
		id := strconv.FormatUint(st.ID, 10)
		for _, q := range c.running() {
			if strings.Contains(q.out.String(), id) {
				t.Errorf("node %s mentions refused node %s in its log:\n%s", q.http, id, q.out)
			}
		}
		if strings.Contains(p.out.String(), strconv.FormatUint(before.Leader, 10)) {
			t.Errorf("refused node %s heard of the cluster's leader:\n%s", p.http, p.out)
		}
	}
	t.Logf("%d polls over 3s: the cluster kept its 3 members; leader %d, terms seen %d (more than one means an election, which the load on the machine, not a refused node, can cause)",
		polls, before.Leader, len(terms))
}
