package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A record on disk is a frame: a 12-byte header, then the payload.
//
//	0  len   uint32 LE  payload length, at most MaxRecord
//	4  crc   uint32 LE  CRC-32C (Castagnoli) of the payload
//	8  hcrc  uint32 LE  CRC-32C of bytes 0..8 (len and crc)
//	12 payload
//
// The header checksum makes the length trustworthy before any byte of the
// payload is read or any buffer sized from it.
const frameHeader = 12

// fileHeader is the size of a segment's or a snapshot's header: an 8-byte
// magic, the file's sequence number (uint64 LE), CRC-32C of the 16 bytes.
const fileHeader = 20

// trailerMark in a snapshot's length field starts the trailer: mark, record
// count (uint64 LE), CRC-32C of those 12 bytes. No record can be that long.
const (
	trailerMark = 0xFFFFFFFF
	trailerSize = 16
)

var (
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
	le           = binary.LittleEndian
	segmentMagic = [8]byte{'J', 'K', 'V', 'L', 'O', 'G', '0', '1'}
	snapMagic    = [8]byte{'J', 'K', 'V', 'S', 'N', 'P', '0', '1'}
)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// appendFrame appends rec, framed, to dst.
func appendFrame(dst, rec []byte) []byte {
	var h [frameHeader]byte
	le.PutUint32(h[0:], uint32(len(rec)))
	le.PutUint32(h[4:], checksum(rec))
	le.PutUint32(h[8:], checksum(h[:8]))
	dst = append(dst, h[:]...)
	return append(dst, rec...)
}

// appendFileHeader appends a segment or snapshot header.
func appendFileHeader(dst []byte, magic [8]byte, seq uint64) []byte {
	var h [fileHeader]byte
	copy(h[:8], magic[:])
	le.PutUint64(h[8:], seq)
	le.PutUint32(h[16:], checksum(h[:16]))
	return append(dst, h[:]...)
}

// checkFileHeader verifies a header read from a file named for seq.
func checkFileHeader(h []byte, magic [8]byte, seq uint64) string {
	switch {
	case len(h) < fileHeader:
		return fmt.Sprintf("short file header: %d of %d bytes", len(h), fileHeader)
	case [8]byte(h[:8]) != magic:
		return fmt.Sprintf("bad magic %q, want %q", h[:8], magic[:])
	case le.Uint32(h[16:]) != checksum(h[:16]):
		return "file header checksum mismatch"
	case le.Uint64(h[8:]) != seq:
		return fmt.Sprintf("header says sequence %d, file name says %d", le.Uint64(h[8:]), seq)
	}
	return ""
}

// appendTrailer appends a snapshot's trailer for count records.
func appendTrailer(dst []byte, count uint64) []byte {
	var t [trailerSize]byte
	le.PutUint32(t[0:], trailerMark)
	le.PutUint64(t[4:], count)
	le.PutUint32(t[12:], checksum(t[:12]))
	return append(dst, t[:]...)
}

// damage describes a frame that could not be read whole and intact.
type damage struct {
	off    int64  // where the frame starts
	reason string // what is wrong, for the operator
	// end is where the frame ends when its header is intact (its length is
	// then known); -1 when the header itself is short or damaged.
	end int64
	// fatal marks an intact header that claims more than MaxRecord: a real
	// record this configuration cannot read, never a torn one.
	fatal bool
}

func (d *damage) Error() string { return d.reason }

// errTrailer is returned by scanner.next at an intact snapshot trailer.
var errTrailer = errors.New("trailer")

// scanner reads frames from the byte range [off, size) of r through a
// window it reuses, so replay does not allocate per record. It allocates
// more only for a record larger than the window, and only after the
// record's header checksum, MaxRecord and the file size agree on its length.
type scanner struct {
	r    io.ReaderAt
	size int64
	max  int
	off  int64 // start of the next frame

	buf    []byte
	bufOff int64 // file offset of buf[0]
	bufLen int   // valid bytes in buf

	trailer bool   // a snapshot: recognise the trailer
	count   uint64 // the trailer's record count, after errTrailer
}

const scanWindow = 1 << 20

// newScanner reads [off, size) of r. It reuses buf (pass the previous
// scanner's s.buf) if it is as large as the window this file needs.
func newScanner(r io.ReaderAt, off, size int64, max int, buf []byte) *scanner {
	if want := int(min(scanWindow, size-off)); len(buf) < want {
		buf = make([]byte, want)
	}
	return &scanner{r: r, off: off, size: size, max: max, buf: buf}
}

// window returns the n bytes at off, reading them if the window lacks
// them. The caller has checked that off+n <= size and n <= frameHeader+max.
func (s *scanner) window(off int64, n int) ([]byte, error) {
	if off >= s.bufOff && off+int64(n) <= s.bufOff+int64(s.bufLen) {
		i := int(off - s.bufOff)
		return s.buf[i : i+n], nil
	}
	if n > len(s.buf) {
		s.buf = make([]byte, n)
	}
	want := int64(len(s.buf))
	if rest := s.size - off; rest < want {
		want = rest
	}
	got, err := s.r.ReadAt(s.buf[:want], off)
	if int64(got) < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.bufLen = 0
		return nil, err
	}
	s.bufOff, s.bufLen = off, got
	return s.buf[:n], nil
}

// next returns the payload of the next intact frame, valid until the next
// call; io.EOF at a clean end; errTrailer at a snapshot's intact trailer; a
// *damage for a frame that is short, fails a checksum or is too long; or
// an I/O error.
func (s *scanner) next() ([]byte, error) {
	rest := s.size - s.off
	if rest == 0 {
		return nil, io.EOF
	}
	if s.trailer && rest >= 4 {
		h, err := s.window(s.off, 4)
		if err != nil {
			return nil, err
		}
		if le.Uint32(h) == trailerMark {
			return nil, s.readTrailer(rest)
		}
	}
	if rest < frameHeader {
		return nil, &damage{off: s.off, end: -1, reason: fmt.Sprintf("short record header: %d of %d bytes", rest, frameHeader)}
	}
	h, err := s.window(s.off, frameHeader)
	if err != nil {
		return nil, err
	}
	if le.Uint32(h[8:]) != checksum(h[:8]) {
		return nil, &damage{off: s.off, end: -1, reason: "record header checksum mismatch"}
	}
	n := le.Uint32(h[0:])
	want := le.Uint32(h[4:])
	end := s.off + frameHeader + int64(n)
	if uint64(n) > uint64(s.max) {
		return nil, &damage{off: s.off, end: end, fatal: true,
			reason: fmt.Sprintf("record of %d bytes exceeds the maximum record size %d", n, s.max)}
	}
	if end > s.size {
		return nil, &damage{off: s.off, end: end, reason: fmt.Sprintf("short record: %d of %d payload bytes", s.size-s.off-frameHeader, n)}
	}
	body, err := s.window(s.off+frameHeader, int(n))
	if err != nil {
		return nil, err
	}
	if checksum(body) != want {
		return nil, &damage{off: s.off, end: end, reason: "record checksum mismatch"}
	}
	s.off = end
	return body, nil
}

func (s *scanner) readTrailer(rest int64) error {
	if rest < trailerSize {
		return &damage{off: s.off, end: -1, reason: fmt.Sprintf("short trailer: %d of %d bytes", rest, trailerSize)}
	}
	t, err := s.window(s.off, trailerSize)
	if err != nil {
		return err
	}
	if le.Uint32(t[12:]) != checksum(t[:12]) {
		return &damage{off: s.off, end: -1, reason: "trailer checksum mismatch"}
	}
	s.count = le.Uint64(t[4:])
	s.off += trailerSize
	return errTrailer
}

// intactAfter looks for an intact frame (header checksum, length within
// max and within the file, payload checksum) starting anywhere in
// [from, size) of r, and returns the first one's offset. It reads the range
// once in windows; a payload is read only behind a matching header checksum.
func intactAfter(r io.ReaderAt, from, size int64, max int) (int64, bool, error) {
	const chunk = 1 << 16
	buf := make([]byte, chunk+frameHeader)
	var body []byte
	for base := from; base+frameHeader <= size; base += chunk {
		n := int64(len(buf))
		if size-base < n {
			n = size - base
		}
		got, err := r.ReadAt(buf[:n], base)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, false, err
		}
		for i := 0; i+frameHeader <= int(n) && i < chunk; i++ {
			h := buf[i : i+frameHeader]
			p := base + int64(i)
			ln := le.Uint32(h[0:])
			// Cheap tests first: a length that cannot be, then twelve
			// zeros (never a header), then the header checksum.
			if uint64(ln) > uint64(max) || p+frameHeader+int64(ln) > size ||
				le.Uint64(h[0:]) == 0 && le.Uint32(h[8:]) == 0 ||
				le.Uint32(h[8:]) != checksum(h[:8]) {
				continue
			}
			if cap(body) < int(ln) {
				body = make([]byte, ln)
			}
			body = body[:ln]
			if got, err := r.ReadAt(body, p+frameHeader); got < len(body) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, false, err
			}
			if checksum(body) == le.Uint32(h[4:]) {
				return p, true, nil
			}
		}
	}
	return 0, false, nil
}
