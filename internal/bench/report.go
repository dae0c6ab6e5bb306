package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// System names.
const (
	SystemJumpkv   = "jumpkv"
	SystemBaseline = "baseline"
)

// Setup describes what was run, for the report.
type Setup struct {
	Op              string   `json:"op"`
	ReadRatio       *float64 `json:"read_ratio,omitempty"` // mixed only
	Keys            int      `json:"keys"`
	Dist            string   `json:"dist"`
	ZipfS           float64  `json:"zipf_s,omitempty"` // zipf only
	ValueSize       int      `json:"value_size"`
	Preload         bool     `json:"preload"`
	Conns           int      `json:"conns"`
	Rate            float64  `json:"rate,omitempty"` // requests/s; absent: closed loop
	WarmupSeconds   float64  `json:"warmup_s"`
	DurationSeconds float64  `json:"duration_s"`
	Rounds          int      `json:"rounds"`
	Target          string   `json:"target"`
	Systems         []System `json:"systems"`
}

// System is one system under test.
type System struct {
	Name    string   `json:"name"`
	Targets []string `json:"targets"`
	Note    string   `json:"note,omitempty"`
}

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
}

func (l Latency) values() []float64 { return []float64{l.P50, l.P90, l.P99, l.P999, l.Max} }

func latencyOf(v []float64) Latency { return Latency{v[0], v[1], v[2], v[3], v[4]} }

// RunStats is one run of one system.
type RunStats struct {
	System         string           `json:"system"`
	Round          int              `json:"round"`
	Ops            int64            `json:"ops"`
	Seconds        float64          `json:"seconds"`
	OpsPerSec      float64          `json:"ops_per_sec"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	Missed         int64            `json:"missed,omitempty"`
	Latency        Latency          `json:"latency_ms"`
	// CPUPerOp is the CPU time (user plus system) each process spent in
	// the window per successful operation, in microseconds, by process:
	// "client" (bench itself), "server" (the baseline), "node N" (the Nth
	// node bench started). Absent when bench started no process or the
	// platform does not tell.
	CPUPerOp map[string]float64 `json:"cpu_us_per_op,omitempty"`
}

// NewRunStats summarises a Result.
func NewRunStats(system string, round int, r *Result) RunStats {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	h := r.Latency
	if h == nil {
		h = &Histogram{}
	}
	errs := map[string]int64{}
	maps.Copy(errs, r.Errors)
	return RunStats{
		System: system, Round: round, Ops: r.Ops, Seconds: r.Elapsed.Seconds(), OpsPerSec: r.OpsPerSec(),
		Errors: r.ErrorCount(), ErrorsByStatus: errs, Missed: r.Missed,
		Latency: Latency{ms(h.Quantile(0.50)), ms(h.Quantile(0.90)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max())},
	}
}

// Summary is one system over its rounds: the median of each figure
// separately, and the errors of all rounds.
type Summary struct {
	Rounds    int     `json:"rounds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Errors    int64   `json:"errors"`
	Latency   Latency `json:"latency_ms"`
	// CPUPerOp is the median of each process's CPU per operation, with
	// "servers", the sum of the processes other than the client, when
	// there are several.
	CPUPerOp map[string]float64 `json:"cpu_us_per_op,omitempty"`
}

// Ratio is jumpkv's median over the baseline's, figure by figure: below 1
// jumpkv serves fewer operations per second, above 1 it is slower.
type Ratio struct {
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency   Latency `json:"latency_ms"`
}

// Report is the output of a benchmark.
type Report struct {
	Setup  Setup              `json:"setup"`
	Runs   []RunStats         `json:"runs"`
	Median map[string]Summary `json:"median"`
	Ratio  *Ratio             `json:"ratio,omitempty"` // jumpkv/baseline, when both ran
}

// NewReport summarises runs: a median per system and, when both jumpkv
// and the baseline ran, their ratio.
func NewReport(setup Setup, runs []RunStats) *Report {
	r := &Report{Setup: setup, Runs: runs, Median: map[string]Summary{}}
	bySystem := map[string][]RunStats{}
	for _, run := range runs {
		bySystem[run.System] = append(bySystem[run.System], run)
	}
	for name, rs := range bySystem {
		s := Summary{Rounds: len(rs)}
		var opsPerSec []float64
		lat := make([][]float64, 5)
		for _, run := range rs {
			opsPerSec = append(opsPerSec, run.OpsPerSec)
			s.Errors += run.Errors
			for i, v := range run.Latency.values() {
				lat[i] = append(lat[i], v)
			}
		}
		s.OpsPerSec = Median(opsPerSec)
		med := make([]float64, 5)
		for i := range lat {
			med[i] = Median(lat[i])
		}
		s.Latency = latencyOf(med)
		s.CPUPerOp = medianCPU(rs)
		r.Median[name] = s
	}
	j, jok := r.Median[SystemJumpkv]
	b, bok := r.Median[SystemBaseline]
	if jok && bok {
		ratio := &Ratio{OpsPerSec: div(j.OpsPerSec, b.OpsPerSec)}
		jv, bv := j.Latency.values(), b.Latency.values()
		rv := make([]float64, 5)
		for i := range rv {
			rv[i] = div(jv[i], bv[i])
		}
		ratio.Latency = latencyOf(rv)
		r.Ratio = ratio
	}
	return r
}

// medianCPU is the median CPU per operation of each process over runs,
// and, where there are several servers, of their sum ("servers": every
// process but the client).
func medianCPU(runs []RunStats) map[string]float64 {
	byProc := map[string][]float64{}
	for _, run := range runs {
		sum, servers := 0.0, 0
		for name, v := range run.CPUPerOp {
			byProc[name] = append(byProc[name], v)
			if name != CPUClient {
				sum, servers = sum+v, servers+1
			}
		}
		if servers > 1 {
			byProc[CPUServers] = append(byProc[CPUServers], sum)
		}
	}
	if len(byProc) == 0 {
		return nil
	}
	out := make(map[string]float64, len(byProc))
	for name, v := range byProc {
		out[name] = Median(v)
	}
	return out
}

// Process names of the CPU figures.
const (
	CPUClient  = "client"
	CPUServer  = "server"
	CPUServers = "servers"
)

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Median returns the median of v (the mean of the middle two for an even
// count; 0 for none). It does not change v.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as a description and a table.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	s := r.Setup
	b.WriteString(describe(s))
	b.WriteByte('\n')
	for _, sys := range s.Systems {
		fmt.Fprintf(&b, "%-9s %s", sys.Name+":", strings.Join(sys.Targets, ", "))
		if sys.Note != "" {
			fmt.Fprintf(&b, " (%s)", sys.Note)
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tround\tops\tops/s\terrors\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\t\n", run.System, run.Round, run.Ops, fmtRate(run.OpsPerSec), run.Errors, fmtLatencies(run.Latency))
	}
	multi := len(r.Runs) > len(r.Median)
	if multi {
		for _, name := range r.systemOrder() {
			m := r.Median[name]
			fmt.Fprintf(tw, "%s\tmedian\t\t%s\t%d\t%s\t\n", name, fmtRate(m.OpsPerSec), m.Errors, fmtLatencies(m.Latency))
		}
	}
	if r.Ratio != nil {
		l := r.Ratio.Latency
		fmt.Fprintf(tw, "jumpkv/baseline\tratio\t\t%s\t\t%s\t%s\t%s\t%s\t%s\t\n", fmtRatio(r.Ratio.OpsPerSec),
			fmtRatio(l.P50), fmtRatio(l.P90), fmtRatio(l.P99), fmtRatio(l.P999), fmtRatio(l.Max))
	}
	tw.Flush()

	for _, run := range r.Runs {
		if run.Errors == 0 && run.Missed == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s round %d:", run.System, run.Round)
		if run.Errors > 0 {
			fmt.Fprintf(&b, " errors %s", fmtErrors(run.ErrorsByStatus))
		}
		if run.Missed > 0 {
			fmt.Fprintf(&b, " %d requests due were never sent (the target fell behind --rate)", run.Missed)
		}
		b.WriteByte('\n')
	}
	r.writeCPU(&b)
	if r.Ratio != nil {
		b.WriteString("ratio: jumpkv's median over the baseline's, figure by figure (ops/s below 1x: jumpkv serves fewer; latency above 1x: jumpkv is slower)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCPU lists each system's median CPU per operation by process.
func (r *Report) writeCPU(b *strings.Builder) {
	header := false
	for _, name := range r.systemOrder() {
		cpu := r.Median[name].CPUPerOp
		if len(cpu) == 0 {
			continue
		}
		if !header {
			b.WriteString("CPU per operation (user+system, median of rounds):\n")
			header = true
		}
		procs := slices.Sorted(maps.Keys(cpu))
		// The client, then the servers' sum, then each server.
		slices.SortStableFunc(procs, func(x, y string) int {
			if c := cpuRank(x) - cpuRank(y); c != 0 {
				return c
			}
			return len(x) - len(y) // node 2 before node 10
		})
		var parts []string
		for _, p := range procs {
			parts = append(parts, fmt.Sprintf("%s %sµs", p, strconv.FormatFloat(cpu[p], 'f', 1, 64)))
		}
		fmt.Fprintf(b, "  %-9s %s\n", name+":", strings.Join(parts, ", "))
	}
}

func cpuRank(name string) int {
	switch name {
	case CPUClient:
		return 0
	case CPUServers:
		return 1
	}
	return 2
}

// systemOrder returns the systems of the median in the setup's order.
func (r *Report) systemOrder() []string {
	var names []string
	for _, s := range r.Setup.Systems {
		if _, ok := r.Median[s.Name]; ok && !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Median)) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// describe is the first line of the text report.
func describe(s Setup) string {
	op := s.Op
	if s.ReadRatio != nil {
		op = fmt.Sprintf("mixed (%.0f%% get)", *s.ReadRatio*100)
	}
	dist := s.Dist
	if s.ZipfS != 0 {
		dist += " s=" + strconv.FormatFloat(s.ZipfS, 'g', -1, 64)
	}
	load := fmt.Sprintf("closed loop, %d conns", s.Conns)
	if s.Rate > 0 {
		load = fmt.Sprintf("fixed rate %s req/s over %d conns", strconv.FormatFloat(s.Rate, 'g', -1, 64), s.Conns)
	}
	preload := ""
	if s.Preload {
		preload = ", preloaded"
	}
	per := ""
	if s.Rounds > 1 {
		per = fmt.Sprintf(", %d rounds", s.Rounds)
	}
	return fmt.Sprintf("op %s, %d-byte values, %d keys (%s%s), %s, target %s, %v warmup + %v measured%s",
		op, s.ValueSize, s.Keys, dist, preload, load, s.Target, secs(s.WarmupSeconds), secs(s.DurationSeconds), per)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func fmtRate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "x" }

func fmtLatencies(l Latency) string {
	var parts []string
	for _, v := range l.values() {
		parts = append(parts, FormatMillis(v))
	}
	return strings.Join(parts, "\t")
}

// FormatMillis formats a latency in milliseconds with three significant
// digits and a fitting unit: 812µs, 1.23ms, 45.6ms, 1.20s.
func FormatMillis(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms*1000, 'f', 0, 64) + "µs"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
}

// fmtErrors lists error counts, most frequent first: "503 ×12, timeout ×1".
func fmtErrors(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// FormatProgress is the progress line of a run: the phase, the time into
// it of its length, the throughput so far and over the last interval, and
// the errors so far.
func FormatProgress(label string, p Progress, warmup, duration time.Duration) string {
	phase, length := "", duration
	if p.Warmup {
		phase, length = "warmup ", warmup
	}
	return fmt.Sprintf("%s: %s%v/%v  %s ops/s (last %v: %s)  errors %d",
		label, phase, p.Elapsed.Round(100*time.Millisecond), length,
		fmtRate(p.OpsPerSec()), p.Interval.Round(100*time.Millisecond), fmtRate(p.RecentPerSec()), p.Errors)
}
