package shard

import "slices"

// NodeID names a node; unique in a cluster. The bully election prefers the
// highest live ID.
type NodeID uint64

// Table is a placement table: for every bucket, the nodes that hold a copy.
// Buckets[b][0] is bucket b's primary, the rest are its backups. A table is
// a value: planning returns a new one and never changes its input.
type Table struct {
	// Epoch numbers tables; a newer table has a higher epoch.
	Epoch uint64 `msgpack:"e"`
	// Buckets lists each bucket's replicas, primary first.
	Buckets [][]NodeID `msgpack:"b"`
	// Since is, for each bucket, the epoch at which its replica list (the
	// set or the order) last changed. Writes carry it so that a replica can
	// refuse a write planned under another assignment of the bucket.
	Since []uint64 `msgpack:"s"`
}

// Primary returns bucket b's primary, or 0 when the bucket has no replica.
func (t *Table) Primary(b int) NodeID {
	if b < 0 || b >= len(t.Buckets) || len(t.Buckets[b]) == 0 {
		return 0
	}
	return t.Buckets[b][0]
}

// Replicas returns bucket b's replicas, primary first. The caller must not
// modify the result.
func (t *Table) Replicas(b int) []NodeID {
	if b < 0 || b >= len(t.Buckets) {
		return nil
	}
	return t.Buckets[b]
}

// Holds reports whether id holds a copy of bucket b.
func (t *Table) Holds(b int, id NodeID) bool {
	return slices.Contains(t.Replicas(b), id)
}

// Clone returns a deep copy of t.
func (t *Table) Clone() Table {
	c := Table{Epoch: t.Epoch, Buckets: make([][]NodeID, len(t.Buckets)), Since: slices.Clone(t.Since)}
	for b, r := range t.Buckets {
		c.Buckets[b] = slices.Clone(r)
	}
	return c
}

// Counts returns how many buckets id is primary of and backup of.
func (t *Table) Counts(id NodeID) (primary, backup int) {
	for _, r := range t.Buckets {
		for i, n := range r {
			if n == id {
				if i == 0 {
					primary++
				} else {
					backup++
				}
			}
		}
	}
	return primary, backup
}
