package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// ProtocolVersion is the first byte of every frame header. A frame with
// another version is refused.
const ProtocolVersion = 1

// Flags qualify a frame.
type Flags uint8

// FlagResponse marks a frame that answers the request with the same ID.
const FlagResponse Flags = 1

// HeaderLen is the size of the fixed frame header that follows the length.
const HeaderLen = 1 + 1 + 1 + 8 + 8 + 8

// DefaultMaxFrame is the default limit on a frame's length (header and body).
const DefaultMaxFrame = 16 << 20

// Header is the fixed part of every frame. Every frame carries its sender's
// ID and current term, so every message between nodes carries the term.
type Header struct {
	Type  Type
	Flags Flags
	ID    uint64 // pairs a response with its request
	From  uint64 // the sender's node ID
	Term  uint64 // the sender's current term
}

// A frame on the wire is
//
//	uint32 length (big endian) | version | type | flags | id | from | term | msgpack body
//
// where length counts everything after itself: HeaderLen plus the body.

// AppendFrame appends the frame for h and body to dst.
func AppendFrame(dst []byte, h Header, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(HeaderLen+len(body)))
	dst = append(dst, ProtocolVersion, byte(h.Type), byte(h.Flags))
	dst = binary.BigEndian.AppendUint64(dst, h.ID)
	dst = binary.BigEndian.AppendUint64(dst, h.From)
	dst = binary.BigEndian.AppendUint64(dst, h.Term)
	return append(dst, body...)
}

// smallFrame is the frame length up to which ReadFrame allocates the whole
// body at once. A longer body is read by readGrowing.
const smallFrame = 64 << 10

// ReadFrame reads one frame from r. It checks the length against maxFrame
// before allocating, then the protocol version and the message type; any
// failure wraps ErrBadFrame. A stream that ends before the first byte of a
// frame returns io.EOF; one that ends anywhere inside a frame (even inside
// its length) is a truncated frame, ErrBadFrame. Other read errors are
// returned as they are. The body is a fresh slice the caller owns.
//
// What ReadFrame allocates is bounded by what arrives, not by what the
// length claims: at most smallFrame plus four times the bytes read. A body
// longer than smallFrame is read into a buffer that doubles only as data
// comes in, so a peer that claims a 16 MB frame and stalls pins 64 KB, not
// 16 MB.
func ReadFrame(r io.Reader, maxFrame int) (Header, []byte, error) {
	return ReadFrameIn(r, maxFrame, nil)
}

// ReadFrameIn is ReadFrame charging the body of a large frame to budget
// while it arrives (nil: no budget): the bytes of partly read frames held
// by every connection that shares budget stay within its limit. A frame
// that would go over it fails with ErrBadFrame (the connection is then
// closed), so that many peers each sending part of a large frame cannot
// together exhaust memory. The charge is returned once the frame is read,
// or has failed.
func ReadFrameIn(r io.Reader, maxFrame int, budget *Budget) (Header, []byte, error) {
	var pre [4 + HeaderLen]byte
	if _, err := io.ReadFull(r, pre[:4]); err != nil {
		if err == io.EOF { // no byte of a frame: a clean end
			return Header{}, nil, io.EOF
		}
		return Header{}, nil, truncated(err)
	}
	n := binary.BigEndian.Uint32(pre[:4])
	if n < HeaderLen {
		return Header{}, nil, fmt.Errorf("%w: length %d shorter than the header", ErrBadFrame, n)
	}
	if uint64(n) > uint64(maxFrame) {
		return Header{}, nil, fmt.Errorf("%w: length %d over the limit %d", ErrBadFrame, n, maxFrame)
	}
	if _, err := io.ReadFull(r, pre[4:]); err != nil {
		return Header{}, nil, truncated(err)
	}
	h, err := parseHeader(pre[4:])
	if err != nil {
		return Header{}, nil, err
	}
	var body []byte
	if n <= smallFrame {
		body = make([]byte, int(n)-HeaderLen)
		_, err = io.ReadFull(r, body)
	} else {
		var held int
		body, held, err = readGrowing(r, int(n)-HeaderLen, budget)
		budget.release(held)
	}
	if err != nil {
		return Header{}, nil, truncated(err)
	}
	return h, body, nil
}

// readGrowing reads exactly n bytes from r. Its buffer starts at smallFrame
// bytes and doubles (up to n) only once the bytes so far have arrived, so
// what it allocates stays within a small multiple of what was read.
// Each growth is charged to budget first; it returns the bytes charged.
func readGrowing(r io.Reader, n int, budget *Budget) (_ []byte, charged int, _ error) {
	size := min(n, smallFrame)
	if !budget.take(size) {
		return nil, 0, fmt.Errorf("%w: %d bytes of partly read frames already held by this node", ErrBadFrame, budget.Limit())
	}
	charged = size
	buf := make([]byte, 0, size)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			more := min(cap(buf), n-len(buf))
			if !budget.take(more) {
				return nil, charged, fmt.Errorf("%w: %d bytes of partly read frames already held by this node", ErrBadFrame, budget.Limit())
			}
			charged += more
			grown := make([]byte, len(buf), len(buf)+more)
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, charged, err
		}
	}
	return buf, charged, nil
}

// Budget bounds the bytes that partly read large frames hold, across the
// connections that share it. Safe for concurrent use; a nil *Budget is no
// bound.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit returns the budget's limit (0 for a nil budget).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Used returns the bytes charged now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

func (b *Budget) take(n int) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *Budget) release(n int) {
	if b != nil && n > 0 {
		b.used.Add(-int64(n))
	}
}

func parseHeader(b []byte) (Header, error) {
	if b[0] != ProtocolVersion {
		return Header{}, fmt.Errorf("%w: protocol version %d, want %d", ErrBadFrame, b[0], ProtocolVersion)
	}
	h := Header{
		Type:  Type(b[1]),
		Flags: Flags(b[2]),
		ID:    binary.BigEndian.Uint64(b[3:]),
		From:  binary.BigEndian.Uint64(b[11:]),
		Term:  binary.BigEndian.Uint64(b[19:]),
	}
	if !Known(h.Type) {
		return Header{}, fmt.Errorf("%w: unknown message type %d", ErrBadFrame, h.Type)
	}
	if h.Flags&^FlagResponse != 0 {
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrBadFrame, h.Flags)
	}
	return h, nil
}

// truncated turns an EOF inside a frame into ErrBadFrame.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated frame", ErrBadFrame)
	}
	return err
}
