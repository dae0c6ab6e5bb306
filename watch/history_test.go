package watch

import (
	"fmt"
	"testing"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func ev(seq uint64) wire.Event {
	return wire.Event{Key: fmt.Sprintf("k%d", seq), Value: []byte("v"), Version: store.Version{Term: 1, Seq: seq}}
}

// TestHistoryBounds checks the ring keeps exactly the newest events within
// both bounds, in order, and finds resume points.
func TestHistoryBounds(t *testing.T) {
	hs := history{maxEvents: 5000, maxBytes: 1 << 30}
	for i := uint64(1); i <= 12345; i++ {
		hs.add(ev(i))
	}
	if hs.n != 5000 || hs.at(0).Version.Seq != 12345-4999 || hs.at(hs.n-1).Version.Seq != 12345 {
		t.Fatalf("kept %d events from %d to %d", hs.n, hs.at(0).Version.Seq, hs.at(hs.n-1).Version.Seq)
	}
	for i := 1; i < hs.n; i++ {
		if hs.at(i).Version.Seq != hs.at(i-1).Version.Seq+1 {
			t.Fatalf("out of order at %d", i)
		}
	}
	out, ok := hs.after(store.Version{Term: 1, Seq: 12340}, "", 100, 1<<30)
	if !ok || len(out) != 5 || out[0].Version.Seq != 12341 {
		t.Fatalf("after 12340: %v %d", ok, len(out))
	}
	if out, ok := hs.after(store.Version{Term: 1, Seq: 7346}, "", 100_000, 1<<30); !ok || len(out) != 12345-7346 {
		t.Fatalf("7346 is held: %v %d", ok, len(out))
	}
	if _, ok := hs.after(store.Version{Term: 1, Seq: 12}, "", 100_000, 1<<30); ok {
		t.Fatal("12 was forgotten: want not ok")
	}
	if _, ok := hs.after(store.Version{Term: 1, Seq: 7000}, "", 10, 1<<30); ok {
		t.Fatal("more than the event limit follow 7000: want not ok")
	}
	if _, ok := hs.after(store.Version{Term: 1, Seq: 12340}, "", 100, 4*EventBytes(ev(12345))); ok {
		t.Fatal("more than the byte limit follow 12340: want not ok")
	}
	// The byte bound: each event costs EventBytes.
	small := history{maxEvents: 1000, maxBytes: 10 * EventBytes(ev(1))}
	for i := uint64(1); i <= 9; i++ {
		small.add(ev(i)) // keys k1..k9: 2 bytes
	}
	small.add(ev(10)) // k10: 3 bytes, pushes the total over: the oldest goes
	if small.n != 9 || small.at(0).Version.Seq != 2 || small.bytes > small.maxBytes {
		t.Fatalf("byte bound: %d events from %d, %d bytes", small.n, small.at(0).Version.Seq, small.bytes)
	}
}

// BenchmarkHistoryAdd checks adding to a full history costs O(1).
func BenchmarkHistoryAdd(b *testing.B) {
	hs := history{maxEvents: 100_000, maxBytes: 64 << 20}
	for i := range b.N {
		hs.add(ev(uint64(i)))
	}
}
