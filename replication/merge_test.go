package replication

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/jumpkv/jumpkv/store"
)

// TestPlanMergeConverges checks over random replica states that applying a
// plan leaves every replica with the newest version of every key, never
// sends a replica a version it already holds or an older one, and lists as
// purgeable only tombstones every replica holds at one version.
func TestPlanMergeConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for round := range 2000 {
		nPeers := 1 + rng.IntN(3)
		states := make([]map[string]store.KeyVersion, nPeers+1) // 0: this replica
		for i := range states {
			states[i] = map[string]store.KeyVersion{}
			for _, k := range keys {
				if rng.IntN(3) == 0 {
					continue
				}
				states[i][k] = store.KeyVersion{Key: k, Version: store.Version{Term: 1, Seq: uint64(1 + rng.IntN(3))}, Deleted: rng.IntN(3) == 0}
			}
		}
		// Equal versions are one write: make them agree on Deleted.
		canon := map[store.Version]map[string]bool{}
		for _, s := range states {
			for k, kv := range s {
				if canon[kv.Version] == nil {
					canon[kv.Version] = map[string]bool{}
				}
				if d, ok := canon[kv.Version][k]; ok {
					kv.Deleted = d
					s[k] = kv
				} else {
					canon[kv.Version][k] = kv.Deleted
				}
			}
		}
		list := func(s map[string]store.KeyVersion) []store.KeyVersion {
			var out []store.KeyVersion
			for _, kv := range s {
				out = append(out, kv)
			}
			slices.SortFunc(out, func(a, b store.KeyVersion) int { return a.Version.Compare(b.Version) })
			return out
		}
		peers := make([][]store.KeyVersion, nPeers)
		for i := range peers {
			peers[i] = list(states[i+1])
		}
		p := PlanMerge(list(states[0]), peers)

		newest := map[string]store.KeyVersion{}
		for _, s := range states {
			for k, kv := range s {
				if cur, ok := newest[k]; !ok || kv.Version.Compare(cur.Version) > 0 {
					newest[k] = kv
				}
			}
		}
		// Apply the plan: fetch into this replica, then push to peers.
		for peer, ks := range p.Fetch {
			for _, k := range ks {
				got := states[peer+1][k]
				if mine, ok := states[0][k]; ok && mine.Version.Compare(got.Version) >= 0 {
					t.Fatalf("round %d: fetch of %q from peer %d brings %v, this replica holds %v", round, k, peer, got.Version, mine.Version)
				}
				states[0][k] = got
			}
		}
		for peer, ks := range p.Push {
			if !slices.IsSorted(ks) {
				t.Fatalf("round %d: push list %v not sorted", round, ks)
			}
			for _, k := range ks {
				if held, ok := states[peer+1][k]; ok && held.Version.Compare(newest[k].Version) >= 0 {
					t.Fatalf("round %d: push of %q to peer %d which holds %v", round, k, peer, held.Version)
				}
				states[peer+1][k] = states[0][k]
			}
		}
		for i, s := range states {
			for k, want := range newest {
				if s[k] != want {
					t.Fatalf("round %d: replica %d holds %q at %+v after the merge, newest is %+v", round, i, k, s[k], want)
				}
			}
		}
		for _, kv := range p.SameTombstones {
			if !kv.Deleted {
				t.Fatalf("round %d: %q listed as a tombstone", round, kv.Key)
			}
			for i := range peers {
				if peers[i] == nil || !slices.Contains(peers[i], kv) {
					t.Fatalf("round %d: tombstone %q purgeable but peer %d holds %v", round, kv.Key, i, peers[i])
				}
			}
		}
	}
}
