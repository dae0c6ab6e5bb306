package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jumpkv/jumpkv/wire"
)

// SendFunc applies a write on one replica and reports how that went. An
// error for which wire.MaybeDelivered holds means the replica may have
// applied the write.
type SendFunc func(ctx context.Context, replica wire.Member) error

// Write applies a write to every replica of a bucket (the primary first in
// replicas): all backups at once, then, only once every backup has applied
// it, the primary. The value therefore becomes readable (reads come from the
// primary) only when every replica holds it.
//
// A nil error means every replica applied the write. Otherwise the error
// wraps wire.ErrUnavailable when no replica can have applied it (the client
// may retry freely), or wire.ErrUnknownOutcome when some may have.
func Write(ctx context.Context, replicas []wire.Member, send SendFunc) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: no replica to write to", wire.ErrUnavailable)
	}
	backups := replicas[1:]
	errs := make([]error, len(backups))
	if len(backups) == 1 { // one backup: no goroutine needed
		errs[0] = send(ctx, backups[0])
	} else {
		var wg sync.WaitGroup
		for i, m := range backups {
			wg.Go(func() { errs[i] = send(ctx, m) })
		}
		wg.Wait()
	}
	if err := BackupsOutcome(errs); err != nil {
		return err
	}
	return PrimaryOutcome(len(backups), send(ctx, replicas[0]))
}

// BackupsOutcome judges a write from what sending it to each of its backups
// returned (errs, one per backup): nil when every backup applied it, and
// the write goes on to its primary; otherwise the write's error, as Write
// returns it, and the primary must not be sent the write.
func BackupsOutcome(errs []error) error {
	applied, unsure := 0, false
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
			applied++
			continue
		case first == nil:
			first = err
		}
		unsure = unsure || wire.MaybeDelivered(err)
	}
	switch {
	case first == nil:
		return nil
	case applied > 0 || unsure:
		return fmt.Errorf("%w: a backup failed: %v", wire.ErrUnknownOutcome, first)
	default:
		return refused(first)
	}
}

// PrimaryOutcome judges a write whose backups (this many) all applied it
// from what sending it to its primary returned (err), as Write does.
func PrimaryOutcome(backups int, err error) error {
	switch {
	case err == nil:
		return nil
	case backups == 0 && !wire.MaybeDelivered(err):
		return refused(err)
	default:
		return fmt.Errorf("%w: the primary failed: %v", wire.ErrUnknownOutcome, err)
	}
}

// refused is the error of a write no replica applied: a full disk stays a
// full disk (507), anything else means too few replicas (503).
func refused(err error) error {
	if errors.Is(err, wire.ErrInsufficientStorage) {
		return fmt.Errorf("%w: %v", wire.ErrInsufficientStorage, err)
	}
	return fmt.Errorf("%w: %v", wire.ErrUnavailable, err)
}
