package replication

import (
	"slices"
	"strings"

	"github.com/jumpkv/jumpkv/store"
)

// MergePlan says what an anti-entropy merge of one bucket moves, from the
// point of view of the replica that runs it.
type MergePlan struct {
	// Fetch maps a peer's index to the keys to fetch from it: it holds the
	// newest version and this replica does not.
	Fetch map[int][]string
	// Push lists, per peer index, the keys (sorted) whose newest version
	// that peer lacks.
	Push [][]string
	// SameTombstones are the tombstones this replica and every peer hold at
	// one version: candidates for purging.
	SameTombstones []store.KeyVersion
}

// PlanMerge compares this replica's key versions with its peers' and plans
// the fetches and pushes that give every one of them the newest version of
// every key. Versions only move forward: a key is never sent to a replica
// holding it at the same or a newer version.
func PlanMerge(mine []store.KeyVersion, peers [][]store.KeyVersion) MergePlan {
	type best struct {
		kv    store.KeyVersion
		owner int // -1: this replica
	}
	newest := map[string]best{}
	for _, kv := range mine {
		newest[kv.Key] = best{kv, -1}
	}
	for i, s := range peers {
		for _, kv := range s {
			if cur, ok := newest[kv.Key]; !ok || kv.Version.Compare(cur.kv.Version) > 0 {
				newest[kv.Key] = best{kv, i}
			}
		}
	}
	p := MergePlan{Fetch: map[int][]string{}, Push: make([][]string, len(peers))}
	for k, bst := range newest {
		if bst.owner >= 0 {
			p.Fetch[bst.owner] = append(p.Fetch[bst.owner], k)
		}
	}
	for _, keys := range p.Fetch {
		slices.Sort(keys)
	}
	have := make([]map[string]store.Version, len(peers))
	for i, s := range peers {
		have[i] = versionsOf(s)
		for k, bst := range newest {
			if v, ok := have[i][k]; !ok || v.Compare(bst.kv.Version) < 0 {
				p.Push[i] = append(p.Push[i], k)
			}
		}
		slices.Sort(p.Push[i])
	}
	mineV := versionsOf(mine)
	for k, bst := range newest {
		if !bst.kv.Deleted || mineV[k] != bst.kv.Version {
			continue
		}
		all := true
		for i := range peers {
			all = all && have[i][k] == bst.kv.Version
		}
		if all {
			p.SameTombstones = append(p.SameTombstones, bst.kv)
		}
	}
	slices.SortFunc(p.SameTombstones, func(a, b store.KeyVersion) int { return strings.Compare(a.Key, b.Key) })
	return p
}

func versionsOf(s []store.KeyVersion) map[string]store.Version {
	m := make(map[string]store.Version, len(s))
	for _, kv := range s {
		m[kv.Key] = kv.Version
	}
	return m
}
