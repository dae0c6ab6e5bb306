package files

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config sets the file layer's sizes and timings.
type Config struct {
	// ChunkSize is the bytes per chunk; at most the node's largest value.
	ChunkSize int
	// MaxFile is the largest file accepted (--max-file).
	MaxFile int64
	// MaxValue is the node's largest value (--max-value): a manifest must
	// fit in it.
	MaxValue int
	// InFlight is how many chunk writes one upload keeps in flight.
	InFlight int
	// Grace is how long chunks no manifest names are kept (for downloads
	// begun before an overwrite) and how long an operation in flight
	// (an upload, a rename) holds its chunks without renewing its claim.
	Grace time.Duration
	// CollectEvery is the period of the leader's collection pass.
	CollectEvery time.Duration
	// RetryFor bounds the retries of one chunk write while the cluster
	// has no leader or too few replicas (a failover takes up to 3 s).
	RetryFor time.Duration
	// Logger receives the collector's work; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a node whose largest value is
// maxValue: 1 MiB chunks (or maxValue, if smaller), files up to 1 GiB.
func DefaultConfig(maxValue int) Config {
	return Config{
		ChunkSize:    min(maxValue, 1<<20),
		MaxFile:      1 << 30,
		MaxValue:     maxValue,
		InFlight:     4,
		Grace:        10 * time.Minute,
		CollectEvery: time.Minute,
		RetryFor:     15 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxValue < 1024:
		return fmt.Errorf("files: MaxValue %d: a manifest needs at least 1 KiB", c.MaxValue)
	case c.ChunkSize < 1 || c.ChunkSize > c.MaxValue:
		return fmt.Errorf("files: ChunkSize %d must be between 1 and MaxValue (%d)", c.ChunkSize, c.MaxValue)
	case c.MaxFile < 0:
		return errors.New("files: MaxFile must not be negative")
	case c.InFlight < 1:
		return fmt.Errorf("files: InFlight %d must be at least 1", c.InFlight)
	case c.Grace <= 0 || c.CollectEvery <= 0:
		return errors.New("files: Grace and CollectEvery must be positive")
	case c.RetryFor < 0:
		return errors.New("files: RetryFor must not be negative")
	}
	return nil
}
