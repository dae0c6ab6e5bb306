package shard

import (
	"github.com/cespare/xxhash/v2"
	jump "github.com/lithammer/go-jump-consistent-hash"
)

// BucketOf returns the bucket of key among n buckets: the key's xxhash
// (a fixed 64-bit hash) jump-hashed into [0, n). It allocates nothing and is
// safe for concurrent use. n must be positive.
func BucketOf(key string, n int) int {
	return int(jump.Hash(xxhash.Sum64String(key), int32(n)))
}
