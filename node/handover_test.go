package node_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// handover is what writers saw while leadership moved to a higher node.
type handover struct {
	writes, refused, unknown int
	// window spans the first to the last refused write (0: none).
	window time.Duration
	// took is from the higher node's start to its leading.
	took time.Duration
	// slowest is the longest a write took (a held write waits).
	slowest time.Duration
	// why holds the first refusals' answers.
	why []string
}

func (h handover) String() string {
	return fmt.Sprintf("%d writes, %d refused (503), %d unknown outcome (504), refusals over %v, slowest write %v; the higher node led %v after it started; refusals %q",
		h.writes, h.refused, h.unknown, h.window, h.slowest, h.took, h.why)
}

// measureHandover runs writers (every 10ms each, through the first three
// nodes in turn) against a settled cluster of three, then starts the node
// that will lead (a fourth, higher node joining; or, with restart, the
// leader, killed and replaced first, coming back empty) and counts the
// writes refused from then until 3s after it leads.
func measureHandover(t *testing.T, restart bool) handover {
	var h handover
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := settle(t, c)
		stop := make(chan struct{})
		var mu sync.Mutex
		var first, last time.Time
		measuring := false
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					n := c.Node((w + i) % 3)
					if n == nil {
						continue // the restarting node
					}
					began := time.Now()
					r := n.Do(http.MethodPut, fmt.Sprintf("/v1/kv/w%d-%d", w, i%50), []byte("v"))
					now := time.Now()
					mu.Lock()
					if !measuring {
						mu.Unlock()
						continue
					}
					h.writes++
					h.slowest = max(h.slowest, now.Sub(began))
					switch r.Status {
					case http.StatusOK:
					case http.StatusGatewayTimeout:
						h.unknown++
					default:
						h.refused++
						if len(h.why) < 3 {
							h.why = append(h.why, r.String())
						}
						if first.IsZero() {
							first = now
						}
						last = now
					}
					mu.Unlock()
				}
			})
		}
		if restart {
			// The leader's death and the failover are not the hand-over.
			c.Kill(l.Index)
			c.WaitFor(30*time.Second, "a new leader of a ready cluster", func() bool {
				cur := c.Leader()
				return cur != nil && cur.Index != l.Index && c.AllReady()
			})
		}
		time.Sleep(time.Second) // virtual: writes flow before the change
		mu.Lock()
		measuring = true
		mu.Unlock()
		start := time.Now()
		var higher *clustertest.Node
		if restart {
			higher = c.Restart(l.Index)
		} else {
			higher = c.Add()
		}
		c.WaitFor(60*time.Second, "the higher node to lead", func() bool {
			cur := c.Leader()
			return cur != nil && cur.ID() == higher.ID()
		})
		h.took = time.Since(start)
		time.Sleep(3 * time.Second) // virtual: writes go on after it
		close(stop)
		wg.Wait()
		if !first.IsZero() {
			h.window = last.Sub(first)
		}
	})
	return h
}

// TestHandoverToAHigherNode: a node with a higher ID that joins a running
// cluster, or the leader coming back after a restart, takes leadership
// only once it holds its buckets, and the hand-over refuses no write.
func TestHandoverToAHigherNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
	}{{"join", false}, {"restart", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := measureHandover(t, tc.restart)
			t.Logf("hand-over on %s: %v", tc.name, h)
			if h.refused > 0 || h.unknown > 0 {
				t.Errorf("hand-over on %s: %v; want no refused or unknown write", tc.name, h)
			}
		})
	}
}
