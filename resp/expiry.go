package resp

import (
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// ttlKind is what a write does to its key's expiry.
type ttlKind int

const (
	ttlClear ttlKind = iota // a plain write: the key no longer expires (SET, MSET)
	ttlKeep                 // the key keeps its expiry (KEEPTTL, APPEND, INCR, ...)
	ttlAt                   // the key expires at an absolute time (EX, PX, EXAT, PXAT, EXPIRE)
)

// ttlSpec is the expiry a command asks for.
type ttlSpec struct {
	kind ttlKind
	at   time.Time // for ttlAt
}

// setExpiry builds op's expiry from spec. Every RESP command that writes
// goes through here, so that expiry support lands in one place.
//
// TODO(issue 19): the node cannot expire keys yet. Once a write carries an
// expiry (stamped absolute by the leader), set it here for ttlAt, clear it
// for ttlClear and keep it for ttlKeep, and make expiryOf read it. Until
// then no key has an expiry, so clearing and keeping are both nothing, and
// a command that would set one is refused.
func setExpiry(op *wire.WriteOp, spec ttlSpec) error {
	_ = op
	switch spec.kind {
	case ttlClear, ttlKeep:
		return nil
	}
	return ErrExpiryUnsupported
}

// expiryOf returns when e expires; ok is false for a key without expiry.
//
// TODO(issue 19): read the entry's expiry once the node keeps one.
func expiryOf(e store.Entry) (at time.Time, ok bool) {
	_ = e
	return time.Time{}, false
}
