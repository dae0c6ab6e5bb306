package shard

import "slices"

// Move is one bucket copy a node gains between two tables: To must fetch
// Bucket's data.
type Move struct {
	Bucket int
	To     NodeID
}

// Moves returns the copies next has that old does not, sorted by bucket and
// then node.
func Moves(old, next Table) []Move {
	var out []Move
	var gained []NodeID
	for b, list := range next.Buckets {
		gained = gained[:0]
		for _, id := range list {
			if !old.Holds(b, id) && !slices.Contains(gained, id) {
				gained = append(gained, id)
			}
		}
		slices.Sort(gained)
		for _, id := range gained {
			out = append(out, Move{Bucket: b, To: id})
		}
	}
	return out
}
