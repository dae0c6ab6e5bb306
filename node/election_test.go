package node_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
)

// TestOneLeaderHighestIDAgreedByAll starts clusters of several sizes and
// checks that every node follows the same leader, the highest ID, in the
// same term, and that the placement is installed everywhere.
func TestOneLeaderHighestIDAgreedByAll(t *testing.T) {
	for _, size := range []int{1, 3, 4, 5} {
		t.Run(sizeName(size), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := clustertest.Start(t, clustertest.Options{Nodes: size})
				l := c.WaitLeader(30 * time.Second)
				var highest shard.NodeID
				for _, n := range c.Nodes() {
					highest = max(highest, n.ID())
				}
				if l.ID() != highest {
					t.Fatalf("leader %d, want the highest ID %d", l.ID(), highest)
				}
				term, epoch := l.Status().Term, l.Status().Epoch
				leaders := 0
				for _, n := range c.Nodes() {
					st := n.Status()
					if st.Leader != highest || st.Term != term || st.Epoch != epoch {
						t.Errorf("node %d: leader %d term %d epoch %d; leader's view: %d %d %d",
							n.ID(), st.Leader, st.Term, st.Epoch, highest, term, epoch)
					}
					if st.Role == "leader" {
						leaders++
					}
					if len(st.Members) != size {
						t.Errorf("node %d knows %d members, want %d", n.ID(), len(st.Members), size)
					}
				}
				if leaders != 1 {
					t.Fatalf("%d nodes consider themselves leader", leaders)
				}
			})
		})
	}
}

// TestLeaderStaysPut checks that a settled cluster keeps its leader and
// term: no spurious elections while nothing fails.
func TestLeaderStaysPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := c.WaitLeader(30 * time.Second)
		term := l.Status().Term
		time.Sleep(30 * time.Second) // virtual time: 150 heartbeat rounds
		synctest.Wait()
		for _, n := range c.Nodes() {
			if st := n.Status(); st.Leader != l.ID() || st.Term != term {
				t.Fatalf("node %d: leader %d term %d after 30s, want %d term %d", n.ID(), st.Leader, st.Term, l.ID(), term)
			}
		}
	})
}

func sizeName(n int) string { return string(rune('0'+n)) + "-nodes" }
