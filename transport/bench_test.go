package transport

import (
	"context"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// ackHandler answers every request with a ReplicateAck.
var ackHandler = HandlerFunc(func(context.Context, Envelope) (wire.Message, error) {
	return &wire.ReplicateAck{Applied: true}, nil
})

func smallReplicate() *wire.Replicate {
	return &wire.Replicate{Bucket: 17, Since: 4, Entry: store.Entry{
		Key: "user:12345", Value: []byte("a small value of some forty bytes......"),
		Version: store.Version{Term: 3, Seq: 99},
	}}
}

// BenchmarkTCPCallParallel measures round trips over the one multiplexed
// connection between two transports, with 16 callers per CPU.
func BenchmarkTCPCallParallel(b *testing.B) {
	srv := listenTCP(b, testTCPConfig(fixedStamp(2, 1), nil), ackHandler)
	cli := listenTCP(b, testTCPConfig(fixedStamp(1, 1), nil), ackHandler)
	msg := smallReplicate()
	if _, err := cli.Call(context.Background(), srv.Addr(), msg); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cli.Call(context.Background(), srv.Addr(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.StopTimer()
	st := cli.Stats()
	b.ReportMetric(float64(st.FramesSent)/float64(max(st.Writes, 1)), "frames/write")
}

// BenchmarkTCPCallSerial measures the latency of one call at a time.
func BenchmarkTCPCallSerial(b *testing.B) {
	srv := listenTCP(b, testTCPConfig(fixedStamp(2, 1), nil), ackHandler)
	cli := listenTCP(b, testTCPConfig(fixedStamp(1, 1), nil), ackHandler)
	msg := smallReplicate()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := cli.Call(context.Background(), srv.Addr(), msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkMemCall measures a call through the in-memory network (encode
// and decode each way, the connection's reader and a handler goroutine, no
// faults).
func BenchmarkMemCall(b *testing.B) {
	n := NewNetwork(1)
	srv, err := n.Listen("srv", fixedStamp(2, 1), ackHandler)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cli, err := n.Listen("cli", fixedStamp(1, 1), ackHandler)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	msg := smallReplicate()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := cli.Call(context.Background(), "srv", msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
