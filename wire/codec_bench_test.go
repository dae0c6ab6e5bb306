package wire

import (
	"fmt"
	"testing"

	"github.com/jumpkv/jumpkv/kv"
)

// benchMessages are the messages of the write and read paths and the
// change stream in the shapes they have under load (a 12-byte key, a
// 100-byte value, a term of the size a wall-clock-seeded term has).
func benchMessages() []Message {
	v := kv.Version{Term: 1795287197660544, Seq: 99}
	e := kv.Entry{Key: "bench/000123", Value: make([]byte, 100), Version: v}
	events := make([]Event, 8)
	for i := range events {
		events[i] = Event{Key: fmt.Sprintf("bench/%06d", i), Value: make([]byte, 100), Version: v}
	}
	return []Message{
		&Replicate{Bucket: 17, Since: 3, Entry: e},
		&ReplicateAck{Applied: true},
		&Read{Bucket: 17, Since: 3, Key: "bench/000123"},
		&ReadResp{Found: true, Entry: e},
		&Forward{Op: WriteOp{Kind: WritePut, Key: "bench/000123", Value: make([]byte, 100)}},
		&WriteResult{Version: v},
		&Events{Term: v.Term, First: 1 << 20, Events: events},
		&ReadBatchResp{Results: []ReadResult{{Found: true, Entry: e}, {Found: true, Entry: e}, {Found: true, Entry: e}}},
	}
}

// BenchmarkMessage measures what the transport pays per message: Encode
// is AppendEncode into a reused buffer, Decode is Decode of a frame body
// (its safety check included). Besides the wall time per operation it
// reports cpu-ns/op, the CPU time of the whole process (the garbage
// collector's included) per operation: on a machine shared with other
// work, the wall time counts the time the benchmark waited for a CPU, and
// the CPU time is the steadier figure.
func BenchmarkMessage(b *testing.B) {
	for _, m := range benchMessages() {
		name := fmt.Sprintf("%T", m)[len("*wire."):]
		b.Run("Encode/"+name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			defer reportCPU(b)()
			for b.Loop() {
				var err error
				if buf, err = AppendEncode(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
		body, err := Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("Decode/"+name, func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := Decode(m.WireType(), body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU reports, when the returned function runs after the benchmark
// loop, the process's CPU time per operation as cpu-ns/op, and the
// allocations.
func reportCPU(b *testing.B) func() {
	b.ReportAllocs()
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
