package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentUse runs writers and readers over shared buckets, plus a
// goroutine purging and dropping its own buckets, then checks the result
// against the model and the counters and digests against a recount. Readers
// check that every entry they see is one that was written, whole.
func TestConcurrentUse(t *testing.T) {
	const (
		buckets   = 8
		churnFrom = 6 // buckets 6 and 7 belong to the churn goroutine
		workers   = 4
		ops       = 1500
	)
	var shared []string
	for i := 0; len(shared) < 64; i++ {
		if k := fmt.Sprintf("key-%d", i); keyBucket(k, buckets) < churnFrom {
			shared = append(shared, k)
		}
	}
	s := New(buckets)
	logs := make([][]Entry, workers)
	errs := make(chan string, workers+1)
	var wg sync.WaitGroup

	check := func(e Entry) string {
		if want := normalize(contentFor(e.Key, e.Version)); !equalEntry(e, want) {
			return fmt.Sprintf("read %s, written %s", fmtEntry(e), fmtEntry(want))
		}
		return ""
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 12))
			for range ops {
				key := shared[r.IntN(len(shared))]
				b := keyBucket(key, buckets)
				switch x := r.IntN(20); {
				case x < 10:
					e := contentFor(key, Version{Term: r.Uint64N(3), Seq: r.Uint64N(100)})
					logs[w] = append(logs[w], e)
					s.Apply(b, e)
				case x < 14:
					if e, ok := s.Get(b, key); ok {
						if msg := check(e); msg != "" {
							errs <- msg
							return
						}
					}
				case x < 16:
					b := r.IntN(buckets)
					after := ""
					for range 1000 {
						es, more := s.Range(b, after, 64)
						for i, e := range es {
							if e.Key <= after || (i > 0 && e.Key <= es[i-1].Key) {
								errs <- fmt.Sprintf("Range out of order at %q", e.Key)
								return
							}
							if msg := check(e); msg != "" {
								errs <- msg
								return
							}
						}
						if !more {
							break
						}
						after = es[len(es)-1].Key
					}
				case x < 18:
					keys, _ := s.Keys([]int{r.IntN(buckets), r.IntN(buckets)}, "key-1", "", 5)
					if len(keys) > 5 || !slices.IsSorted(keys) {
						errs <- fmt.Sprintf("Keys returned %v", keys)
						return
					}
					for _, k := range keys {
						if !strings.HasPrefix(k, "key-1") {
							errs <- fmt.Sprintf("Keys returned %q", k)
							return
						}
					}
				default:
					b := r.IntN(buckets)
					s.Digest(b)
					s.Summary(b)
					s.BucketStats(b)
					if st := s.Stats(); st.Keys < 0 || st.Tombstones < 0 || st.Bytes < 0 {
						errs <- fmt.Sprintf("negative stats %+v", st)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(99, 12))
		for i := range ops {
			b := churnFrom + r.IntN(buckets-churnFrom)
			switch r.IntN(10) {
			case 0:
				s.Drop(b)
			case 1:
				purgeTombstones(s, b, Version{Term: r.Uint64N(3), Seq: r.Uint64N(100)})
			default:
				s.Apply(b, contentFor(fmt.Sprintf("churn-%d", i%50), Version{Term: r.Uint64N(3), Seq: r.Uint64N(100)}))
			}
		}
	}()
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}

	m := model{}
	for _, log := range logs {
		for _, e := range log {
			m.apply(e)
		}
	}
	for b := range churnFrom {
		sameEntries(t, fmt.Sprint("bucket ", b), dump(s, b), m.sorted(b, buckets))
	}
	checkInvariants(t, s)
}

func equalEntry(a, b Entry) bool {
	return a.Key == b.Key && a.Version == b.Version && a.Deleted == b.Deleted &&
		a.ContentType == b.ContentType && string(a.Value) == string(b.Value)
}
