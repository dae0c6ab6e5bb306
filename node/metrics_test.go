package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestPeerTransportMetrics checks, on a cluster over real TCP, that the
// peer counters in /metrics follow the traffic: the leader sends frames
// in no more writes than frames, and the replicas serve its writes on
// their connections' readers, writing the answers themselves.
func TestPeerTransportMetrics(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: 64, TCP: true})
	l := c.WaitLeader(30 * time.Second)
	for i := range 50 {
		if r := l.Do("PUT", fmt.Sprintf("/v1/kv/m%d", i), []byte("v")); r.Status != 200 {
			t.Fatalf("PUT: %v", r)
		}
	}
	frames, writes := counter(t, l, "jumpkv_peer_frames_sent_total"), counter(t, l, "jumpkv_peer_writes_total")
	if frames < 50 || writes < 1 || writes > frames {
		t.Errorf("leader: %v frames in %v writes, want 50 writes' replication or more, in at most as many writes", frames, writes)
	}
	onReader, readerWrites := 0.0, 0.0
	for _, f := range c.Followers(l) {
		onReader += counter(t, f, "jumpkv_peer_requests_on_reader_total")
		readerWrites += counter(t, f, "jumpkv_peer_reader_writes_total")
		if w, rw := counter(t, f, "jumpkv_peer_writes_total"), counter(t, f, "jumpkv_peer_reader_writes_total"); rw > w {
			t.Errorf("node %d: %v reader writes of %v writes", f.ID(), rw, w)
		}
	}
	// Each write reaches one or two followers (2 copies on 3 nodes).
	if onReader < 50 || readerWrites < 1 {
		t.Errorf("followers served %v requests on their readers and made %v reader writes; want at least 50 and 1", onReader, readerWrites)
	}
}
