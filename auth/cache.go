package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// verifyCache remembers successful verifications for a while, so that
// clients sending their credentials with every request (HTTP Basic,
// redis-benchmark's AUTH on each connection) pay bcrypt (tens of
// milliseconds at usual costs) once per TTL rather than per request.
//
// It is keyed by HMAC-SHA256 of name:password under a random key made per
// process: the password is never stored, and the digests are useless
// without the key (a plain SHA-256 of a password is fast to brute-force
// offline). Only successes are cached, so the cache cannot be filled
// without valid credentials, and each entry belongs to the user set it was
// verified against: a Reload (a removed user, a changed password or role)
// makes every entry miss. Entries expire after the TTL; past its bound
// the cache drops expired entries, then arbitrary ones.
type verifyCache struct {
	key [32]byte
	ttl time.Duration
	max int

	mu      sync.Mutex // guards entries
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	user    *User
	set     *userSet
	expires time.Time
}

func newVerifyCache(ttl time.Duration, max int) *verifyCache {
	c := &verifyCache{ttl: ttl, max: max, entries: map[[sha256.Size]byte]cacheEntry{}}
	_, _ = rand.Read(c.key[:]) // never fails (crypto/rand)
	return c
}

// digest returns the cache key of a name and password (names hold no
// colon, so name:password is unambiguous).
func (c *verifyCache) digest(name, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(name))
	m.Write([]byte{':'})
	m.Write([]byte(password))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

// get returns the user verified under d against set, if still fresh.
func (c *verifyCache) get(set *userSet, d [sha256.Size]byte) *User {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[d]
	if !ok {
		return nil
	}
	if e.set != set || !time.Now().Before(e.expires) {
		delete(c.entries, d)
		return nil
	}
	return e.user
}

// put remembers a successful verification.
func (c *verifyCache) put(set *userSet, d [sha256.Size]byte, u *User) {
	if c.ttl <= 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[d]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) || e.set != set {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[d] = cacheEntry{user: u, set: set, expires: now.Add(c.ttl)}
}

// clear forgets every entry.
func (c *verifyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// size returns the number of entries (for tests).
func (c *verifyCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
