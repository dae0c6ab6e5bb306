// Package kv holds the data types of jumpkv's protocol: a key's version,
// its entry, and the identity of an entry used by anti-entropy.
//
// These types are on the wire (inside the messages of package wire, which
// travel between nodes as msgpack) and on disk (the durable log and the
// snapshots that are coming will store them as they are encoded here).
// Their encoded form is therefore a contract between processes of
// different builds and with data written by earlier ones, and it evolves
// under these rules:
//
//   - A field's msgpack tag names it on the wire and on disk. A tag, once
//     given, never changes and is never reused for another meaning, even
//     after its field is removed.
//   - A new field gets a new tag and must be optional: its zero value means
//     "what a build without the field did", because data written before it
//     existed decodes with the field at zero. Mark it omitempty, so that
//     a zero field costs nothing and older readers do not see it.
//   - A field is never narrowed (a uint64 stays a uint64) nor changes type.
//   - Decoders skip fields they do not know, so a reader may be older than
//     the writer of a message, but a message that needs a new field to be
//     understood needs a new message type (package wire) or a version bump
//     of the log format, not just the field.
//
// Package wire encodes some messages with a hand-written codec that lists
// their fields one by one: a field added here must be added there too.
// wire's tests fill every field of every such message and fail if one
// does not survive an encode and decode.
//
// kv imports nothing of jumpkv, so every package may depend on it.
package kv

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version orders the writes of a key: the leader's term, then its sequence
// number within that term. A newer leader always issues higher versions.
type Version struct {
	Term uint64 `msgpack:"t"`
	Seq  uint64 `msgpack:"s"`
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Term < o.Term:
		return -1
	case v.Term > o.Term:
		return 1
	case v.Seq < o.Seq:
		return -1
	case v.Seq > o.Seq:
		return 1
	}
	return 0
}

// IsZero reports whether v is the zero version, older than every write.
func (v Version) IsZero() bool { return v.Term == 0 && v.Seq == 0 }

// String formats v as "<term>.<seq>", the form clients see in ETags.
func (v Version) String() string {
	var b [41]byte // two uint64s and a dot
	return string(v.Append(b[:0]))
}

// Append appends v as String formats it to b.
func (v Version) Append(b []byte) []byte {
	b = strconv.AppendUint(b, v.Term, 10)
	b = append(b, '.')
	return strconv.AppendUint(b, v.Seq, 10)
}

// ErrBadVersion is returned by ParseVersion for text that is not a version.
var ErrBadVersion = errors.New("malformed version")

// ParseVersion parses the form String produces.
func ParseVersion(s string) (Version, error) {
	t, q, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	term, err1 := strconv.ParseUint(t, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	if err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	return Version{Term: term, Seq: seq}, nil
}

// Entry is one key's state on a node: a value, or a tombstone when Deleted.
type Entry struct {
	Key         string  `msgpack:"k"`
	Value       []byte  `msgpack:"v,omitempty"`
	ContentType string  `msgpack:"c,omitempty"`
	Version     Version `msgpack:"n"`
	Deleted     bool    `msgpack:"d,omitempty"`
}

// KeyVersion is one entry's identity, without its value, for anti-entropy
// diffs.
type KeyVersion struct {
	Key     string  `msgpack:"k"`
	Version Version `msgpack:"v"`
	Deleted bool    `msgpack:"d"`
}
