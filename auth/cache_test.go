package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestSuccessesAreCachedForTheTTL checks that a success is remembered
// (keyed by a digest, not the password), a failure is not, and the entry
// lapses after the TTL.
func TestSuccessesAreCachedForTheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Parse(stringsReader("alice:"+hashOf(t, "pw", bcrypt.MinCost)+":read\n"), "f", Config{CacheTTL: time.Minute, CacheEntries: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate("alice", "nope"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
		if s.cached("alice", "nope") != nil || s.cache.size() != 0 {
			t.Fatal("a failure was cached")
		}
		if _, err := s.Authenticate("alice", "pw"); err != nil {
			t.Fatal(err)
		}
		if u := s.cached("alice", "pw"); u == nil || u.Name != "alice" {
			t.Fatal("a success was not cached")
		}
		if s.cached("alice", "pw2") != nil || s.cached("alic", "epw") != nil {
			t.Fatal("the cache answers for other credentials")
		}
		time.Sleep(59 * time.Second) // virtual time
		if s.cached("alice", "pw") == nil {
			t.Fatal("the entry lapsed before its TTL")
		}
		time.Sleep(2 * time.Second)
		if s.cached("alice", "pw") != nil {
			t.Fatal("the entry outlived its TTL")
		}
	})
}

// TestCacheIsBounded fills the cache past its bound.
func TestCacheIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newVerifyCache(time.Minute, 100)
		set := &userSet{}
		u := &User{Name: "u", Role: RoleRead}
		for i := range 1000 {
			c.put(set, c.digest("u", fmt.Sprint(i)), u)
			if n := c.size(); n > 100 {
				t.Fatalf("%d entries after %d puts, bound 100", n, i+1)
			}
		}
		if c.get(set, c.digest("u", "999")) == nil {
			t.Fatal("the newest entry was evicted")
		}
		if c.get(&userSet{}, c.digest("u", "999")) != nil {
			t.Fatal("an entry of another user set answered")
		}
	})
}

// TestNoCacheWithZeroTTL checks CacheTTL 0 disables it.
func TestNoCacheWithZeroTTL(t *testing.T) {
	s, err := Parse(stringsReader("alice:"+hashOf(t, "pw", bcrypt.MinCost)+":read\n"), "f", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if s.cached("alice", "pw") != nil {
		t.Fatal("cached with a zero TTL")
	}
}

// TestDigestIsKeyed checks two caches (two processes) digest the same
// credentials differently, and neither is a plain SHA-256.
func TestDigestIsKeyed(t *testing.T) {
	a, b := newVerifyCache(time.Minute, 1), newVerifyCache(time.Minute, 1)
	if a.digest("u", "p") == b.digest("u", "p") || a.digest("u", "p") == sha256.Sum256([]byte("u:p")) {
		t.Fatal("the cache digest is not keyed per process")
	}
}

// BenchmarkAuthenticate reports the cost of a check with and without the
// cache, at htpasswd's default cost (5) and at 10
// (`go test -run '^$' -bench Authenticate ./auth`).
func BenchmarkAuthenticate(b *testing.B) {
	for _, cost := range []int{5, 10} {
		for _, ttl := range []time.Duration{0, time.Minute} {
			b.Run(fmt.Sprintf("cost=%d/cache=%v", cost, ttl > 0), func(b *testing.B) {
				s, err := Parse(stringsReader("alice:"+hashOf(b, "pw", cost)+":read\n"), "f", Config{CacheTTL: ttl, CacheEntries: 10})
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := s.Authenticate("alice", "pw"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
