package store

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// A record is one key's whole state in a single pointer-free allocation,
// built by Apply and never modified afterwards:
//
//	size   uvarint  number of bytes after this field
//	klen   uvarint
//	key    klen bytes
//	ct     uvarint  ctNone, an interned content type's id, ctRare or ctTombstone
//	term   uvarint
//	seq    uvarint
//	value  the remaining bytes (none for a tombstone)
//
// Why this layout: memory per key. A map[string]slot held a 16-byte key
// header and a 32-byte slot per map slot at 44-87% load, plus separate key
// and value allocations: 136 bytes per key beyond the key and value bytes
// (BenchmarkMemoryPerKey: 1M keys of 10 bytes, 100-byte values). Now it is
// 39: the record's header is 7 bytes for such a key (size, klen, ct and
// term 1 byte each, seq 3), so key+value+header fit the 128-byte size class
// (18 bytes over key+value); the index (index.go) adds ~19. A fixed 26-byte
// header would land in the 144-byte class instead (+16), and a
// map[string]*byte index costs ~56 bytes per key rather than ~19. The GC
// scans only the index's pointers, never the records.
//
// Because records are immutable (an update builds a new one), the keys and
// values handed out point straight into them and never change.
type record struct{ p *byte }

// Content-type codes. Ids 1..maxInterned come from the store's interner.
const (
	ctNone      = 0               // empty content type
	ctRare      = maxInterned + 1 // content type in the bucket's rare map
	ctTombstone = maxInterned + 2 // a deleted entry: no value, no content type
)

// maxValue is the largest value a record may hold (Apply's documented limit).
const maxValue = 1<<32 - 1

// view is a record decoded; its key and value point into the record.
type view struct {
	key   string
	ver   Version
	ct    uint32
	value []byte // nil when empty or a tombstone; capacity clipped to length
}

func (v *view) deleted() bool { return v.ct == ctTombstone }

// uvarintLen is the number of bytes binary.PutUvarint writes for x.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// newRecord copies key and value into a new record and returns it with its
// view. value is ignored for a tombstone.
func newRecord(key string, ver Version, ct uint32, value []byte) (record, view) {
	if ct == ctTombstone || len(value) == 0 {
		value = nil
	}
	rest := uvarintLen(uint64(len(key))) + len(key) + uvarintLen(uint64(ct)) +
		uvarintLen(ver.Term) + uvarintLen(ver.Seq) + len(value)
	all := make([]byte, uvarintLen(uint64(rest))+rest)
	b := all[binary.PutUvarint(all, uint64(rest)):] // as r.bytes() returns
	i := binary.PutUvarint(b, uint64(len(key)))
	i += copy(b[i:], key)
	k := unsafe.String(unsafe.SliceData(b[i-len(key):]), len(key))
	i += binary.PutUvarint(b[i:], uint64(ct))
	i += binary.PutUvarint(b[i:], ver.Term)
	i += binary.PutUvarint(b[i:], ver.Seq)
	copy(b[i:], value)
	v := view{key: k, ver: ver, ct: ct}
	if value != nil {
		v.value = b[i:len(b):len(b)]
	}
	return record{&all[0]}, v
}

// bytes returns the whole record, without its leading size field. It reads
// the size byte by byte so no slice ever reaches past the allocation.
func (r record) bytes() []byte {
	var size uint64
	n := 0
	for shift := uint(0); ; shift += 7 {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(r.p), n))
		n++
		size |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return unsafe.Slice(r.p, n+int(size))[n:]
}

// keyAt returns the record's key and the offset just past it in b, which
// is r.bytes().
func keyAt(b []byte) (key string, end int) {
	k, n := binary.Uvarint(b)
	end = n + int(k)
	return unsafe.String(unsafe.SliceData(b[n:end]), int(k)), end
}

// key returns the record's key.
func (r record) key() string {
	k, _ := keyAt(r.bytes())
	return k
}

// hasKey reports whether the record's key is key, without building a string.
func (r record) hasKey(key string) bool {
	b := r.bytes()
	k, n := binary.Uvarint(b)
	return int(k) == len(key) && string(b[n:n+len(key)]) == key
}

// view decodes the record.
func (r record) view() view {
	b := r.bytes()
	var v view
	var i int
	v.key, i = keyAt(b)
	ct, n := binary.Uvarint(b[i:])
	i += n
	v.ct = uint32(ct)
	v.ver.Term, n = binary.Uvarint(b[i:])
	i += n
	v.ver.Seq, n = binary.Uvarint(b[i:])
	i += n
	if i < len(b) {
		v.value = b[i:len(b):len(b)]
	}
	return v
}
