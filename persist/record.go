package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/jumpkv/jumpkv/store"
)

// The records of a node's log. Each is one wal record: a kind byte, then
// uvarints and length-prefixed bytes. The format is append-only: a new
// field goes behind a new flag bit or a new kind, never in place of an old
// one, so that every older log still reads.
const (
	kindEntry  byte = 1 // an entry applied to a bucket
	kindHeld   byte = 2 // a bucket's copy became complete (a fill ended)
	kindState  byte = 3 // the cluster state the node installed (opaque)
	kindPurge  byte = 4 // a tombstone removed at one version
	kindForget byte = 5 // a key removed at one version, tombstone or not
)

// Entry flag bits.
const (
	flagDeleted byte = 1 << 0
	flagExpires byte = 1 << 1 // a varint expiry (Unix ms) follows the value
)

// errBadRecord is a record that passed the log's checksum but does not
// parse: written by another version, or a bug. Recovery stops on it.
var errBadRecord = errors.New("persist: malformed record")

func appendEntry(dst []byte, b int, e *store.Entry) []byte {
	dst = append(dst, kindEntry)
	dst = binary.AppendUvarint(dst, uint64(b))
	var flags byte
	if e.Deleted {
		flags |= flagDeleted
	}
	if e.Expires > 0 && !e.Deleted {
		flags |= flagExpires
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, e.Version.Term)
	dst = binary.AppendUvarint(dst, e.Version.Seq)
	dst = appendBytes(dst, e.Key)
	if !e.Deleted {
		dst = appendBytes(dst, e.ContentType)
		dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
		dst = append(dst, e.Value...)
		if flags&flagExpires != 0 {
			dst = binary.AppendUvarint(dst, uint64(e.Expires))
		}
	}
	return dst
}

func appendBucket(dst []byte, kind byte, b int) []byte {
	return binary.AppendUvarint(append(dst, kind), uint64(b))
}

func appendKeyVersion(dst []byte, kind byte, b int, key string, v store.Version) []byte {
	dst = appendBucket(dst, kind, b)
	dst = binary.AppendUvarint(dst, v.Term)
	dst = binary.AppendUvarint(dst, v.Seq)
	return appendBytes(dst, key)
}

func appendBytes[T string | []byte](dst []byte, s T) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// reader parses one record, failing once on any overrun.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errBadRecord
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errBadRecord
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) bucket(buckets int) int {
	b := r.uvarint()
	if r.err == nil && b >= uint64(buckets) {
		r.err = fmt.Errorf("%w: bucket %d of %d", errBadRecord, b, buckets)
	}
	return int(b)
}

// decoded is one parsed record. Its key, content type and value alias the
// record's bytes (no copy per record on the replay of a million): valid
// while the record is, which is enough for store.Store's methods, which
// copy what they keep.
type decoded struct {
	kind   byte
	bucket int
	entry  store.Entry // kindEntry; Version and Key also for purge/forget
	state  []byte      // kindState
}

// decode parses rec for a store of buckets buckets.
func decode(rec []byte, buckets int) (decoded, error) {
	r := reader{b: rec}
	d := decoded{kind: r.byte()}
	switch d.kind {
	case kindEntry:
		d.bucket = r.bucket(buckets)
		flags := r.byte()
		d.entry.Version = store.Version{Term: r.uvarint(), Seq: r.uvarint()}
		d.entry.Key = alias(r.bytes())
		d.entry.Deleted = flags&flagDeleted != 0
		if !d.entry.Deleted {
			d.entry.ContentType = alias(r.bytes())
			d.entry.Value = r.bytes()
			if flags&flagExpires != 0 {
				d.entry.Expires = int64(r.uvarint() & (1<<63 - 1))
			}
		}
	case kindHeld:
		d.bucket = r.bucket(buckets)
	case kindPurge, kindForget:
		d.bucket = r.bucket(buckets)
		d.entry.Version = store.Version{Term: r.uvarint(), Seq: r.uvarint()}
		d.entry.Key = alias(r.bytes())
	case kindState:
		d.state = r.b
		r.b = nil
	default:
		return d, fmt.Errorf("%w: kind %d", errBadRecord, d.kind)
	}
	if r.err != nil {
		return d, r.err
	}
	if len(r.b) != 0 {
		return d, fmt.Errorf("%w: %d bytes left over", errBadRecord, len(r.b))
	}
	return d, nil
}

// alias returns b as a string without copying it: the string is valid
// while b is not written to.
func alias(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
