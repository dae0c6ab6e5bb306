package node

import (
	"path/filepath"
	"testing"
)

// TestDataDirSlotsAreClaimedOnce opens nodes whose --data-dir has the
// {slot} placeholder in one shared directory, as the replicas of a scaled
// compose service do: each claims a slot of its own, and a node started
// after one stopped takes the freed slot and, with it, that node's ID.
func TestDataDirSlotsAreClaimedOnce(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "node-"+SlotPlaceholder)
	open := func(peer string) *Node {
		cfg := DefaultConfig(peer)
		cfg.DataDir = shared
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := open("10.0.0.1:7070"), open("10.0.0.2:7070")
	if a.cfg.DataDir == b.cfg.DataDir || filepath.Base(a.cfg.DataDir) != "node-1" || filepath.Base(b.cfg.DataDir) != "node-2" {
		t.Fatalf("slots %q and %q, want node-1 and node-2", a.cfg.DataDir, b.cfg.DataDir)
	}
	idA := a.ID()
	if err := a.persist.Close(); err != nil {
		t.Fatal(err)
	}
	c := open("10.0.0.3:7070") // another address: the directory's ID wins
	defer c.persist.Close()
	defer b.persist.Close()
	if filepath.Base(c.cfg.DataDir) != "node-1" || c.ID() != idA {
		t.Fatalf("the freed slot went to %q with ID %d, want node-1 with ID %d", c.cfg.DataDir, c.ID(), idA)
	}
}
