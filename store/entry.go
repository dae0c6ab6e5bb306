package store

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
