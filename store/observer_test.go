package store

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

type observed struct {
	bucket int
	e      Entry
}

func TestObserver(t *testing.T) {
	var got []observed
	s := New(3, WithObserver(func(b int, e Entry) { got = append(got, observed{b, e}) }))
	r := rand.New(rand.NewPCG(2, 2))
	m := model{}
	var want []observed
	for _, e := range randomEntries(r, 500, 20) {
		b := keyBucket(e.Key, 3)
		before := len(got)
		ok := s.Apply(b, e)
		if ok != m.apply(e) {
			t.Fatalf("Apply(%s) = %v, model disagrees", fmtEntry(e), ok)
		}
		if ok {
			want = append(want, observed{b, normalize(e)})
			if len(got) != before+1 {
				t.Fatalf("observer called %d times for an accepted write", len(got)-before)
			}
		} else if len(got) != before {
			t.Fatalf("observer called for a rejected write %s", fmtEntry(e))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d observations, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].bucket != want[i].bucket {
			t.Fatalf("observation %d bucket %d, want %d", i, got[i].bucket, want[i].bucket)
		}
		sameEntries(t, fmt.Sprint("observation ", i), []Entry{got[i].e}, []Entry{want[i].e})
	}
}

// TestObserverVersionOrderConcurrent has goroutines race writes to the same
// keys; the observer must still see each key's versions strictly rising,
// once per accepted write.
func TestObserverVersionOrderConcurrent(t *testing.T) {
	var mu sync.Mutex
	last := map[string]Version{}
	calls, bad := 0, ""
	s := New(4, WithObserver(func(b int, e Entry) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if v, ok := last[e.Key]; ok && e.Version.Compare(v) <= 0 && bad == "" {
			bad = fmt.Sprintf("%q: observed %s after %s", e.Key, e.Version, v)
		}
		last[e.Key] = e.Version
	}))
	const workers = 4
	accepted := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for range 2000 {
				key := fmt.Sprintf("k%d", r.IntN(8))
				e := contentFor(key, Version{Term: r.Uint64N(4), Seq: r.Uint64N(50)})
				if s.Apply(keyBucket(key, 4), e) {
					accepted[w]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range accepted {
		total += n
	}
	if bad != "" {
		t.Fatal(bad)
	}
	if calls != total {
		t.Fatalf("observer called %d times for %d accepted writes", calls, total)
	}
}
