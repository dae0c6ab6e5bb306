package watch

import (
	"errors"
	"fmt"
)

// Config sizes the watch machinery of one node.
type Config struct {
	// MaxWatchers caps live subscriptions.
	MaxWatchers int
	// Buffer caps the events queued for one subscriber.
	Buffer int
	// BufferBytes caps the bytes (keys and values, plus a fixed overhead
	// per event) queued for one subscriber: the bound that matters when
	// values are large. A subscriber past either bound is ended as too
	// slow. One event larger than BufferBytes is still delivered to a
	// subscriber whose queue is empty.
	BufferBytes int
	// HistoryEvents and HistoryBytes bound the history kept for resuming
	// with ?since.
	HistoryEvents int
	HistoryBytes  int
}

// DefaultConfig returns the defaults: 1,000 watchers, each with at most
// 1,024 events or 8 MiB queued, and a history of 10,000 events or 8 MiB.
func DefaultConfig() Config {
	return Config{MaxWatchers: 1000, Buffer: 1024, BufferBytes: 8 << 20, HistoryEvents: 10_000, HistoryBytes: 8 << 20}
}

// withDefaults returns c with every zero or negative field set to its
// default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxWatchers <= 0 {
		c.MaxWatchers = d.MaxWatchers
	}
	if c.Buffer <= 0 {
		c.Buffer = d.Buffer
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = d.BufferBytes
	}
	if c.HistoryEvents <= 0 {
		c.HistoryEvents = d.HistoryEvents
	}
	if c.HistoryBytes <= 0 {
		c.HistoryBytes = d.HistoryBytes
	}
	return c
}

// Validate reports the first field that makes no sense. Zero fields are
// valid: they take their defaults.
func (c Config) Validate() error {
	var errs []error
	if c.MaxWatchers < 0 {
		errs = append(errs, fmt.Errorf("watch: MaxWatchers %d: want a positive cap (0: the default)", c.MaxWatchers))
	}
	if c.Buffer < 0 {
		errs = append(errs, fmt.Errorf("watch: Buffer %d: want a positive number of events (0: the default)", c.Buffer))
	}
	if c.BufferBytes < 0 {
		errs = append(errs, fmt.Errorf("watch: BufferBytes %d: want a positive number of bytes (0: the default)", c.BufferBytes))
	}
	if c.HistoryEvents < 0 || c.HistoryBytes < 0 {
		errs = append(errs, fmt.Errorf("watch: history bounds %d events, %d bytes: want positive numbers (0: the default)",
			c.HistoryEvents, c.HistoryBytes))
	}
	return errors.Join(errs...)
}
