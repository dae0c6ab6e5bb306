package store

import (
	"math"
	"unsafe"
)

// slot is one key's state, 32 bytes; the key itself is only the map key.
//
// The value is kept as a pointer to its first byte plus a 32-bit length
// rather than a 24-byte slice header, and the content type as a 32-bit code
// that also marks tombstones. At a million keys this saves ~35 bytes per key
// over the obvious layout, because swiss-table maps hold (key, slot) pairs
// at 44-87% load.
type slot struct {
	val *byte // first byte of the value; nil when empty or a tombstone
	n   uint32
	ct  uint32 // ctNone, an interned content type's id, ctRare or ctTombstone
	ver Version
}

const (
	ctNone      = 0                  // empty content type
	ctRare      = math.MaxUint32 - 1 // content type in the bucket's rare map
	ctTombstone = math.MaxUint32     // a deleted entry: no value, no content type
)

// maxValue is the largest value a slot can hold.
const maxValue = math.MaxUint32

func (sl *slot) deleted() bool { return sl.ct == ctTombstone }

// value returns the stored bytes, capacity clipped to length so appends by
// readers never write into them.
func (sl *slot) value() []byte {
	if sl.val == nil {
		return nil
	}
	return unsafe.Slice(sl.val, sl.n)
}

// setValue keeps v, which the store owns from now on. A value using less
// than about 80% of its capacity is copied so it doesn't pin spare memory.
func (sl *slot) setValue(v []byte) {
	n := len(v)
	if n == 0 {
		sl.val, sl.n = nil, 0
		return
	}
	if n > maxValue {
		panic("store: value larger than 4 GiB")
	}
	if cap(v) > n+n/4+64 {
		c := make([]byte, n)
		copy(c, v)
		v = c
	}
	sl.val, sl.n = unsafe.SliceData(v), uint32(n)
}
