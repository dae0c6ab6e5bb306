package gctune

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	var c Config // defaults: a 96 MiB heap, a quarter of the live heap, [10, 800]
	const mib = 1 << 20
	cases := []struct {
		live uint64
		want int
	}{
		{0, 800},         // nothing live: the most room
		{4 * mib, 800},   // 92 MiB of room would be 2300%: clamped
		{16 * mib, 500},  // a 96 MiB heap: 80 MiB of room
		{64 * mib, 50},   // a 96 MiB heap: 32 MiB of room
		{77 * mib, 25},   // a quarter is more than the 19 MiB to 96
		{128 * mib, 25},  // past 96 MiB: a quarter
		{1024 * mib, 25}, // a quarter
		{64 << 30, 25},   // still a quarter
	}
	for _, tc := range cases {
		if got := c.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live/mib, got, tc.want)
		}
	}
	tight := Config{MinHeap: 1, Fraction: 0.01, MinPercent: 10}
	if got := tight.Percent(1 << 30); got != 10 {
		t.Errorf("a 1%% fraction below MinPercent: got %d, want the floor 10", got)
	}
}

// TestRunTunesAndRestores checks that Run sets GOGC from the live heap
// after a collection and puts the old value back when it stops.
func TestRunTunesAndRestores(t *testing.T) {
	old := debug.SetGCPercent(123)
	defer debug.SetGCPercent(old)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	cfg := Config{MinHeap: 1, Fraction: 0.5, MaxPercent: 800, Every: time.Millisecond}
	go func() { Run(ctx, cfg, slog.New(slog.DiscardHandler)); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		p := gogc()
		if p == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after collections, want 50 (half the live heap as room)", p)
		}
		time.Sleep(5 * time.Millisecond) // let Run's ticker see the collection
	}
	cancel()
	<-done
	if p := gogc(); p != 123 {
		t.Fatalf("after Run stopped GOGC is %d, want the 123 it found", p)
	}
}

// gogc reads the GOGC setting without changing it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
