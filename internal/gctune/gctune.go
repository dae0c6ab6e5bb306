// Package gctune sizes the Go garbage collector's heap headroom for an
// in-memory store. The default (GOGC=100) lets the heap grow to twice what
// is live: too little room when a node holds little (the collector then
// runs constantly under load), far too much when it holds gigabytes (the
// process takes twice the memory its data needs). Run instead lets the heap
// grow to MinHeap before a collection while little is live, and by a
// fraction of the live heap once that is large.
package gctune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config bounds the headroom. The zero value means the defaults.
type Config struct {
	// MinHeap is the heap size a collection may wait for however little
	// is live (default 96 MiB).
	MinHeap uint64
	// Fraction is the growth allowed between collections as a share of the
	// live heap, once that leaves less room than MinHeap (default 0.25).
	Fraction float64
	// MinPercent and MaxPercent clamp the GOGC value set (defaults 10, 800).
	MinPercent, MaxPercent int
	// Every is how often the live heap is looked at (default 250ms).
	Every time.Duration
}

func (c Config) withDefaults() Config {
	if c.MinHeap == 0 {
		c.MinHeap = 96 << 20
	}
	if c.Fraction == 0 {
		c.Fraction = 0.25
	}
	if c.MinPercent == 0 {
		c.MinPercent = 10
	}
	if c.MaxPercent == 0 {
		c.MaxPercent = 800
	}
	if c.Every == 0 {
		c.Every = 250 * time.Millisecond
	}
	return c
}

// Percent returns the GOGC value giving a heap of live bytes the headroom
// max(MinHeap-live, Fraction*live), clamped to [MinPercent, MaxPercent].
func (c Config) Percent(live uint64) int {
	c = c.withDefaults()
	room := max(float64(c.MinHeap)-float64(live), c.Fraction*float64(live))
	p := c.MaxPercent
	if live > 0 {
		p = int(100 * room / float64(live))
	}
	return min(max(p, c.MinPercent), c.MaxPercent)
}

// Run re-tunes the collector after every collection until ctx ends, then
// restores the GOGC value it found. The caller decides whether to run it at
// all (not when the operator set GOGC).
func Run(ctx context.Context, cfg Config, log *slog.Logger) {
	cfg = cfg.withDefaults()
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	current := cfg.Percent(0)
	initial := debug.SetGCPercent(current)
	defer debug.SetGCPercent(initial)
	var cycles uint64
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindUint64 || samples[1].Value.Kind() != metrics.KindUint64 {
			return // a runtime without these metrics: leave the default alone
		}
		if n := samples[0].Value.Uint64(); n == cycles {
			continue
		} else {
			cycles = n
		}
		p := cfg.Percent(samples[1].Value.Uint64())
		// Small changes are not worth a call (it may trigger a collection).
		if d := p - current; d > current/8 || -d > current/8 {
			debug.SetGCPercent(p)
			log.Debug("gc headroom re-tuned", "gogc", p, "live_bytes", samples[1].Value.Uint64())
			current = p
		}
	}
}
