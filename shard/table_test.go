package shard

import (
	"slices"
	"strings"
	"testing"
)

func TestMovesAndPrimaryChanges(t *testing.T) {
	old := Table{Epoch: 3, Buckets: [][]NodeID{{1, 2}, {2, 3}, {3, 1}}, Since: []uint64{1, 2, 3}}
	next := Table{Epoch: 4, Buckets: [][]NodeID{{2, 1}, {4, 2}, {3, 5}, {5, 4}}, Since: []uint64{4, 4, 4, 4}}
	wantMoves := []Move{{1, 4}, {2, 5}, {3, 4}, {3, 5}}
	if got := Moves(old, next); !slices.Equal(got, wantMoves) {
		t.Errorf("Moves = %v, want %v", got, wantMoves)
	}
	if got, want := PrimaryChanges(old, next), []int{0, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("PrimaryChanges = %v, want %v", got, want)
	}
	if got := Moves(next, next); len(got) != 0 {
		t.Errorf("Moves(t, t) = %v, want none", got)
	}
	if got := PrimaryChanges(next, next); len(got) != 0 {
		t.Errorf("PrimaryChanges(t, t) = %v, want none", got)
	}
	if got := Moves(Table{}, old); len(got) != 6 {
		t.Errorf("Moves from the zero table = %v, want every copy", got)
	}
}

func TestTableEqual(t *testing.T) {
	a := Plan(Table{}, 8, []NodeID{1, 2, 3}, 2)
	b := a.Clone()
	if !a.Equal(&b) || !a.SamePlacement(&b) {
		t.Fatal("a table differs from its clone")
	}
	b.Epoch++
	if a.Equal(&b) || !a.SamePlacement(&b) {
		t.Fatal("epoch must count for Equal only")
	}
	b = a.Clone()
	b.Buckets[3][0], b.Buckets[3][1] = b.Buckets[3][1], b.Buckets[3][0]
	if a.Equal(&b) || a.SamePlacement(&b) {
		t.Fatal("replica order must count")
	}
	b = a.Clone()
	b.Since[0]++
	if a.Equal(&b) || !a.SamePlacement(&b) {
		t.Fatal("Since must count for Equal only")
	}
}

func TestValidate(t *testing.T) {
	members := []NodeID{3, 1, 2}
	good := Plan(Table{}, 6, members, 2)
	if err := good.Validate(6, members); err != nil {
		t.Fatalf("planned table: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Table)
		want   string
	}{
		{"bucket count", func(t *Table) { t.Buckets = t.Buckets[:5] }, "buckets"},
		{"since count", func(t *Table) { t.Since = t.Since[:5] }, "since"},
		{"since after epoch", func(t *Table) { t.Since[2] = t.Epoch + 1 }, "after epoch"},
		{"not a member", func(t *Table) { t.Buckets[1][1] = 9 }, "not a member"},
		{"twice", func(t *Table) { t.Buckets[1][1] = t.Buckets[1][0] }, "twice"},
		{"replica count", func(t *Table) { t.Buckets[4] = t.Buckets[4][:1] }, "replicas"},
		{"empty", func(t *Table) {
			for b := range t.Buckets {
				t.Buckets[b] = nil
			}
		}, "replicas"},
		{"copies", func(t *Table) {
			// Swap node 1 out of a bucket for node 2 or 3 where possible:
			// node 1 loses a copy, another gains one.
			for b, l := range t.Buckets {
				if l[1] == 1 {
					for _, id := range []NodeID{2, 3} {
						if !slices.Contains(l, id) {
							t.Buckets[b][1] = id
							return
						}
					}
				}
			}
		}, "copies"},
		{"primaries", func(t *Table) {
			for b, l := range t.Buckets {
				if l[0] == 1 {
					t.Buckets[b][0], t.Buckets[b][1] = l[1], l[0]
				}
			}
		}, "primaries"},
	} {
		bad := good.Clone()
		c.mutate(&bad)
		err := bad.Validate(6, members)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error about %q", c.name, err, c.want)
		}
	}
	empty := Plan(good, 6, nil, 2)
	if err := empty.Validate(6, nil); err != nil {
		t.Errorf("no members: %v", err)
	}
}

// PrimaryChanges (a test helper) returns, in increasing order, the buckets of next whose
// primary differs from old's, counting every bucket old does not have.
func PrimaryChanges(old, next Table) []int {
	var out []int
	for b := range next.Buckets {
		if b >= len(old.Buckets) || old.Primary(b) != next.Primary(b) {
			out = append(out, b)
		}
	}
	return out
}
