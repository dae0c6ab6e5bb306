// Package gctune sizes the Go garbage collector's heap headroom for an
// in-memory store. The default (GOGC=100) lets the heap grow to twice what
// is live: too little room when a node holds little (the collector then
// runs constantly under load), far too much when it holds gigabytes (the
// process takes twice the memory its data needs). Tune instead gives the
// heap a fixed room of MinHeadroom while the live heap is small and a
// fraction of it once the live heap is large.
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
	// MinHeadroom is the heap growth allowed between collections however
	// little is live (default 64 MiB).
	MinHeadroom uint64
	// Fraction is the growth allowed as a share of the live heap once that
	// exceeds MinHeadroom (default 0.25).
	Fraction float64
	// MinPercent and MaxPercent clamp the GOGC value set (defaults 10, 800).
	MinPercent, MaxPercent int
	// Every is how often the live heap is looked at (default 250ms).
	Every time.Duration
}

func (c Config) withDefaults() Config {
	if c.MinHeadroom == 0 {
		c.MinHeadroom = 64 << 20
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
// max(MinHeadroom, Fraction*live), clamped to [MinPercent, MaxPercent].
func (c Config) Percent(live uint64) int {
	c = c.withDefaults()
	room := max(float64(c.MinHeadroom), c.Fraction*float64(live))
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
