package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestUniformCoversEveryKeyEvenly(t *testing.T) {
	const n, draws = 1000, 200_000
	k := NewKeyChooser(rand.New(rand.NewPCG(1, 2)), DistUniform, n, 0)
	counts := make([]int, n)
	for range draws {
		counts[k.Next()]++
	}
	// Each key expects 200 hits (sd ~14): all within 6 sd.
	lo, hi := slices.Min(counts), slices.Max(counts)
	if lo < 115 || hi > 285 {
		t.Fatalf("uniform over %d keys: counts from %d to %d, want all near %d", n, lo, hi, draws/n)
	}
	var chi2 float64
	for _, c := range counts {
		d := float64(c) - draws/n
		chi2 += d * d / (draws / n)
	}
	// 999 degrees of freedom: mean 999, sd ~45.
	if chi2 > 999+6*45 {
		t.Fatalf("chi-squared %.0f for 999 degrees of freedom: not uniform", chi2)
	}
}

func TestZipfIsSkewedAsPredicted(t *testing.T) {
	const n, s, draws = 10_000, 1.1, 300_000
	k := NewKeyChooser(rand.New(rand.NewPCG(3, 4)), DistZipf, n, s)
	counts := make([]int, n)
	for range draws {
		key := k.Next()
		if key < 0 || key >= n {
			t.Fatalf("key %d outside [0, %d)", key, n)
		}
		counts[key]++
	}
	// Key i has weight (i+1)^-s.
	var total, top float64
	for i := range n {
		w := math.Pow(float64(i+1), -s)
		total += w
		if i < n/100 {
			top += w
		}
	}
	p0 := 1 / total
	if got := float64(counts[0]) / draws; math.Abs(got-p0) > 0.05*p0 {
		t.Errorf("the hottest key got %.4f of the requests, want %.4f", got, p0)
	}
	var hot int
	for _, c := range counts[:n/100] {
		hot += c
	}
	if got, want := float64(hot)/draws, top/total; math.Abs(got-want) > 0.02 {
		t.Errorf("the hottest 1%% of keys got %.3f of the requests, want %.3f", got, want)
	}
	if !(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[100] && counts[100] > counts[1000]) {
		t.Errorf("counts of keys 0, 1, 10, 100, 1000: %d %d %d %d %d, want decreasing",
			counts[0], counts[1], counts[10], counts[100], counts[1000])
	}
}

func TestGeneratorMixAndDeterminism(t *testing.T) {
	w := Workload{Mix: MixMixed, ReadRatio: 0.9, Keys: 100, Dist: DistUniform}
	g := w.NewGenerator(42, 0)
	gets := 0
	const draws = 100_000
	for range draws {
		if g.Next().Kind == OpGet {
			gets++
		}
	}
	if share := float64(gets) / draws; share < 0.89 || share > 0.91 {
		t.Errorf("mixed 0.9: %.3f gets", share)
	}
	seq := func(seed uint64, worker int) []Op {
		g := w.NewGenerator(seed, worker)
		var ops []Op
		for range 50 {
			ops = append(ops, g.Next())
		}
		return ops
	}
	if !slices.Equal(seq(1, 3), seq(1, 3)) {
		t.Error("the same seed and worker must give the same operations")
	}
	if slices.Equal(seq(1, 3), seq(1, 4)) || slices.Equal(seq(1, 3), seq(2, 3)) {
		t.Error("other workers and seeds must give other operations")
	}
	for _, mix := range []string{MixGet, MixPut} {
		w := Workload{Mix: mix, Keys: 10, Dist: DistZipf, ZipfS: 1.5}
		g := w.NewGenerator(1, 0)
		for range 100 {
			if op := g.Next(); op.Kind.String() != mix {
				t.Fatalf("--op %s gave a %s", mix, op.Kind)
			}
		}
	}
}

func TestWorkloadValidate(t *testing.T) {
	good := Workload{Mix: MixMixed, ReadRatio: 0.5, Keys: 10, Dist: DistZipf, ZipfS: 1.1, ValueSize: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mod := range map[string]func(*Workload){
		"--op":         func(w *Workload) { w.Mix = "scan" },
		"--read-ratio": func(w *Workload) { w.ReadRatio = 1.5 },
		"--keys":       func(w *Workload) { w.Keys = 0 },
		"--zipf-s":     func(w *Workload) { w.ZipfS = 1 },
		"--dist":       func(w *Workload) { w.Dist = "normal" },
		"--value-size": func(w *Workload) { w.ValueSize = -1 },
	} {
		w := good
		mod(&w)
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v", want, err)
		}
	}
}

func TestKeyNameAndValue(t *testing.T) {
	for _, c := range []struct {
		i, n int
		want string
	}{{0, 1, "bench/0"}, {7, 10, "bench/7"}, {7, 11, "bench/07"}, {42, 10000, "bench/0042"}, {9999, 10000, "bench/9999"}} {
		if got := KeyName(c.i, c.n); got != c.want {
			t.Errorf("KeyName(%d, %d) = %q, want %q", c.i, c.n, got, c.want)
		}
	}
	v := Value(100)
	if len(v) != 100 || string(v) != string(Value(100)) || strings.ContainsAny(string(v), " \n\x00") {
		t.Errorf("Value(100) = %q: want 100 printable bytes, the same each time", v)
	}
}
