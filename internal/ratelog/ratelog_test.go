package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

func TestOncePerKeyPerIntervalCountingTheRest(t *testing.T) {
	var rl recorder
	clock := time.Unix(1000, 0)
	r := New(slog.New(&rl), time.Minute)
	r.now = func() time.Time { return clock }
	for range 3 {
		r.Log("k", slog.LevelWarn, "m")
	}
	r.Log("other", slog.LevelWarn, "m")
	clock = clock.Add(59 * time.Second)
	r.Log("k", slog.LevelWarn, "m")
	if n := rl.count(); n != 2 {
		t.Fatalf("%d lines before the interval, want 2 (one per key)", n)
	}
	clock = clock.Add(time.Second)
	r.Log("k", slog.LevelWarn, "m")
	rl.mu.Lock()
	n := len(rl.recs)
	var suppressed int64
	rl.recs[n-1].Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			suppressed = a.Value.Int64()
		}
		return true
	})
	rl.mu.Unlock()
	if n != 3 || suppressed != 3 {
		t.Fatalf("after the interval: %d lines, the last counting %d left out; want 3 and 3", n, suppressed)
	}
	// Invented names cannot grow the limiter without bound.
	for i := range 3 * maxKeys {
		r.Log("spoofed "+strconv.Itoa(i), slog.LevelWarn, "m")
	}
	r.mu.Lock()
	keys := len(r.keys)
	r.mu.Unlock()
	if keys > maxKeys+1 {
		t.Errorf("the limiter holds %d keys", keys)
	}
	// Once they are old, they make room for new ones.
	clock = clock.Add(time.Minute)
	before := rl.count()
	r.Log("fresh", slog.LevelWarn, "m")
	r.mu.Lock()
	_, fresh := r.keys["fresh"]
	r.mu.Unlock()
	if !fresh || rl.count() != before+1 {
		t.Errorf("a new key after the old ones aged was not logged under its own key")
	}
}
