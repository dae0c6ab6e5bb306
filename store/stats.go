package store

// Stats counts a store's or a bucket's entries.
type Stats struct {
	Keys       int64 // live (not deleted) entries
	Tombstones int64 // deleted entries still held
	Bytes      int64 // key+value bytes of live entries
}

func (a Stats) add(b Stats) Stats {
	return Stats{a.Keys + b.Keys, a.Tombstones + b.Tombstones, a.Bytes + b.Bytes}
}

func (a Stats) sub(b Stats) Stats {
	return Stats{a.Keys - b.Keys, a.Tombstones - b.Tombstones, a.Bytes - b.Bytes}
}

// viewStats is one entry's contribution to Stats.
func viewStats(v *view) Stats {
	if v.deleted() {
		return Stats{Tombstones: 1}
	}
	return Stats{Keys: 1, Bytes: int64(len(v.key)) + int64(len(v.value))}
}

// account adds d to bucket bk's counters (its lock held) and the store's.
func (s *Store) account(bk *bucket, d Stats) {
	bk.stats = bk.stats.add(d)
	if d.Keys != 0 {
		s.keys.Add(d.Keys)
	}
	if d.Tombstones != 0 {
		s.tombstones.Add(d.Tombstones)
	}
	if d.Bytes != 0 {
		s.bytes.Add(d.Bytes)
	}
}

// Stats returns the whole store's counters in O(1). Each counter is exact
// once concurrent writes finish; during writes the three are read
// independently, not as one snapshot.
func (s *Store) Stats() Stats {
	return Stats{Keys: s.keys.Load(), Tombstones: s.tombstones.Load(), Bytes: s.bytes.Load()}
}

// BucketStats returns bucket b's counters, a consistent snapshot.
func (s *Store) BucketStats(b int) Stats {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()
	return bk.stats
}
