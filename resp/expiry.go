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
// goes through here. The leader stamps the expiry: an absolute one as
// given, and it keeps or clears the key's current one as asked
// (replication.Result).
func setExpiry(op *wire.WriteOp, spec ttlSpec) error {
	switch spec.kind {
	case ttlAt:
		op.ExpireAt = max(spec.at.UnixMilli(), 1)
	case ttlKeep:
		op.KeepTTL = true
	}
	return nil
}

// expiryOf returns when e expires; ok is false for a key without expiry.
func expiryOf(e store.Entry) (at time.Time, ok bool) {
	if e.Expires == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(e.Expires), true
}
