package replication

import (
	"fmt"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// NeedsCurrent reports whether a write must see the key's current state
// first: every write but an unconditional put.
func NeedsCurrent(op wire.WriteOp) bool {
	return op.Kind != wire.WritePut || op.IfMatch != nil || op.IfNoneMatch || op.IfExists
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
	case op.Kind == wire.WriteDelete && !found:
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
