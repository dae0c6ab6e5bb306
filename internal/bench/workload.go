// Package bench is the engine of `jumpkv bench`: workload generation, key
// distributions, open- and closed-loop load with latency recording,
// result aggregation and formatting, an HTTP client tuned for load, and the
// baseline server it compares jumpkv with. The command (cmd/jumpkv) adds
// flags and processes.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// OpKind is what one request does.
type OpKind uint8

const (
	OpGet OpKind = iota
	OpPut
)

func (k OpKind) String() string {
	if k == OpPut {
		return "put"
	}
	return "get"
}

// Op is one request: a get or put of key number Key.
type Op struct {
	Kind OpKind
	Key  int
}

// Mix names the operations of a workload.
const (
	MixGet   = "get"
	MixPut   = "put"
	MixMixed = "mixed"
)

// Distributions of keys.
const (
	DistUniform = "uniform"
	DistZipf    = "zipf"
)

// MaxKeys bounds Workload.Keys.
const MaxKeys = 100_000_000

// Workload says which operations a run sends on which keys.
type Workload struct {
	Mix       string  // MixGet, MixPut or MixMixed
	ReadRatio float64 // share of gets in MixMixed, in [0, 1]
	Keys      int     // keys 0..Keys-1
	Dist      string  // DistUniform or DistZipf
	ZipfS     float64 // Zipf exponent, > 1: key k has weight (k+1)^-s, key 0 is the hottest
	ValueSize int     // bytes per value written
}

// Validate reports the first thing wrong with w, in flag words.
func (w Workload) Validate() error {
	switch w.Mix {
	case MixGet, MixPut, MixMixed:
	default:
		return fmt.Errorf("--op %q: want get, put or mixed", w.Mix)
	}
	if w.ReadRatio < 0 || w.ReadRatio > 1 {
		return fmt.Errorf("--read-ratio %v: want 0 to 1", w.ReadRatio)
	}
	if w.Keys < 1 || w.Keys > MaxKeys {
		return fmt.Errorf("--keys %d: want 1 to %d", w.Keys, MaxKeys)
	}
	switch w.Dist {
	case DistUniform:
	case DistZipf:
		if !(w.ZipfS > 1) {
			return fmt.Errorf("--zipf-s %v: want more than 1", w.ZipfS)
		}
	default:
		return fmt.Errorf("--dist %q: want uniform or zipf", w.Dist)
	}
	if w.ValueSize < 0 {
		return fmt.Errorf("--value-size %d: want 0 or more", w.ValueSize)
	}
	return nil
}

// Reads reports whether the workload reads (and so wants keys preloaded).
func (w Workload) Reads() bool {
	return w.Mix == MixGet || (w.Mix == MixMixed && w.ReadRatio > 0)
}

// KeyChooser draws key numbers from a distribution. Not safe for
// concurrent use: one per goroutine.
type KeyChooser struct {
	r    *rand.Rand
	n    int
	zipf *rand.Zipf
}

// NewKeyChooser returns a chooser of keys 0..n-1 under dist ("uniform" or
// "zipf" with exponent s > 1) drawing from r.
func NewKeyChooser(r *rand.Rand, dist string, n int, s float64) *KeyChooser {
	k := &KeyChooser{r: r, n: n}
	if dist == DistZipf {
		k.zipf = rand.NewZipf(r, s, 1, uint64(n-1))
	}
	return k
}

// Next returns the next key number.
func (k *KeyChooser) Next() int {
	if k.zipf != nil {
		return int(k.zipf.Uint64())
	}
	return k.r.IntN(k.n)
}

// Generator produces the operations of one worker. Not safe for concurrent
// use.
type Generator struct {
	r     *rand.Rand
	keys  *KeyChooser
	mix   string
	ratio float64
}

// NewGenerator returns worker's generator; the same seed and worker give
// the same sequence.
func (w Workload) NewGenerator(seed uint64, worker int) *Generator {
	r := rand.New(rand.NewPCG(seed, uint64(worker)+0x9e3779b97f4a7c15))
	return &Generator{r: r, keys: NewKeyChooser(r, w.Dist, w.Keys, w.ZipfS), mix: w.Mix, ratio: w.ReadRatio}
}

// Next returns the next operation.
func (g *Generator) Next() Op {
	op := Op{Kind: OpGet}
	switch g.mix {
	case MixPut:
		op.Kind = OpPut
	case MixMixed:
		if g.r.Float64() >= g.ratio {
			op.Kind = OpPut
		}
	}
	op.Key = g.keys.Next()
	return op
}

// KeyName returns the name of key i of n: "bench/" and i zero-padded to
// the width of n-1, so every key of a run has the same length.
func KeyName(i, n int) string {
	width := len(strconv.Itoa(max(n-1, 0)))
	s := strconv.Itoa(i)
	b := make([]byte, 0, len("bench/")+width)
	b = append(b, "bench/"...)
	for range width - len(s) {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

// Value returns a value of size bytes (printable, deterministic).
func Value(size int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, size)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}
