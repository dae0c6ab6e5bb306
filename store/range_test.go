package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestRangeChunks(t *testing.T) {
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 5))
		s, m := New(2), model{}
		for _, e := range randomEntries(r, r.IntN(150), 1+r.IntN(60)) {
			s.Apply(keyBucket(e.Key, 2), e)
			m.apply(e)
		}
		for b := range 2 {
			want := m.sorted(b, 2)
			for _, maxBytes := range []int{-1, 0, 1, 10, 37, 100, 1000, 1 << 30} {
				what := fmt.Sprintf("seed %d bucket %d maxBytes %d", seed, b, maxBytes)
				var got []Entry
				after, calls := "", 0
				for {
					chunk, more := s.Range(b, after, maxBytes)
					calls++
					if calls > len(want)+1 {
						t.Fatalf("%s: too many calls", what)
					}
					remaining := len(want) - len(got)
					if remaining > 0 && len(chunk) == 0 {
						t.Fatalf("%s: empty chunk with %d entries left", what, remaining)
					}
					size := 0
					for i, e := range chunk {
						if i > 0 && size >= maxBytes {
							t.Fatalf("%s: chunk continued past maxBytes", what)
						}
						size += len(e.Key) + len(e.Value)
					}
					if more != (len(chunk) < remaining) {
						t.Fatalf("%s: more=%v with %d of %d remaining returned", what, more, len(chunk), remaining)
					}
					if more && size < maxBytes {
						t.Fatalf("%s: stopped at %d bytes, below maxBytes", what, size)
					}
					got = append(got, chunk...)
					if !more {
						break
					}
					after = chunk[len(chunk)-1].Key
				}
				sameEntries(t, what, got, want)
			}
		}
	}
}

func TestRangeAfter(t *testing.T) {
	s := New(1)
	for _, k := range []string{"b", "d", "a", "c", "ca"} {
		s.Apply(0, put(k, 1, 1, "v"))
	}
	s.Apply(0, del("bb", 1, 1))
	for _, tc := range []struct {
		after string
		want  string
	}{
		{"", "a b bb c ca d"},
		{"a", "b bb c ca d"},
		{"b", "bb c ca d"},
		{"bz", "c ca d"}, // not a stored key
		{"c", "ca d"},
		{"d", ""},
		{"zz", ""},
	} {
		es, more := s.Range(0, tc.after, 1<<20)
		var keys string
		for i, e := range es {
			if i > 0 {
				keys += " "
			}
			keys += e.Key
		}
		if keys != tc.want || more {
			t.Errorf("Range(after %q) = %q more=%v, want %q", tc.after, keys, more, tc.want)
		}
	}
	if es, more := New(1).Range(0, "", 10); es != nil || more {
		t.Fatal("empty bucket Range returned something")
	}
}

func TestSummary(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	s, m := New(1), model{}
	for _, e := range randomEntries(r, 300, 50) {
		s.Apply(0, e)
		m.apply(e)
	}
	sum := s.Summary(0)
	want := m.sorted(0, 1)
	if len(sum) != len(want) {
		t.Fatalf("summary has %d entries, want %d", len(sum), len(want))
	}
	for i, kv := range sum {
		w := want[i]
		if kv != (KeyVersion{Key: w.Key, Version: w.Version, Deleted: w.Deleted}) {
			t.Fatalf("summary[%d] = %+v, want %s", i, kv, fmtEntry(w))
		}
	}
	if got := New(1).Summary(0); len(got) != 0 {
		t.Fatalf("empty bucket summary %v", got)
	}
}
