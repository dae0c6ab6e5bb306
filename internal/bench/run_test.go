package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// near reports whether d is within the histogram's precision of want.
func near(d, want time.Duration) bool {
	diff := d - want
	return diff <= want/200 && -diff <= want/200
}

func putWorkload() Workload { return Workload{Mix: MixPut, Keys: 100, Dist: DistUniform} }

// The runs below happen in a synctest bubble: time is virtual, so a fake
// target that "takes" 2ms takes exactly 2ms, and the counts are exact.

func TestClosedLoopCountsTheWindowOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Workload: putWorkload(), Conns: 4, Warmup: 200 * time.Millisecond, Duration: time.Second}
		var calls atomic.Int64
		res, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			calls.Add(1)
			time.Sleep(2 * time.Millisecond)
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// Each worker completes one request every 2ms; those done in
		// [200ms, 1200ms) count: 500 each.
		if res.Ops != 4*500 || res.ErrorCount() != 0 || res.Elapsed != time.Second {
			t.Fatalf("ops %d errors %v elapsed %v, want 2000 0 1s", res.Ops, res.Errors, res.Elapsed)
		}
		if got := res.OpsPerSec(); got != 2000 {
			t.Errorf("ops/s %v, want 2000", got)
		}
		if calls.Load() != 4*600 {
			t.Errorf("%d requests sent, want 2400 (warmup included, none after the window)", calls.Load())
		}
		for _, q := range []float64{0, 0.5, 0.999, 1} {
			if d := res.Latency.Quantile(q); !near(d, 2*time.Millisecond) {
				t.Errorf("q%v latency %v, want 2ms", q, d)
			}
		}
	})
}

// TestWindowFramesTheMeasuredTime checks that Window is called once as the
// window opens, after the warmup, and once as it closes.
func TestWindowFramesTheMeasuredTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var marks []string
		cfg := Config{Workload: putWorkload(), Conns: 2, Warmup: 300 * time.Millisecond, Duration: time.Second,
			Window: func(open bool) { marks = append(marks, fmt.Sprintf("%v at %v", open, time.Since(start))) }}
		_, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			time.Sleep(5 * time.Millisecond)
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"true at 300ms", "false at 1.3s"}
		if !slices.Equal(marks, want) {
			t.Fatalf("Window calls %q, want %q", marks, want)
		}
	})
}

func TestFixedRatePacesSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const conns = 4
		cfg := Config{Workload: putWorkload(), Conns: conns, Rate: 1000, Duration: time.Second}
		start := time.Now()
		var mu sync.Mutex
		sends := map[time.Duration]int{} // offset -> worker
		res, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			mu.Lock()
			sends[time.Since(start)] = w + 1
			mu.Unlock()
			time.Sleep(time.Millisecond)
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// One send per millisecond, 0ms to 999ms, by workers in turn.
		if len(sends) != 1000 {
			t.Fatalf("%d distinct send times, want 1000", len(sends))
		}
		for i := range 1000 {
			at := time.Duration(i) * time.Millisecond
			if w := sends[at]; w != i%conns+1 {
				t.Fatalf("send at %v by worker %d, want worker %d", at, w-1, i%conns)
			}
		}
		// The one sent at 999ms is answered at 1s, outside the window.
		if res.Ops != 999 || res.Missed != 0 {
			t.Fatalf("ops %d missed %d, want 999 and 0", res.Ops, res.Missed)
		}
		if d := res.Latency.Max(); d != time.Millisecond {
			t.Errorf("max latency %v, want 1ms", d)
		}
	})
}

// TestFixedRateChargesStalls checks that a request held up behind a slow
// one is charged from when it should have been sent (no coordinated
// omission): a closed-loop measurement would see one slow request, not 23.
func TestFixedRateChargesStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Workload: putWorkload(), Conns: 1, Rate: 100, Duration: time.Second}
		n := 0
		res, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			n++
			if n == 11 { // the request due at 100ms takes 205ms
				time.Sleep(205 * time.Millisecond)
			} else {
				time.Sleep(time.Millisecond)
			}
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// Due every 10ms from 0 to 990ms: all 100 answered in the window.
		if res.Ops != 100 || res.Missed != 0 {
			t.Fatalf("ops %d missed %d, want 100 and 0", res.Ops, res.Missed)
		}
		// The request due at 110+10k ms (k = 0..21) waits until 305+k ms
		// and is answered at 306+k: 196-9k ms after it was due. 77 others
		// take 1ms; the slow one 205ms.
		h := res.Latency
		for _, c := range []struct {
			q    float64
			want time.Duration
		}{{0.77, time.Millisecond}, {0.78, 7 * time.Millisecond}, {0.89, 106 * time.Millisecond}, {0.99, 196 * time.Millisecond}, {1, 205 * time.Millisecond}} {
			if got := h.Quantile(c.q); !near(got, c.want) {
				t.Errorf("q%v: %v, want %v", c.q, got, c.want)
			}
		}
	})
}

func TestFixedRateCountsMissedRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Workload: putWorkload(), Conns: 1, Rate: 100, Warmup: 100 * time.Millisecond, Duration: time.Second}
		n := 0
		res, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			n++
			if n == 51 { // due at 500ms, answered at 2.5s
				time.Sleep(2 * time.Second)
			}
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// Due 100..490ms: 40 ops in the window; 500ms is answered after it
		// closed; 510..1090ms (59 requests) were never sent.
		if res.Ops != 40 || res.Missed != 59 {
			t.Fatalf("ops %d missed %d, want 40 and 59", res.Ops, res.Missed)
		}
	})
}

func TestErrorsAreCountedByKind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Workload: putWorkload(), Conns: 1, Duration: time.Second}
		n := 0
		res, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			n++
			time.Sleep(time.Millisecond)
			switch {
			case n%10 == 0:
				return 503, nil
			case n%25 == 1:
				return 0, &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
			case n%100 == 2:
				return 0, context.DeadlineExceeded
			case n%100 == 3:
				return 404, nil
			}
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"503": 99, "refused": 40, "timeout": 10, "404": 10}
		if fmt.Sprint(res.Errors) != fmt.Sprint(want) || res.Ops != 1000-160 || res.Latency.Count() != uint64(res.Ops) {
			t.Fatalf("errors %v ops %d (latencies %d), want %v and 840", res.Errors, res.Ops, res.Latency.Count(), want)
		}
	})
}

func TestProgressReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		cfg := Config{Workload: putWorkload(), Conns: 7, Warmup: 2 * time.Second, Duration: 3 * time.Second,
			Progress: func(p Progress) {
				got = append(got, fmt.Sprintf("%v %v %d %v", p.Warmup, p.Elapsed, p.Ops, p.RecentPerSec()))
			}}
		// 7 workers each answered every 7ms: no answer falls on a whole
		// second, where the reports are due.
		_, err := Run(t.Context(), cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
			time.Sleep(7 * time.Millisecond)
			return 200, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		// Reports at 1s (warmup: 142 answers each by then), then 1s, 2s
		// and 3s into the window (143 more each per second); none at the
		// window's start (2s), so the second report covers 2s.
		want := []string{"true 1s 994 994", "false 1s 1001 1001", "false 2s 2002 1001", "false 3s 3003 1001"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Fatalf("progress %q, want %q", got, want)
		}
	})
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, rate := range []float64{0, 10} {
			ctx, cancel := context.WithCancel(t.Context())
			cfg := Config{Workload: putWorkload(), Conns: 3, Rate: rate, Duration: time.Hour}
			time.AfterFunc(time.Second, cancel)
			_, err := Run(ctx, cfg, DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
				time.Sleep(time.Millisecond)
				return 200, nil
			}))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("rate %v: Run after cancel: %v, want context.Canceled", rate, err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	good := Config{Workload: putWorkload(), Conns: 1, Duration: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mod := range map[string]func(*Config){
		"--conns":    func(c *Config) { c.Conns = 0 },
		"--rate":     func(c *Config) { c.Rate = -1 },
		"--duration": func(c *Config) { c.Duration = 0 },
		"--warmup":   func(c *Config) { c.Warmup = -time.Second },
		"--keys":     func(c *Config) { c.Workload.Keys = 0 },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v", want, err)
		}
	}
}

func TestPreloadWritesEveryKeyOnce(t *testing.T) {
	var mu sync.Mutex
	writes := map[int]int{}
	failures := map[int]int{}
	err := Preload(t.Context(), DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
		if op.Kind != OpPut {
			t.Errorf("preload sent a %v", op.Kind)
		}
		mu.Lock()
		defer mu.Unlock()
		if op.Key%7 == 0 && failures[op.Key] < 2 { // fails twice, then works
			failures[op.Key]++
			return 503, nil
		}
		writes[op.Key]++
		return 200, nil
	}), 1000, 8)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 1000 {
		if writes[k] != 1 {
			t.Fatalf("key %d written %d times", k, writes[k])
		}
	}

	err = Preload(t.Context(), DoerFunc(func(ctx context.Context, w int, op Op) (int, error) {
		if op.Key == 3 {
			return 500, nil
		}
		return 200, nil
	}), 10, 4)
	if err == nil || !strings.Contains(err.Error(), "1 of 10 keys") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a key that never takes: %v", err)
	}
}
