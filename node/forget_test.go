package node_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestDepartedNodeIsForgotten checks that a node that left (and stopped)
// is no longer known, and so no longer heartbeated, by the others once it
// has been silent for dead-after; before the fix every node heartbeated a
// departed one forever.
func TestDepartedNodeIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 4})
		settle(t, c)
		leaver := c.Nodes()[0]
		id := leaver.ID()
		if err := c.Leave(leaver.Index, 30*time.Second); err != nil {
			t.Fatalf("leave: %v", err)
		}
		c.WaitFor(30*time.Second, "every remaining node to forget the departed one", func() bool {
			for _, n := range c.Nodes() {
				if n.Index != leaver.Index && slices.Contains(n.Known(), id) {
					return false
				}
			}
			return true
		})
	})
}
