package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// FsyncMode says when appended records reach the disk, with the meaning of
// Redis's appendfsync.
type FsyncMode int

const (
	// FsyncAlways: Append returns once its record is written and fsynced.
	// Records waiting at the same moment share one fsync (group commit).
	FsyncAlways FsyncMode = iota
	// FsyncEverySec: Append returns once its record is written to the file
	// (the page cache); a background tick fsyncs once a second. A process
	// crash loses nothing; a machine crash may lose the last second.
	FsyncEverySec
	// FsyncNo: Append returns once its record is written to the file; the
	// log never fsyncs on its own account except when it seals a segment and
	// on Close. The kernel decides when data reaches the disk.
	FsyncNo
)

// String returns the flag spelling: always, everysec or no.
func (m FsyncMode) String() string {
	switch m {
	case FsyncAlways:
		return "always"
	case FsyncEverySec:
		return "everysec"
	case FsyncNo:
		return "no"
	}
	return fmt.Sprintf("FsyncMode(%d)", int(m))
}

// ParseFsyncMode reads the flag spelling (always, everysec, no).
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "everysec":
		return FsyncEverySec, nil
	case "no":
		return FsyncNo, nil
	}
	return 0, fmt.Errorf("fsync mode %q: want always, everysec or no", s)
}

// Limits on the settings.
const (
	// MaxRecordLimit is the largest MaxRecord accepted (1GiB).
	MaxRecordLimit = 1 << 30
	// MinSegmentSize is the smallest SegmentSize accepted.
	MinSegmentSize = 1 << 10
)

// Config sets up a log. Start from DefaultConfig.
type Config struct {
	// Dir is the data directory; Open creates it if missing.
	Dir string
	// Fsync is the durability mode of Append.
	Fsync FsyncMode
	// MaxRecord is the largest record payload in bytes, enforced on
	// Append, on snapshot records, on metadata and on every read.
	MaxRecord int
	// SegmentSize is the size at which the active segment is sealed and a
	// new one started, after the batch that reached it (so a segment can
	// exceed it by one batch).
	SegmentSize int64
	// SyncInterval is the background fsync period of FsyncEverySec (1s).
	SyncInterval time.Duration
	// MaxBatchBytes caps the bytes the writer gathers into one write; one
	// Append or AppendBatch call larger than this is still written whole.
	MaxBatchBytes int
	// ObserveFsync, if set, is called with the duration of every fsync of a
	// segment (feed a histogram with it). It must be quick and not block.
	ObserveFsync func(time.Duration)
	// Logger receives recovery reports and background errors.
	Logger *slog.Logger
	// FS is the file layer; nil means the operating system's. Tests put a
	// FaultFS here to inject failures.
	FS FS
}

// DefaultConfig returns the defaults for a log in dir: fsync always, 64MiB
// records, 64MiB segments, a one-second everysec tick, 4MiB batches.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:           dir,
		Fsync:         FsyncAlways,
		MaxRecord:     64 << 20,
		SegmentSize:   64 << 20,
		SyncInterval:  time.Second,
		MaxBatchBytes: 4 << 20,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("wal: the data directory is empty")
	case c.Fsync < FsyncAlways || c.Fsync > FsyncNo:
		return fmt.Errorf("wal: fsync mode %d is not always, everysec or no", int(c.Fsync))
	case c.MaxRecord < 1 || c.MaxRecord > MaxRecordLimit:
		return fmt.Errorf("wal: max record %d must be between 1 byte and %d", c.MaxRecord, MaxRecordLimit)
	case c.SegmentSize < MinSegmentSize:
		return fmt.Errorf("wal: segment size %d must be at least %d", c.SegmentSize, MinSegmentSize)
	case c.Fsync == FsyncEverySec && c.SyncInterval <= 0:
		return fmt.Errorf("wal: sync interval %v must be positive with fsync everysec", c.SyncInterval)
	case c.MaxBatchBytes < 1:
		return fmt.Errorf("wal: max batch bytes %d must be positive", c.MaxBatchBytes)
	}
	return nil
}
