package shard

import (
	"fmt"
	"slices"
)

// Equal reports whether t and o have the same epoch, replica lists (order
// included) and Since.
func (t *Table) Equal(o *Table) bool {
	return t.Epoch == o.Epoch && t.SamePlacement(o) && slices.Equal(t.Since, o.Since)
}

// SamePlacement reports whether t and o place every bucket on the same
// replicas in the same order, whatever their epochs and Since.
func (t *Table) SamePlacement(o *Table) bool {
	return slices.EqualFunc(t.Buckets, o.Buckets, func(x, y []NodeID) bool { return slices.Equal(x, y) })
}

// Validate returns an error describing the first broken rule of a table
// placing buckets buckets over members (a set), or nil. The rules:
// len(Buckets) == len(Since) == buckets; Since[b] <= Epoch; every bucket has
// the same number of replicas, distinct members, at least one when there are
// members and none when there are not; every member holds the same number
// of copies and is primary of the same number of buckets, within one.
func (t *Table) Validate(buckets int, members []NodeID) error {
	if len(t.Buckets) != buckets || len(t.Since) != buckets {
		return fmt.Errorf("shard: table has %d buckets and %d since, want %d", len(t.Buckets), len(t.Since), buckets)
	}
	ids := slices.Clone(members)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	copies := make([]int, len(ids))
	primaries := make([]int, len(ids))
	want := -1
	for b, list := range t.Buckets {
		if t.Since[b] > t.Epoch {
			return fmt.Errorf("shard: bucket %d since %d after epoch %d", b, t.Since[b], t.Epoch)
		}
		if want < 0 {
			want = len(list)
			if (want == 0) != (len(ids) == 0) || want > len(ids) {
				return fmt.Errorf("shard: bucket %d has %d replicas with %d members", b, want, len(ids))
			}
		}
		if len(list) != want {
			return fmt.Errorf("shard: bucket %d has %d replicas, bucket 0 has %d", b, len(list), want)
		}
		for j, id := range list {
			v, ok := slices.BinarySearch(ids, id)
			if !ok {
				return fmt.Errorf("shard: bucket %d replica %d is not a member", b, id)
			}
			if slices.Contains(list[:j], id) {
				return fmt.Errorf("shard: bucket %d lists %d twice", b, id)
			}
			copies[v]++
			if j == 0 {
				primaries[v]++
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if lo, hi := slices.Min(copies), slices.Max(copies); hi-lo > 1 {
		return fmt.Errorf("shard: copies per node range from %d to %d", lo, hi)
	}
	if lo, hi := slices.Min(primaries), slices.Max(primaries); hi-lo > 1 {
		return fmt.Errorf("shard: primaries per node range from %d to %d", lo, hi)
	}
	return nil
}
