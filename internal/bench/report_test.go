package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleResult is a run with latencies lat, ops = len(lat), and errs.
func sampleResult(lat []time.Duration, errs map[string]int64) *Result {
	r := &Result{Errors: errs, Elapsed: 2 * time.Second, Latency: &Histogram{}}
	for _, d := range lat {
		r.Latency.Record(d)
	}
	r.Ops = int64(len(lat))
	return r
}

// repeat returns n copies of d.
func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func sampleReport() *Report {
	ratio := 0.9
	setup := Setup{Op: MixMixed, ReadRatio: &ratio, Keys: 10000, Dist: DistZipf, ZipfS: 1.1, ValueSize: 100, Preload: true,
		Conns: 64, WarmupSeconds: 2, DurationSeconds: 10, Rounds: 3, Target: TargetLeader,
		Systems: []System{
			{Name: SystemBaseline, Targets: []string{"http://127.0.0.1:9000"}, Note: "gin"},
			{Name: SystemJumpkv, Targets: []string{"http://127.0.0.1:8080 (node 3, leader)"}},
		}}
	var runs []RunStats
	for round := 1; round <= 3; round++ {
		// The baseline: 20000, 40000, 30000 ops in 2s, all 500µs.
		b := sampleResult(repeat(500*time.Microsecond, []int{20000, 40000, 30000}[round-1]), nil)
		runs = append(runs, NewRunStats(SystemBaseline, round, b))
		// jumpkv: 8000, 6000, 10000 ops at 2ms, the slowest 1% at 40ms.
		n := []int{8000, 6000, 10000}[round-1]
		lat := append(repeat(2*time.Millisecond, n*99/100), repeat(40*time.Millisecond, n/100)...)
		var errs map[string]int64
		if round == 2 {
			errs = map[string]int64{"503": 3, "timeout": 1, "504": 3}
		}
		runs = append(runs, NewRunStats(SystemJumpkv, round, sampleResult(lat, errs)))
	}
	return NewReport(setup, runs)
}

func TestReportText(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `op mixed (90% get), 100-byte values, 10000 keys (zipf s=1.1, preloaded), closed loop, 64 conns, target leader, 2s warmup + 10s measured, 3 rounds
baseline: http://127.0.0.1:9000 (gin)
jumpkv:   http://127.0.0.1:8080 (node 3, leader)

           system   round    ops  ops/s  errors     p50     p90     p99   p99.9     max
         baseline       1  20000  10000       0   500µs   500µs   500µs   500µs   500µs
           jumpkv       1   8000   4000       0  2.00ms  2.00ms  2.00ms  40.0ms  40.0ms
         baseline       2  40000  20000       0   500µs   500µs   500µs   500µs   500µs
           jumpkv       2   6000   3000       7  2.00ms  2.00ms  2.00ms  40.0ms  40.0ms
         baseline       3  30000  15000       0   500µs   500µs   500µs   500µs   500µs
           jumpkv       3  10000   5000       0  2.00ms  2.00ms  2.00ms  40.0ms  40.0ms
         baseline  median         15000       0   500µs   500µs   500µs   500µs   500µs
           jumpkv  median          4000       7  2.00ms  2.00ms  2.00ms  40.0ms  40.0ms
  jumpkv/baseline   ratio         0.27x           4.01x   4.01x   4.01x  79.95x  80.00x
jumpkv round 2: errors 503 ×3, 504 ×3, timeout ×1
ratio: jumpkv's median over the baseline's, figure by figure (ops/s below 1x: jumpkv serves fewer; latency above 1x: jumpkv is slower)
`
	if b.String() != want {
		t.Fatalf("text report:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Setup struct {
			Op        string   `json:"op"`
			ReadRatio *float64 `json:"read_ratio"`
			Systems   []System `json:"systems"`
		} `json:"setup"`
		Runs   []map[string]any   `json:"runs"`
		Median map[string]Summary `json:"median"`
		Ratio  *Ratio             `json:"ratio"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Setup.Op != "mixed" || got.Setup.ReadRatio == nil || *got.Setup.ReadRatio != 0.9 || len(got.Setup.Systems) != 2 {
		t.Errorf("setup %+v", got.Setup)
	}
	if len(got.Runs) != 6 {
		t.Fatalf("%d runs, want 6", len(got.Runs))
	}
	r2 := got.Runs[3]
	lat := r2["latency_ms"].(map[string]any)
	if r2["system"] != "jumpkv" || r2["round"] != 2.0 || r2["ops"] != 6000.0 || r2["ops_per_sec"] != 3000.0 || r2["errors"] != 7.0 ||
		fmt.Sprint(r2["errors_by_status"]) != "map[503:3 504:3 timeout:1]" || lat["max"] != 40.0 || math.Abs(lat["p99.9"].(float64)-40) > 0.2 {
		t.Errorf("jumpkv round 2: %v", r2)
	}
	j, bl := got.Median[SystemJumpkv], got.Median[SystemBaseline]
	if j.Rounds != 3 || j.OpsPerSec != 4000 || j.Errors != 7 || bl.OpsPerSec != 15000 || bl.Latency.P50 != 0.5 {
		t.Errorf("medians %+v %+v", j, bl)
	}
	if got.Ratio == nil || math.Abs(got.Ratio.OpsPerSec-4000.0/15000) > 1e-9 || math.Abs(got.Ratio.Latency.Max-80) > 1e-9 || math.Abs(got.Ratio.Latency.P50-4) > 0.02 {
		t.Errorf("ratio %+v", got.Ratio)
	}

	// One system: no ratio, and no median rows in the text.
	single := NewReport(Setup{Op: MixPut, Systems: []System{{Name: SystemJumpkv}}},
		[]RunStats{NewRunStats(SystemJumpkv, 1, sampleResult(repeat(time.Millisecond, 10), nil))})
	b.Reset()
	if err := single.WriteJSON(&b); err != nil || strings.Contains(b.String(), `"ratio"`) {
		t.Errorf("one system: %v %s", err, b.String())
	}
	var text strings.Builder
	if err := single.WriteText(&text); err != nil || strings.Contains(text.String(), "median") || !strings.Contains(text.String(), " 1.00ms") {
		t.Errorf("one system: %v\n%s", err, text.String())
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		orig := fmt.Sprint(c.v)
		if got := Median(c.v); got != c.want || fmt.Sprint(c.v) != orig {
			t.Errorf("Median(%v) = %v, want %v (and the input unchanged)", orig, got, c.want)
		}
	}
}

func TestFormatMillisAndProgress(t *testing.T) {
	for ms, want := range map[float64]string{0.0123: "12µs", 0.8124: "812µs", 1.234: "1.23ms", 45.67: "45.7ms", 456.7: "457ms", 1200: "1.20s"} {
		if got := FormatMillis(ms); got != want {
			t.Errorf("FormatMillis(%v) = %q, want %q", ms, got, want)
		}
	}
	p := Progress{Elapsed: 3 * time.Second, Ops: 30000, Errors: 2, Interval: time.Second, Recent: 9000}
	if got, want := FormatProgress("jumpkv round 1/3", p, 2*time.Second, 10*time.Second),
		"jumpkv round 1/3: 3s/10s  10000 ops/s (last 1s: 9000)  errors 2"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	p.Warmup = true
	if got := FormatProgress("x", p, 2*time.Second, 10*time.Second); !strings.HasPrefix(got, "x: warmup 3s/2s") {
		t.Errorf("warmup progress %q", got)
	}
}

// TestReportCPU checks the CPU figures: each process's median over the
// rounds, the servers' sum, and their place in the text and the JSON.
func TestReportCPU(t *testing.T) {
	r := sampleReport()
	cpu := [][]map[string]float64{ // by round: baseline, jumpkv
		{{"client": 15, "server": 20}, {"client": 20, "node 1": 50, "node 2": 10, "node 10": 9}},
		{{"client": 17, "server": 30}, {"client": 22, "node 1": 40, "node 2": 12, "node 10": 8}},
		{{"client": 16, "server": 25}, {"client": 21, "node 1": 45, "node 2": 11, "node 10": 7}},
	}
	for i := range r.Runs {
		r.Runs[i].CPUPerOp = cpu[i/2][i%2]
	}
	r = NewReport(r.Setup, r.Runs)
	want := map[string]map[string]float64{
		SystemBaseline: {"client": 16, "server": 25},
		SystemJumpkv:   {"client": 21, "node 1": 45, "node 2": 11, "node 10": 8, "servers": 63}, // sums 69, 60, 63
	}
	for sys, w := range want {
		got := r.Median[sys].CPUPerOp
		if len(got) != len(w) {
			t.Errorf("%s: CPU %v, want %v", sys, got, w)
		}
		for k, v := range w {
			if math.Abs(got[k]-v) > 1e-9 {
				t.Errorf("%s: CPU[%s] = %v, want %v", sys, k, got[k], v)
			}
		}
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	wantText := "CPU per operation (user+system, median of rounds):\n" +
		"  baseline: client 16.0µs, server 25.0µs\n" +
		"  jumpkv:   client 21.0µs, servers 63.0µs, node 1 45.0µs, node 2 11.0µs, node 10 8.0µs\n"
	if !strings.Contains(b.String(), wantText) {
		t.Errorf("text report:\n%s\nwant it to hold:\n%s", b.String(), wantText)
	}
	var j bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(j.String(), `"cpu_us_per_op": {`) || !strings.Contains(j.String(), `"node 10": 8`) {
		t.Errorf("JSON report lacks the CPU figures:\n%s", j.String())
	}
}
