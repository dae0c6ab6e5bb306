package store

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func BenchmarkApply(b *testing.B) {
	s := New(1024)
	val := make([]byte, 100)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i&(len(keys)-1)]
		s.Apply(i%1024, Entry{Key: k, Value: val, ContentType: "application/octet-stream",
			Version: Version{Term: 1, Seq: uint64(i + 1)}})
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := New(1024)
	const n = 1 << 16
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		s.Apply(i%1024, Entry{Key: keys[i], Value: make([]byte, 100), Version: Version{Term: 1, Seq: 1}})
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			i++
			j := i & (n - 1)
			if _, ok := s.Get(j%1024, keys[j]); !ok {
				b.Error("missing key")
				return
			}
		}
	})
}

// BenchmarkMemoryPerKey reports the heap bytes the store uses per key
// beyond the key and value bytes themselves (1,000,000 keys of ~10 bytes
// with 100-byte values, one content type).
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	const valSize = 100
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		s := New(1024)
		var payload int64
		for i := range n {
			k := fmt.Sprintf("k%09d", i) // 10 bytes, allocated here so it counts
			payload += int64(len(k) + valSize)
			s.Apply(i%1024, Entry{Key: k, Value: make([]byte, valSize),
				ContentType: "application/" + "octet-stream"[:i%2+11], // fresh strings to intern
				Version:     Version{Term: 1, Seq: uint64(i + 1)}})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		b.ReportMetric(float64(heap-payload)/n, "overhead-B/key")
		b.ReportMetric(float64(heap)/n, "heap-B/key")
		if st := s.Stats(); st.Keys != n {
			b.Fatalf("stats %+v", st)
		}
		runtime.KeepAlive(s)
	}
}

// BenchmarkApplyFresh is BenchmarkApply with a freshly allocated value per
// write, as values decoded from requests are.
func BenchmarkApplyFresh(b *testing.B) {
	s := New(1024)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i&(len(keys)-1)]
		s.Apply(i%1024, Entry{Key: k, Value: make([]byte, 100), ContentType: "application/octet-stream",
			Version: Version{Term: 1, Seq: uint64(i + 1)}})
	}
}

// BenchmarkGet is BenchmarkGetParallel on one goroutine, steadier on a
// busy machine, looking up copies of the stored keys, as keys decoded from
// requests are.
func BenchmarkGet(b *testing.B) {
	s := New(1024)
	const n = 1 << 16
	keys := make([]string, n)
	for i := range keys {
		k := "key-" + strconv.Itoa(i)
		s.Apply(i%1024, Entry{Key: k, Value: make([]byte, 100), Version: Version{Term: 1, Seq: 1}})
		keys[i] = strings.Clone(k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := (i * 7919) & (n - 1)
		if _, ok := s.Get(j%1024, keys[j]); !ok {
			b.Fatal("missing key")
		}
	}
}
