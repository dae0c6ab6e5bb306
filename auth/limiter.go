package auth

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig sets the budget of failed logins per client.
type LimiterConfig struct {
	// Burst is the number of failures a client may make at once.
	Burst int
	// Refill is the time after which one more failure is allowed.
	Refill time.Duration
	// MaxClients bounds the clients remembered; past it, clients whose
	// budget is full again are forgotten first, then the longest quiet.
	MaxClients int
}

// DefaultLimiterConfig returns the defaults: 10 failures at once, then one
// every 2 seconds (30 a minute), for up to 10,000 clients.
func DefaultLimiterConfig() LimiterConfig {
	return LimiterConfig{Burst: 10, Refill: 2 * time.Second, MaxClients: 10_000}
}

// Validate reports settings that make no sense.
func (c LimiterConfig) Validate() error {
	switch {
	case c.Burst < 1:
		return fmt.Errorf("auth: limiter Burst %d: want at least 1", c.Burst)
	case c.Refill <= 0:
		return fmt.Errorf("auth: limiter Refill %v: want a positive duration", c.Refill)
	case c.MaxClients < 1:
		return fmt.Errorf("auth: limiter MaxClients %d: want at least 1", c.MaxClients)
	}
	return nil
}

// Limiter is a token bucket per client that only failures drain: a client
// that fails Burst times in a row must wait Refill for each further try.
// Safe for concurrent use; memory is bounded by MaxClients.
type Limiter struct {
	cfg LimiterConfig

	mu      sync.Mutex // guards clients
	clients map[string]*bucket
}

type bucket struct {
	tokens float64   // failures still allowed, as of last
	last   time.Time // when tokens was computed
}

// NewLimiter returns a limiter; an invalid cfg is replaced by the defaults
// (check it with Validate first).
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Validate() != nil {
		cfg = DefaultLimiterConfig()
	}
	return &Limiter{cfg: cfg, clients: map[string]*bucket{}}
}

// refill brings b's tokens up to now.
func (l *Limiter) refill(b *bucket, now time.Time) {
	b.tokens = min(float64(l.cfg.Burst), b.tokens+float64(now.Sub(b.last))/float64(l.cfg.Refill))
	b.last = now
}

// Allow reports whether client may try to log in now; when not, retry says
// how long until it may.
func (l *Limiter) Allow(client string) (retry time.Duration, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[client]
	if b == nil {
		return 0, true
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0, true
	}
	return time.Duration((1 - b.tokens) * float64(l.cfg.Refill)), false
}

// Fail counts a failed login of client.
func (l *Limiter) Fail(client string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= l.cfg.MaxClients {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.clients[client] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
}

// evict makes room for one client: it forgets every client whose budget
// is full again (they are as good as new), or else the longest quiet one.
func (l *Limiter) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= float64(l.cfg.Burst) {
			delete(l.clients, k)
			continue
		}
		if oldest == "" || b.last.Before(oldestAt) {
			oldest, oldestAt = k, b.last
		}
	}
	if len(l.clients) >= l.cfg.MaxClients {
		delete(l.clients, oldest)
	}
}

// clients returns the number of clients remembered (for tests).
func (l *Limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// ClientKey returns the rate-limit key of a remote address ("ip:port" or
// an IP): the IP itself for IPv4, its /64 network for IPv6 (one host
// commonly holds a whole /64), and the address as given when it is not an
// IP.
func ClientKey(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Guard is the check every front makes: a login (name and password) from
// a client, with the client's failures rate limited. Safe for concurrent
// use; share one per process.
type Guard struct {
	users   *Users
	limiter *Limiter
}

// NewGuard returns a guard over users with limiter (nil: the defaults).
func NewGuard(users *Users, limiter *Limiter) *Guard {
	if limiter == nil {
		limiter = NewLimiter(DefaultLimiterConfig())
	}
	return &Guard{users: users, limiter: limiter}
}

// Users returns the users the guard checks against.
func (g *Guard) Users() *Users { return g.users }

// Login returns the user whose name and password these are. A client
// (see ClientKey) whose recent failures used up its budget gets a
// *RateLimitError without a check, unless these exact credentials were
// verified recently (a cached success costs nothing, so it is served); a
// wrong name or password gets ErrBadCredentials and counts as a failure.
func (g *Guard) Login(client, name, password string) (*User, error) {
	if u := g.users.cached(name, password); u != nil {
		return u, nil
	}
	if retry, ok := g.limiter.Allow(client); !ok {
		return nil, &RateLimitError{RetryAfter: retry}
	}
	u, err := g.users.Authenticate(name, password)
	if err != nil {
		g.limiter.Fail(client)
		return nil, err
	}
	return u, nil
}

// Blocked reports whether client is out of login attempts, and for how
// long, without counting anything.
func (g *Guard) Blocked(client string) (retry time.Duration, blocked bool) {
	retry, ok := g.limiter.Allow(client)
	return retry, !ok
}
