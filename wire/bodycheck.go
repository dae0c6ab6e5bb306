package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxBodyDepth bounds how deeply containers nest in a frame body. jumpkv's
// deepest message (Install: state, table, bucket lists) nests five deep.
const maxBodyDepth = 32

var errBodyTruncated = errors.New("msgpack body truncated")

// checkBody verifies that body starts with one well-formed msgpack value in
// which no string, binary or extension claims more bytes than remain, no
// array or map claims more elements than there are bytes left (every
// element takes at least one), and containers nest at most maxBodyDepth
// deep. Trailing bytes are allowed, as msgpack.Unmarshal allows them.
//
// Decode runs it before msgpack sees a body, because bodies come from the
// network and msgpack v5.4.1 cannot be trusted with them: it preallocates a
// slice for the element count an array header claims (the allocation limit
// in decodeSliceValue is disabled by an inverted flag test), so a 5-byte
// array32 header can make it allocate gigabytes; and its Skip of unknown
// fields recurses once per nesting level, so a 16 MB body of nested arrays
// overflows the goroutine stack. Both are fatal runtime errors, which
// recover cannot catch: one malformed frame would kill the node. With every
// claim checked against the bytes actually present, decoding allocates at
// most a small multiple of len(body) and recurses at most maxBodyDepth
// deep. The check itself is linear, iterative and allocation-free.
func checkBody(body []byte) error {
	var stack [maxBodyDepth]uint64 // values left in each enclosing container
	depth := 0
	left := uint64(1)    // values left in the innermost open container
	pending := uint64(1) // values left in all open containers together
	pos := 0
	rest := func() uint64 { return uint64(len(body) - pos) }
	length := func(width int) (uint64, error) {
		if len(body)-pos < width {
			return 0, errBodyTruncated
		}
		b := body[pos : pos+width]
		pos += width
		switch width {
		case 1:
			return uint64(b[0]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(b)), nil
		default:
			return uint64(binary.BigEndian.Uint32(b)), nil
		}
	}
	for pending > 0 {
		for left == 0 {
			depth--
			left = stack[depth]
		}
		left--
		pending--
		if pos >= len(body) {
			return errBodyTruncated
		}
		start := pos
		c := body[pos]
		pos++
		var (
			skip  uint64 // payload bytes after the header
			items uint64 // values inside a container
			err   error
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			items = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (plus the type byte)
				skip = 1 + 1<<(c-0xd4)
			case 0xc4, 0xd9: // bin8, str8
				skip, err = length(1)
			case 0xc5, 0xda: // bin16, str16
				skip, err = length(2)
			case 0xc6, 0xdb: // bin32, str32
				skip, err = length(4)
			case 0xc7, 0xc8, 0xc9: // ext8, ext16, ext32 (plus the type byte)
				skip, err = length(1 << (c - 0xc7))
				skip++
			case 0xdc: // array16
				items, err = length(2)
			case 0xdd: // array32
				items, err = length(4)
			case 0xde: // map16
				items, err = length(2)
				items *= 2
			case 0xdf: // map32
				items, err = length(4)
				items *= 2
			default: // 0xc1 is never used
				return fmt.Errorf("invalid msgpack code %#x at offset %d", c, start)
			}
		}
		if err != nil {
			return err
		}
		if skip > rest() {
			return fmt.Errorf("msgpack value at offset %d claims %d bytes, %d left", start, skip, rest())
		}
		pos += int(skip)
		if items == 0 {
			continue
		}
		if depth == maxBodyDepth {
			return fmt.Errorf("msgpack containers nest deeper than %d", maxBodyDepth)
		}
		stack[depth] = left
		depth++
		left = items
		pending += items
		if pending > rest() {
			return fmt.Errorf("msgpack container at offset %d claims %d elements, %d bytes left", start, items, rest())
		}
	}
	return nil
}
