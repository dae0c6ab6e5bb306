package auth

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestSessions issues a token and checks it against forgery, expiry,
// another process's key, a changed role, a changed password and a removed
// user.
func TestSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := hashOf(t, "pw", bcrypt.MinCost)
		path := writeFile(t, "alice:"+h+":read\nbob:"+h+":read\n")
		s, err := Load(path, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		ss := NewSessions(s, time.Hour)
		alice, _ := s.Authenticate("alice", "pw")
		tok, exp := ss.Issue(alice)
		if !exp.After(time.Now()) || strings.ContainsAny(tok, " ;,\"\\") {
			t.Fatalf("token %q expiring %v", tok, exp)
		}
		if u, err := ss.Verify(tok); err != nil || u.Name != "alice" {
			t.Fatalf("a fresh token: %v %v", u, err)
		}
		parts := strings.Split(tok, ".")
		bob := "Ym9i" // base64url("bob")
		for _, bad := range []string{"", "x", tok + "x", bob + "." + parts[1] + "." + parts[2],
			parts[0] + "." + "99999999999" + "." + parts[2], parts[0] + ".." + parts[2]} {
			if _, err := ss.Verify(bad); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("forged token %q: %v", bad, err)
			}
		}
		if _, err := NewSessions(s, time.Hour).Verify(tok); err == nil {
			t.Error("another process's key accepted the token")
		}
		// A role change applies to the session at once.
		if err := os.WriteFile(path, []byte("alice:"+h+":readwrite:a/\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(path); err != nil {
			t.Fatal(err)
		}
		if u, err := ss.Verify(tok); err != nil || u.Role != RoleReadWrite || u.Prefix != "a/" {
			t.Fatalf("after a role change: %+v %v", u, err)
		}
		// A new password ends it.
		if err := os.WriteFile(path, []byte("alice:"+hashOf(t, "new", bcrypt.MinCost)+":readwrite\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(path); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Verify(tok); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("after a password change: %v", err)
		}
		// Expiry.
		alice, _ = s.Authenticate("alice", "new")
		tok, _ = ss.Issue(alice)
		time.Sleep(time.Hour + time.Second) // virtual time
		if _, err := ss.Verify(tok); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("an expired token: %v", err)
		}
		// A removed user.
		tok, _ = ss.Issue(alice)
		if err := os.WriteFile(path, []byte("bob:"+h+":read\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(path); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Verify(tok); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("a removed user's token: %v", err)
		}
	})
}
