package replication

import (
	"fmt"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// NeedsCurrent reports whether a write must see the key's current state
// first: every write but an unconditional put that sets its own expiry.
func NeedsCurrent(op wire.WriteOp) bool {
	return op.Kind != wire.WritePut || op.IfMatch != nil || op.IfNoneMatch || op.IfExists || op.KeepTTL
}

// Result decides what a write leaves of its key: it applies the write's
// conditions to the key's current state as the leader read it (cur, with
// found false when no live value is stored) at nowMilli (the leader's
// clock, Unix ms), and returns the new entry without its key's version.
// A value past its expiry counts as absent (the leader decides expiry by
// its own clock), except for the expirer's delete, which applies to
// exactly the expired version. The error wraps the wire sentinel the
// client sees.
func Result(op wire.WriteOp, cur store.Entry, found bool, nowMilli int64, maxValue int) (store.Entry, error) {
	live := found && (op.Expiring || !cur.Expired(nowMilli))
	if err := CheckConditions(op, cur, live); err != nil {
		return store.Entry{}, err
	}
	e := store.Entry{Key: op.Key}
	expires := ExpiryOf(op, nowMilli)
	switch op.Kind {
	case wire.WriteDelete:
		e.Deleted = true
	case wire.WritePut, wire.WriteCreate:
		e.Value, e.ContentType, e.Expires = op.Value, op.ContentType, expires
		if op.KeepTTL && live && expires == 0 {
			e.Expires = cur.Expires
		}
	case wire.WriteAppend:
		if !live {
			e.Value, e.ContentType, e.Expires = op.Value, op.ContentType, expires
			break
		}
		if len(cur.Value)+len(op.Value) > maxValue {
			return store.Entry{}, fmt.Errorf("%w: the appended value would be %d bytes, the limit is %d",
				wire.ErrTooLarge, len(cur.Value)+len(op.Value), maxValue)
		}
		v := make([]byte, 0, len(cur.Value)+len(op.Value))
		e.Value = append(append(v, cur.Value...), op.Value...)
		e.ContentType = cur.ContentType
		if op.ContentType != "" {
			e.ContentType = op.ContentType
		}
		e.Expires = cur.Expires // an append keeps the expiry...
		if expires != 0 {
			e.Expires = expires // ...unless it sets one
		}
	case wire.WriteExpire:
		e.Value, e.ContentType, e.Expires = cur.Value, cur.ContentType, expires
	}
	return e, nil
}

// ExpiryOf returns the expiry (Unix ms) a write sets at nowMilli: its
// absolute ExpireAt, or its TTL from now, or 0 for none.
func ExpiryOf(op wire.WriteOp, nowMilli int64) int64 {
	switch {
	case op.ExpireAt > 0:
		return op.ExpireAt
	case op.TTL > 0:
		return nowMilli + op.TTL
	}
	return 0
}

// CheckConditions applies a write's preconditions to the key's current
// state (found false: no live value). The error wraps the wire sentinel
// the client sees.
func CheckConditions(op wire.WriteOp, cur store.Entry, found bool) error {
	switch {
	case op.IfNoneMatch && found:
		return fmt.Errorf("%w: %q exists", wire.ErrPrecondition, op.Key)
	case op.IfExists && !found:
		return fmt.Errorf("%w: %q does not exist", wire.ErrPrecondition, op.Key)
	case op.IfMatch != nil && (!found || cur.Version != *op.IfMatch):
		return fmt.Errorf("%w: %q is not at version %s", wire.ErrPrecondition, op.Key, op.IfMatch)
	case op.Kind == wire.WriteCreate && found:
		return fmt.Errorf("%w: %q", wire.ErrExists, op.Key)
	case (op.Kind == wire.WriteDelete || op.Kind == wire.WriteExpire) && !found:
		return fmt.Errorf("%w: %q", wire.ErrNotFound, op.Key)
	}
	return nil
}

// Held is what one replica answered when asked for a key: its stored
// entry, tombstones included, and whether it stores any.
type Held struct {
	Entry store.Entry
	Found bool
}

// Newest judges the replicas' answers for one key (in replica order, the
// primary first). It returns the newest entry any replica stores (zero
// when none stores one) and the indexes of the replicas that lack it,
// backups first and the primary last: the order in which to complete that
// version before a conditional write is judged against it.
func Newest(answers []Held) (newest store.Entry, lagging []int) {
	for _, a := range answers {
		if a.Found && a.Entry.Version.Compare(newest.Version) > 0 {
			newest = a.Entry
		}
	}
	if newest.Version.IsZero() {
		return store.Entry{}, nil
	}
	for i := len(answers) - 1; i >= 0; i-- {
		if a := answers[i]; !a.Found || a.Entry.Version.Compare(newest.Version) < 0 {
			lagging = append(lagging, i)
		}
	}
	return newest, lagging
}
