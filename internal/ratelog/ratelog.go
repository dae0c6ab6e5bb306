// Package ratelog logs a line at most once per key every interval, and
// says how many it left out: the one rate-limited logger of jumpkv, for
// lines a peer or a client can provoke at will (refused handshakes,
// refused joins) and for conditions that persist (buckets waiting for a
// holder).
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Logger logs at most one line per key every interval, counting the lines
// it left out. It remembers at most maxKeys keys; past that, lines of
// new keys share one key.
type Logger struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time // time.Now; tests change it before use

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// maxKeys bounds the keys a Logger remembers, so that peers that
// invent names cannot grow it without bound.
const maxKeys = 1024

// New returns a Logger writing to l at most once per key every interval.
func New(l *slog.Logger, every time.Duration) *Logger {
	return &Logger{log: l, every: every, now: time.Now, keys: make(map[string]*entry)}
}

// Log logs msg with attrs unless a line with the same key was logged less
// than the interval ago.
func (r *Logger) Log(key string, level slog.Level, msg string, attrs ...any) {
	if r.log == nil {
		return
	}
	now := r.now()
	r.mu.Lock()
	e := r.keys[key]
	if e == nil {
		if len(r.keys) >= maxKeys {
			for k, old := range r.keys {
				if now.Sub(old.last) >= r.every {
					delete(r.keys, k)
				}
			}
		}
		if len(r.keys) >= maxKeys {
			key = "(too many peers)"
			e = r.keys[key]
		}
		if e == nil {
			e = &entry{}
			r.keys[key] = e
		}
	}
	if !e.last.IsZero() && now.Sub(e.last) < r.every {
		e.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	r.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed, "over", r.every)
	}
	r.log.Log(context.Background(), level, msg, attrs...)
}
