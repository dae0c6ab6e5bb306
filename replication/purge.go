package replication

import (
	"time"

	"github.com/jumpkv/jumpkv/store"
)

// Tombstone is a tombstone seen at one version on every replica of a
// bucket, since Seen.
type Tombstone struct {
	Version store.Version
	Seen    time.Time
}

// PurgeDecision decides which tombstones a primary's merge may purge.
// same lists the tombstones every reached replica holds at one version in
// this round; prev is what the previous round recorded. A tombstone is
// purged only when every co-replica in the table was reached (allReached)
// and it has been held, at that version, for at least wait: long enough
// that no delayed write older than the delete is still in flight. A
// purged key may be written again by anyone, so purging too early would
// let an old write resurrect it.
//
// It returns the record to keep for the next round and the tombstones to
// purge now.
func PurgeDecision(prev map[string]Tombstone, same []store.KeyVersion, now time.Time, wait time.Duration,
	allReached bool) (next map[string]Tombstone, purge []store.KeyVersion) {
	next = make(map[string]Tombstone, len(same))
	for _, kv := range same {
		t := Tombstone{Version: kv.Version, Seen: now}
		if p, ok := prev[kv.Key]; ok && p.Version == kv.Version {
			t.Seen = p.Seen
		}
		next[kv.Key] = t
		if allReached && now.Sub(t.Seen) >= wait {
			purge = append(purge, store.KeyVersion{Key: kv.Key, Version: kv.Version, Deleted: true})
		}
	}
	return next, purge
}
