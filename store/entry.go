package store

import "github.com/jumpkv/jumpkv/kv"

// The protocol's data types live in package kv, which documents how they
// may evolve; these aliases keep their old names here.
type (
	// Version orders the writes of a key (kv.Version).
	Version = kv.Version
	// Entry is one key's state on a node (kv.Entry).
	Entry = kv.Entry
	// KeyVersion is one entry's identity, for anti-entropy (kv.KeyVersion).
	KeyVersion = kv.KeyVersion
)

// ErrBadVersion is returned by ParseVersion for text that is not a version.
var ErrBadVersion = kv.ErrBadVersion

// ParseVersion parses the form Version.String produces (kv.ParseVersion).
func ParseVersion(s string) (Version, error) { return kv.ParseVersion(s) }
