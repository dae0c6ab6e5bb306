package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Sessions issues and checks the tokens a browser keeps in a cookie after
// logging in with a form: name, expiry and an HMAC-SHA256 under a random
// key made per process (so a restart logs everyone out). The MAC covers
// the user's password hash, so changing a password or removing the user
// (Reload) ends that user's sessions; a changed role or prefix applies at
// once, as the user is looked up on every check. Safe for concurrent use.
type Sessions struct {
	users *Users
	key   [32]byte
	ttl   time.Duration
}

// NewSessions returns a session issuer for users whose tokens last ttl.
func NewSessions(users *Users, ttl time.Duration) *Sessions {
	s := &Sessions{users: users, ttl: ttl}
	_, _ = rand.Read(s.key[:]) // never fails (crypto/rand)
	return s
}

// TTL returns how long a token lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

var sessionDummyHash = []byte("$2y$10$................................................")

func (s *Sessions) mac(name string, expires int64, hash []byte) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte("jumpkv session\x00"))
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(strconv.AppendInt(nil, expires, 10))
	m.Write([]byte{0})
	m.Write(hash)
	return m.Sum(nil)
}

// Issue returns a token for u (base64url and digits: cookie-safe) and
// when it expires.
func (s *Sessions) Issue(u *User) (token string, expires time.Time) {
	expires = time.Now().Add(s.ttl).Truncate(time.Second)
	exp := expires.Unix()
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(u.Name)) + "." + strconv.FormatInt(exp, 10) + "." +
		enc.EncodeToString(s.mac(u.Name, exp, u.hash)), expires
}

// Verify returns the user of a token Issue made, or ErrBadCredentials when
// it is malformed, forged, expired, or its user is gone or has a new
// password.
func (s *Sessions) Verify(token string) (*User, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 4096 {
		return nil, ErrBadCredentials
	}
	enc := base64.RawURLEncoding
	name, err1 := enc.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	sum, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, ErrBadCredentials
	}
	u := s.users.lookup(string(name))
	hash := sessionDummyHash
	if u != nil {
		hash = u.hash
	}
	ok := hmac.Equal(sum, s.mac(string(name), exp, hash))
	if !ok || u == nil || time.Now().Unix() >= exp {
		return nil, ErrBadCredentials
	}
	return u, nil
}
