package replication

import (
	"context"
	"errors"
	"fmt"

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
	var errs chan error
	if len(backups) > 1 {
		errs = make(chan error, len(backups))
		for _, m := range backups {
			go func() { errs <- send(ctx, m) }()
		}
	}
	applied, unsure := 0, false
	var first error
	for i := range backups {
		var err error
		if errs == nil { // one backup: no goroutine needed
			err = send(ctx, backups[i])
		} else {
			err = <-errs
		}
		switch {
		case err == nil:
			applied++
			continue
		case first == nil:
			first = err
		}
		unsure = unsure || wire.MaybeDelivered(err)
	}
	if first != nil {
		if applied > 0 || unsure {
			return fmt.Errorf("%w: a backup failed: %v", wire.ErrUnknownOutcome, first)
		}
		return refused(first)
	}
	if err := send(ctx, replicas[0]); err != nil {
		if len(backups) == 0 && !wire.MaybeDelivered(err) {
			return refused(err)
		}
		return fmt.Errorf("%w: the primary failed: %v", wire.ErrUnknownOutcome, err)
	}
	return nil
}

// refused is the error of a write no replica applied: a full disk stays a
// full disk (507), anything else means too few replicas (503).
func refused(err error) error {
	if errors.Is(err, wire.ErrInsufficientStorage) {
		return fmt.Errorf("%w: %v", wire.ErrInsufficientStorage, err)
	}
	return fmt.Errorf("%w: %v", wire.ErrUnavailable, err)
}
