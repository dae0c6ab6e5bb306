package wal

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrClosed is returned by every operation on a closed log.
	ErrClosed = errors.New("wal: log closed")
	// ErrNotReplayed is returned by Append and StartSnapshot before Replay.
	ErrNotReplayed = errors.New("wal: log not replayed yet")
	// ErrTooLarge is returned for a record or metadata value above MaxRecord.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrNoSpace means the disk is full or unwritable (ENOSPC, EDQUOT,
	// EROFS, EIO, EFBIG). The failed write left nothing visible in the log;
	// the same call succeeds again once the disk has room. The OS error is
	// wrapped too: errors.Is(err, syscall.ENOSPC) works.
	ErrNoSpace = errors.New("wal: disk full or unwritable")
	// ErrIO is any other failure to write or sync the log (wrapped with the
	// OS error). As with ErrNoSpace, the failed write is not in the log.
	ErrIO = errors.New("wal: write failed")
	// ErrCorrupt is matched by every *CorruptError.
	ErrCorrupt = errors.New("wal: data directory damaged")
	// ErrSnapshotBusy is returned by StartSnapshot while another snapshot
	// is being written.
	ErrSnapshotBusy = errors.New("wal: a snapshot is already in progress")
	// ErrWouldWait is returned by TryAppendBatch when the append would
	// wait for an fsync or for other appenders; nothing was appended.
	ErrWouldWait = errors.New("wal: the append would wait")
	// ErrLocked means another process (or another Log) holds the directory.
	ErrLocked = errors.New("wal: data directory in use by another process")
)

// CorruptError names damage that recovery refuses to repair: a file and the
// byte offset where the damage starts.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the first damaged byte or record
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: %s is damaged at byte %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// writeError wraps an OS error from the write path in ErrNoSpace when the
// disk is full or unwritable, otherwise in ErrIO, keeping both in the chain.
func writeError(op, file string, err error) error {
	kind := ErrIO
	if isNoSpace(err) {
		kind = ErrNoSpace
	}
	return fmt.Errorf("%w: %s %s: %w", kind, op, file, err)
}

func isNoSpace(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO, syscall.EFBIG} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
