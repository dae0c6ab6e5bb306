package wire

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/jumpkv/jumpkv/kv"
)

// Hand-written msgpack for the messages on the write and read paths
// (Forward, WriteResult, Replicate, ReplicateAck, Read, ReadResp) and
// the change stream (Events): the
// reflection codec costs several times as much per message. The bytes are
// the ones the reflection codec writes and reads (a map keyed by the field
// tags, omitempty fields left out), so either side may use either codec;
// a body the fast decoder does not expect (another encoder's choices, a
// field it does not know) falls back to the reflection decoder.

// fastMessage is a message with a hand-written codec.
type fastMessage interface {
	appendMsgpack(b []byte) []byte
	// decodeMsgpack parses b; false means "use the reflection decoder".
	decodeMsgpack(b []byte) bool
}

var errFast = errors.New("not the fast form")

// --- appending -------------------------------------------------------

func appendMapHeader(b []byte, n int) []byte { return append(b, 0x80|byte(n)) } // n < 16

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendKey(b []byte, k byte) []byte { return append(b, 0xa1, k) } // one-letter fixstr

// appendUint64 writes a uint64 as the reflection codec does: always 8 bytes.
func appendUint64(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// appendUint writes the shortest form (the reflection codec's for ints).
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendInt(b []byte, v int) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBytes(b []byte, v []byte) []byte {
	n := len(v)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, v...)
}

func appendVersion(b []byte, v kv.Version) []byte {
	b = appendMapHeader(b, 2)
	b = appendUint64(appendKey(b, 't'), v.Term)
	return appendUint64(appendKey(b, 's'), v.Seq)
}

func appendEntry(b []byte, e kv.Entry) []byte {
	n := 2
	if len(e.Value) > 0 {
		n++
	}
	if e.ContentType != "" {
		n++
	}
	if e.Deleted {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendString(appendKey(b, 'k'), e.Key)
	if len(e.Value) > 0 {
		b = appendBytes(appendKey(b, 'v'), e.Value)
	}
	if e.ContentType != "" {
		b = appendString(appendKey(b, 'c'), e.ContentType)
	}
	b = appendVersion(appendKey(b, 'n'), e.Version)
	if e.Deleted {
		b = appendBool(appendKey(b, 'd'), true)
	}
	return b
}

// --- reading ---------------------------------------------------------
//
// Each decoder spells out its own loop over the map's keys: a shared
// generic walker taking a per-field callback moves every decoded struct to
// the heap (6 allocations per Replicate instead of 2).

// reader parses msgpack from a byte slice; any surprise sets err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err = errFast }

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) be(n int) uint64 {
	p := r.take(n)
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v
}

// mapLen reads a map header (nil counts as an empty map).
func (r *reader) mapLen() int {
	switch c := r.byte1(); {
	case c&0xf0 == 0x80:
		return int(c & 0x0f)
	case c == 0xde:
		return int(r.be(2))
	case c == 0xc0:
		return 0
	}
	r.fail()
	return 0
}

// arrayLen reads an array header; isNil reports a nil in its place.
func (r *reader) arrayLen() (n int, isNil bool) {
	switch c := r.byte1(); {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), false
	case c == 0xdc:
		return int(r.be(2)), false
	case c == 0xdd:
		return int(r.be(4)), false
	case c == 0xc0:
		return 0, true
	}
	r.fail()
	return 0, false
}

// key reads a one-letter map key.
func (r *reader) key() byte {
	if r.byte1() != 0xa1 {
		r.fail()
	}
	return r.byte1()
}

// field reads the next one-letter key of a map, failing on a key outside
// a-z or one seen before in this map (seen records them): the reflection
// decoder merges a repeated field into the earlier one, which the fast
// decoders do not copy, so such bodies go to it.
func (r *reader) field(seen *uint32) byte {
	k := r.key()
	if k < 'a' || k > 'z' {
		r.fail()
		return 0
	}
	bit := uint32(1) << (k - 'a')
	if *seen&bit != 0 {
		r.fail()
		return 0
	}
	*seen |= bit
	return k
}

func (r *reader) uint() uint64 {
	switch c := r.byte1(); {
	case c < 0x80:
		return uint64(c)
	case c == 0xcc:
		return r.be(1)
	case c == 0xcd:
		return r.be(2)
	case c == 0xce:
		return r.be(4)
	case c == 0xcf:
		return r.be(8)
	}
	r.fail()
	return 0
}

// int reads a signed or unsigned integer that fits in an int64.
func (r *reader) int() int {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	switch c := r.b[0]; {
	case c >= 0xe0: // negative fixint
		r.b = r.b[1:]
		return int(int8(c))
	case c == 0xd0:
		r.b = r.b[1:]
		return int(int8(r.be(1)))
	case c == 0xd1:
		r.b = r.b[1:]
		return int(int16(r.be(2)))
	case c == 0xd2:
		r.b = r.b[1:]
		return int(int32(r.be(4)))
	case c == 0xd3:
		r.b = r.b[1:]
		return int(int64(r.be(8)))
	}
	v := r.uint()
	if v > math.MaxInt64 {
		r.fail()
	}
	return int(v)
}

func (r *reader) bool() bool {
	switch r.byte1() {
	case 0xc3:
		return true
	case 0xc2:
		return false
	}
	r.fail()
	return false
}

func (r *reader) strLen() int { return r.strLenAfter(r.byte1()) }

// strLenAfter reads the rest of a str header that began with c.
func (r *reader) strLenAfter(c byte) int {
	switch {
	case c&0xe0 == 0xa0:
		return int(c & 0x1f)
	case c == 0xd9:
		return int(r.be(1))
	case c == 0xda:
		return int(r.be(2))
	case c == 0xdb:
		return int(r.be(4))
	case c == 0xc0:
		return 0
	}
	r.fail()
	return 0
}

func (r *reader) string() string { return string(r.take(r.strLen())) }

// bytes copies a bin (or str) value: the frame buffer is not kept.
func (r *reader) bytes() []byte {
	var n int
	switch c := r.byte1(); {
	case c == 0xc4:
		n = int(r.be(1))
	case c == 0xc5:
		n = int(r.be(2))
	case c == 0xc6:
		n = int(r.be(4))
	case c == 0xc0:
		return nil
	default: // a str holding bytes
		n = r.strLenAfter(c)
	}
	p := r.take(n)
	switch {
	case r.err != nil:
		return nil
	case n == 0:
		return []byte{} // as the reflection decoder: empty, not nil
	}
	return append(make([]byte, 0, n), p...)
}

func (r *reader) version() kv.Version {
	var v kv.Version
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 't':
			v.Term = r.uint()
		case 's':
			v.Seq = r.uint()
		default:
			r.fail()
		}
	}
	return v
}

func (r *reader) entry() kv.Entry {
	var e kv.Entry
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'k':
			e.Key = r.string()
		case 'v':
			e.Value = r.bytes()
		case 'c':
			e.ContentType = r.string()
		case 'n':
			e.Version = r.version()
		case 'd':
			e.Deleted = r.bool()
		default:
			r.fail()
		}
	}
	return e
}

// done reports whether the whole body parsed.
func (r *reader) done() bool { return r.err == nil && len(r.b) == 0 }
