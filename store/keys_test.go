package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveKeys is the reference for Keys: filter everything, sort, cut.
func naiveKeys(m model, n int, buckets []int, prefix, after string, limit int) ([]string, bool) {
	var out []string
	for k, e := range m {
		if !e.Deleted && strings.HasPrefix(k, prefix) && k > after && slices.Contains(buckets, keyBucket(k, n)) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		return out[:limit], true
	}
	return out, false
}

func TestKeysAgainstNaive(t *testing.T) {
	const n = 5
	prefixes := []string{"", "a", "ab", "b", "abc", "zz"}
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 6))
		s, m := New(n), model{}
		for range 300 {
			// Short keys over a small alphabet share prefixes.
			key := ""
			for range 1 + r.IntN(4) {
				key += string(rune('a' + r.IntN(3)))
			}
			e := contentFor(key, Version{Term: r.Uint64N(3), Seq: r.Uint64N(4)})
			s.Apply(keyBucket(key, n), e)
			m.apply(e)
		}
		for range 50 {
			var bs []int
			for b := range n {
				if r.IntN(2) == 0 {
					bs = append(bs, b)
				}
			}
			if r.IntN(5) == 0 && len(bs) > 0 {
				bs = append(bs, bs[0]) // a bucket listed twice
			}
			prefix := prefixes[r.IntN(len(prefixes))]
			after := []string{"", "a", "abc", "b", "bca", "c"}[r.IntN(6)]
			limit := []int{-1, 0, 1, 2, 3, 7, 50, 1000}[r.IntN(8)]
			got, more := s.Keys(bs, prefix, after, limit)
			want, wantMore := naiveKeys(m, n, bs, prefix, after, limit)
			if !slices.Equal(got, want) || more != wantMore {
				t.Fatalf("seed %d: Keys(%v, %q, %q, %d) = %v %v, want %v %v",
					seed, bs, prefix, after, limit, got, more, want, wantMore)
			}
		}
	}
}

// TestKeysPaging pages through all live keys with a small limit.
func TestKeysPaging(t *testing.T) {
	s := New(4)
	var want []string
	for i := range 200 {
		k := fmt.Sprintf("user/%03d", i)
		s.Apply(i%4, put(k, 1, 1, "v"))
		if i%7 == 0 {
			s.Apply(i%4, del(k, 1, 2))
		} else {
			want = append(want, k)
		}
		s.Apply(i%4, put(fmt.Sprintf("other/%03d", i), 1, 1, "v"))
	}
	all := []int{0, 1, 2, 3}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("paging does not terminate")
		}
		keys, more := s.Keys(all, "user/", after, 9)
		if len(keys) > 9 {
			t.Fatalf("page of %d keys, limit 9", len(keys))
		}
		got = append(got, keys...)
		if !more {
			break
		}
		after = keys[len(keys)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged keys %v, want %v", got, want)
	}
	if keys, more := s.Keys(all, "user/", "", math.MaxInt); !slices.Equal(keys, want) || more {
		t.Fatalf("Keys with limit MaxInt = %d keys, more=%v", len(keys), more)
	}
	if keys, more := s.Keys(nil, "", "", 0); keys != nil || more {
		t.Fatal("Keys over no buckets returned something")
	}
}

func TestMaxHeapKeepsSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		limit := 1 + r.IntN(10)
		h := maxHeap{limit: limit}
		var all []string
		for range r.IntN(40) {
			k := fmt.Sprint(r.IntN(1000))
			all = append(all, k)
			h.offer(k)
		}
		slices.Sort(all)
		all = all[:min(limit, len(all))]
		got := slices.Clone(h.s)
		slices.Sort(got)
		if !slices.Equal(got, all) {
			t.Fatalf("heap kept %v, want %v", got, all)
		}
	}
}
