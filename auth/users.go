package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do: read, or read and write.
type Role uint8

// The roles of the users file.
const (
	RoleRead      Role = 1 // read keys, list, watch, view the cluster
	RoleReadWrite Role = 2 // all of RoleRead, and write and delete keys
)

// String returns the role's name in the users file.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole parses a role name of the users file.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "readwrite":
		return RoleReadWrite, nil
	}
	return 0, fmt.Errorf("role %q: want read or readwrite", s)
}

// User is one user of the users file. Users returned by this package are
// shared and must not be modified.
type User struct {
	Name string
	Role Role
	// Prefix, when not empty, limits the keys the user may touch to those
	// that start with it.
	Prefix string

	hash []byte // bcrypt
}

// Allows reports whether u may read (write false) or write (write true)
// key: its role must allow the operation and key must lie under its
// prefix. A nil user is allowed nothing.
func (u *User) Allows(key string, write bool) bool {
	if u == nil || (u.Role != RoleRead && u.Role != RoleReadWrite) {
		return false
	}
	if write && u.Role != RoleReadWrite {
		return false
	}
	return strings.HasPrefix(key, u.Prefix)
}

// Scope narrows a listing or watch of the keys under prefix to the keys u
// may read: the longer of prefix and u's own when one extends the other;
// ok is false when they share no key (prefix "b/" for a user of "a/").
func (u *User) Scope(prefix string) (scoped string, ok bool) {
	if u == nil || (u.Role != RoleRead && u.Role != RoleReadWrite) {
		return "", false
	}
	switch {
	case strings.HasPrefix(prefix, u.Prefix):
		return prefix, true
	case strings.HasPrefix(u.Prefix, prefix):
		return u.Prefix, true
	}
	return "", false
}

// Limits of the users file.
const (
	maxFileBytes = 16 << 20
	maxLineBytes = 64 << 10
	// maxCost is the highest bcrypt cost accepted (htpasswd's highest):
	// each step doubles the time a login takes, and 31 would take days.
	maxCost = 17
)

// ErrBadFile is what every error about the content of a users file
// matches.
var ErrBadFile = errors.New("bad users file")

// parse reads a users file. Errors name the line (as src:N), never a hash.
func parse(r io.Reader, src string) (map[string]*User, error) {
	users := map[string]*User{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		u, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrBadFile, src, line, err)
		}
		if users[u.Name] != nil {
			return nil, fmt.Errorf("%w: %s:%d: user %q appears twice", ErrBadFile, src, line, u.Name)
		}
		users[u.Name] = u
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s:%d: line longer than %d bytes", ErrBadFile, src, line+1, maxLineBytes)
		}
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	return users, nil
}

// parseLine parses name:hash:role[:prefix].
func parseLine(text string) (*User, error) {
	f := strings.SplitN(text, ":", 4)
	if len(f) < 3 {
		return nil, errors.New("want name:bcrypt-hash:role[:prefix] (name:hash as htpasswd -nbB prints it)")
	}
	name, hash, role := f[0], f[1], f[2]
	if name == "" {
		return nil, errors.New("empty user name")
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return nil, fmt.Errorf("user %q: a name may not hold spaces or control characters", name)
	}
	if !strings.HasPrefix(hash, "$2") {
		return nil, fmt.Errorf("user %q: the password hash is not bcrypt: create it with htpasswd -nbB %s PASSWORD", name, name)
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return nil, fmt.Errorf("user %q: the bcrypt hash is malformed (want the $2y$... that htpasswd -nbB prints)", name)
	}
	if cost > maxCost {
		return nil, fmt.Errorf("user %q: bcrypt cost %d is over %d: each login would take too long", name, cost, maxCost)
	}
	r, err := ParseRole(role)
	if err != nil {
		return nil, fmt.Errorf("user %q: %v", name, err)
	}
	u := &User{Name: name, Role: r, hash: []byte(hash)}
	if len(f) == 4 {
		u.Prefix = f[3]
	}
	return u, nil
}

// userSet is one loaded users file, never modified once built.
type userSet struct {
	byName map[string]*User
	dummy  []byte // a bcrypt hash of a random password, for unknown names
}

// newUserSet builds a set, with a dummy hash at the highest cost of its
// users; old's dummy is kept when its cost is the same.
func newUserSet(users map[string]*User, old *userSet) (*userSet, error) {
	cost := bcrypt.DefaultCost
	if len(users) > 0 {
		cost = bcrypt.MinCost
		for _, u := range users {
			c, _ := bcrypt.Cost(u.hash) // checked by parse
			cost = max(cost, c)
		}
	}
	if old != nil {
		if c, err := bcrypt.Cost(old.dummy); err == nil && c == cost {
			return &userSet{byName: users, dummy: old.dummy}, nil
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("auth: making the dummy hash: %w", err)
	}
	return &userSet{byName: users, dummy: dummy}, nil
}

// Config sets the verification cache of a Users.
type Config struct {
	// CacheTTL is how long a successful verification of a name and
	// password is remembered (0: no cache). Reload forgets them all.
	CacheTTL time.Duration
	// CacheEntries bounds the cache.
	CacheEntries int
}

// DefaultConfig returns the defaults: successful verifications cached for
// a minute, at most 10,000 of them.
func DefaultConfig() Config { return Config{CacheTTL: time.Minute, CacheEntries: 10_000} }

// Validate reports settings that make no sense.
func (c Config) Validate() error {
	switch {
	case c.CacheTTL < 0:
		return fmt.Errorf("auth: CacheTTL %v: want 0 (no cache) or more", c.CacheTTL)
	case c.CacheTTL > 0 && c.CacheEntries < 1:
		return fmt.Errorf("auth: CacheEntries %d: want at least 1 with a CacheTTL", c.CacheEntries)
	case c.CacheTTL > time.Hour:
		return fmt.Errorf("auth: CacheTTL %v: at most an hour, or a changed password is honoured too late", c.CacheTTL)
	}
	return nil
}

// Users is the set of users of a users file, safe for concurrent use.
// Reload replaces the whole set at once: a check sees the old set or the
// new one, never a mix.
type Users struct {
	cur      atomic.Pointer[userSet]
	cache    *verifyCache
	reloadMu sync.Mutex // one Reload at a time
}

// Load reads the users file at path.
func Load(path string, cfg Config) (*Users, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	users, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return newUsers(users, cfg)
}

// Parse reads a users file from r (src names it in errors).
func Parse(r io.Reader, src string, cfg Config) (*Users, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	users, err := parse(r, src)
	if err != nil {
		return nil, err
	}
	return newUsers(users, cfg)
}

func newUsers(users map[string]*User, cfg Config) (*Users, error) {
	set, err := newUserSet(users, nil)
	if err != nil {
		return nil, err
	}
	s := &Users{cache: newVerifyCache(cfg.CacheTTL, cfg.CacheEntries)}
	s.cur.Store(set)
	return s, nil
}

// readFile reads and parses a users file, refusing one over 16 MiB.
func readFile(path string) (map[string]*User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%w: %s is over %d MiB", ErrBadFile, path, maxFileBytes>>20)
	}
	return parse(bytes.NewReader(data), path)
}

// Reload reads the users file at path and, if it is good, replaces the
// set and forgets every cached verification, so a removed user or a
// changed password takes effect at once. A bad file leaves the set as it
// was and returns the error.
func (s *Users) Reload(path string) error {
	users, err := readFile(path)
	if err != nil {
		return err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	set, err := newUserSet(users, s.cur.Load())
	if err != nil {
		return err
	}
	s.cur.Store(set)
	s.cache.clear()
	return nil
}

// Len returns the number of users.
func (s *Users) Len() int { return len(s.cur.Load().byName) }

// Authenticate returns the user whose name and password these are, or
// ErrBadCredentials. An unknown name costs the same bcrypt comparison as a
// wrong password (against a dummy hash), and the answer never says which
// was wrong. A success is cached for Config.CacheTTL, keyed by a keyed
// hash of the name and password (never the password itself), so repeated
// requests do not pay bcrypt each time. Safe for concurrent use.
func (s *Users) Authenticate(name, password string) (*User, error) {
	set := s.cur.Load()
	d := s.cache.digest(name, password)
	if u := s.cache.get(set, d); u != nil {
		return u, nil
	}
	u := set.byName[name]
	hash := set.dummy
	if u != nil {
		hash = u.hash
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || u == nil {
		return nil, ErrBadCredentials
	}
	s.cache.put(set, d, u)
	return u, nil
}

// cached returns the user of a cached successful verification, or nil,
// without paying bcrypt.
func (s *Users) cached(name, password string) *User {
	return s.cache.get(s.cur.Load(), s.cache.digest(name, password))
}

// lookup returns the current user of that name, or nil.
func (s *Users) lookup(name string) *User { return s.cur.Load().byName[name] }
