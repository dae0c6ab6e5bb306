package store

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// entryHash hashes the canonical encoding of one entry's identity: the key
// bytes, then term and seq as 8-byte big-endian, then 1 if deleted else 0.
// The fixed-length suffix makes the encoding unambiguous.
func entryHash(key string, v Version, deleted bool) uint64 {
	var tail [17]byte
	binary.BigEndian.PutUint64(tail[0:8], v.Term)
	binary.BigEndian.PutUint64(tail[8:16], v.Seq)
	if deleted {
		tail[16] = 1
	}
	var d xxhash.Digest
	d.Reset()
	d.WriteString(key)
	d.Write(tail[:])
	return d.Sum64()
}

// Digest returns an order-independent digest of bucket b's set of
// (key, version, deleted): the XOR of each entry's hash. Replicas holding
// the same entries have the same digest however they got there; an empty
// bucket's digest is 0. Values are not hashed: a version identifies them.
func (s *Store) Digest(b int) uint64 {
	bk := &s.buckets[b]
	bk.mu.RLock()
	defer bk.mu.RUnlock()
	return bk.digest
}
