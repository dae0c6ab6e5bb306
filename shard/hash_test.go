package shard

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// refXXH64 is an independent XXH64 (seed 0), written from the xxHash
// specification, to check the hash BucketOf relies on.
func refXXH64(b []byte) uint64 {
	const (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 {
		acc += in * p2
		return bits.RotateLeft64(acc, 31) * p1
	}
	merge := func(acc, v uint64) uint64 {
		acc ^= round(0, v)
		return acc*p1 + p4
	}
	var seed uint64
	n := len(b)
	var h uint64
	if n >= 32 {
		v1, v2, v3, v4 := seed+p1+p2, seed+p2, seed, seed-p1
		for len(b) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(b))
			v2 = round(v2, binary.LittleEndian.Uint64(b[8:]))
			v3 = round(v3, binary.LittleEndian.Uint64(b[16:]))
			v4 = round(v4, binary.LittleEndian.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(merge(merge(merge(h, v1), v2), v3), v4)
	} else {
		h = seed + p5
	}
	h += uint64(n)
	for len(b) >= 8 {
		h ^= round(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*p1 + p4
		b = b[8:]
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}

// refJump is the jump consistent hash of Lamping and Veach, written from the
// paper.
func refJump(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

func TestXXHashGolden(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999}, // the published XXH64 empty-input value
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"hello", 0x26c7827d889f6da3},
	} {
		if got := refXXH64([]byte(c.in)); got != c.want {
			t.Errorf("refXXH64(%q) = %#x, want %#x", c.in, got, c.want)
		}
		if got := xxhash.Sum64String(c.in); got != c.want {
			t.Errorf("xxhash.Sum64String(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
	// Every length up to 100 exercises all of the tail and stripe paths.
	buf := make([]byte, 0, 100)
	for i := range 100 {
		if got, want := xxhash.Sum64(buf), refXXH64(buf); got != want {
			t.Fatalf("length %d: xxhash %#x, reference %#x", i, got, want)
		}
		buf = append(buf, byte(i*7+1))
	}
}

func TestBucketOfGolden(t *testing.T) {
	// Derived once from refXXH64 and refJump; they pin the placement of keys
	// across releases: changing them would move every key.
	for _, c := range []struct {
		key  string
		n    int
		want int
	}{
		{"", 1024, 332},
		{"a", 1024, 894},
		{"abc", 1024, 722},
		{"hello", 1024, 309},
		{"user:1", 1024, 182},
		{"user:2", 1024, 377},
		{"jumpkv", 1024, 105},
		{"the quick brown fox jumps over the lazy dog", 1024, 37},
		{"", 16384, 7101},
		{"hello", 16384, 13170},
		{"jumpkv", 16384, 16233},
	} {
		if got := BucketOf(c.key, c.n); got != c.want {
			t.Errorf("BucketOf(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
		if got := refJump(refXXH64([]byte(c.key)), c.n); got != c.want {
			t.Errorf("reference(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

func TestBucketOfMatchesReference(t *testing.T) {
	ns := []int{1, 2, 3, 7, 1024, 16384}
	var buf []byte
	for i := range 20000 {
		buf = strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10)
		key := string(buf)
		h := xxhash.Sum64String(key)
		for _, n := range ns {
			got, want := BucketOf(key, n), refJump(h, n)
			if got != want {
				t.Fatalf("BucketOf(%q, %d) = %d, reference %d", key, n, got, want)
			}
			if got < 0 || got >= n {
				t.Fatalf("BucketOf(%q, %d) = %d out of range", key, n, got)
			}
		}
	}
}

// TestBucketOfConsistent checks jump hashing's defining property: growing
// the bucket count from n to n+1 moves a key only into the new bucket.
func TestBucketOfConsistent(t *testing.T) {
	moved := 0
	const keys, n = 10000, 9
	for i := range keys {
		key := "k" + strconv.Itoa(i)
		a, b := BucketOf(key, n), BucketOf(key, n+1)
		if a != b {
			if b != n {
				t.Fatalf("key %q moved from %d to %d when growing to %d buckets", key, a, b, n+1)
			}
			moved++
		}
	}
	// About keys/(n+1) keys move; allow a wide margin.
	if moved < keys/(n+1)/2 || moved > 2*keys/(n+1) {
		t.Errorf("%d of %d keys moved to the new bucket, want about %d", moved, keys, keys/(n+1))
	}
}
