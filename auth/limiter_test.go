package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestLimiterBudget drains a client's budget, checks the wait it is told,
// and that the budget comes back with time and is per client.
func TestLimiterBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterConfig{Burst: 3, Refill: time.Second, MaxClients: 10})
		for i := range 3 {
			if _, ok := l.Allow("a"); !ok {
				t.Fatalf("refused after %d failures, burst 3", i)
			}
			l.Fail("a")
		}
		retry, ok := l.Allow("a")
		if ok || retry <= 0 || retry > time.Second {
			t.Fatalf("after 3 failures: ok %v retry %v, want refused for at most 1s", ok, retry)
		}
		if _, ok := l.Allow("b"); !ok {
			t.Fatal("another client was refused")
		}
		time.Sleep(retry) // virtual time
		if _, ok := l.Allow("a"); !ok {
			t.Fatal("still refused after the wait it was told")
		}
		l.Fail("a")
		if _, ok := l.Allow("a"); ok {
			t.Fatal("one refill allowed more than one try")
		}
	})
}

// TestLimiterIsBounded fails from many clients: the limiter remembers at
// most MaxClients, dropping first those whose budget is full again.
func TestLimiterIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterConfig{Burst: 2, Refill: time.Second, MaxClients: 50})
		for i := range 1000 {
			l.Fail(fmt.Sprint("c", i))
			if n := l.size(); n > 50 {
				t.Fatalf("%d clients remembered, bound 50", n)
			}
		}
		// A client that drained its budget just now survives the
		// eviction of those long quiet.
		l.Fail("hot")
		l.Fail("hot")
		time.Sleep(time.Hour)
		l.Fail("hot")
		l.Fail("hot")
		l.Fail("new")
		if _, ok := l.Allow("hot"); ok {
			t.Fatal("the active client was forgotten")
		}
	})
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5555":            "192.0.2.7",
		"192.0.2.7":                 "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:81": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":     "192.0.2.7",
		"[fe80::1%eth0]:80":         "fe80::/64",
		"pipe":                      "pipe",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGuardLimitsFailuresNotUsers drains a client's budget with wrong
// passwords: it is then refused even with the right password (which costs
// no bcrypt), except with credentials verified recently, and another
// client is unaffected.
func TestGuardLimitsFailuresNotUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hashOf(t, "pw", bcrypt.MinCost)
		s, err := Parse(stringsReader("alice:"+h+":read\nbob:"+h+":read\n"), "f", DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		g := NewGuard(s, NewLimiter(LimiterConfig{Burst: 2, Refill: 10 * time.Second, MaxClients: 10}))
		if _, err := g.Login("ip1", "bob", "pw"); err != nil { // cached from now on
			t.Fatal(err)
		}
		for range 2 {
			if _, err := g.Login("ip1", "alice", "bad"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("a wrong password: %v", err)
			}
		}
		_, err = g.Login("ip1", "alice", "pw")
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter <= 0 || !errors.Is(err, ErrRateLimited) {
			t.Fatalf("the right password from a blocked client: %v, want a rate limit error", err)
		}
		if retry, blocked := g.Blocked("ip1"); !blocked || retry <= 0 {
			t.Fatalf("Blocked: %v %v", retry, blocked)
		}
		if _, err := g.Login("ip1", "bob", "pw"); err != nil {
			t.Fatalf("cached credentials from a blocked client: %v", err)
		}
		if _, err := g.Login("ip2", "alice", "pw"); err != nil {
			t.Fatalf("another client: %v", err)
		}
		time.Sleep(rl.RetryAfter)
		if _, err := g.Login("ip1", "alice", "pw"); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
	})
}
