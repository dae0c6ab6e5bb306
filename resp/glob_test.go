package resp

import (
	"strings"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"user:*", "user:1", true},
		{"user:*", "users", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true}, // a reversed range, as Redis allows
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{"*[13]", "k3", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"[abc", "b", true}, // an open class runs to the end
		{"__keyspace@0__:*", "__keyspace@0__:a\r\nb", true},
	} {
		if got := globMatch([]byte(tc.pattern), []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestGlobMatchIsNotExponential: a pattern of many stars against a long
// subject that almost matches costs len(p)*len(s) steps at most.
func TestGlobMatchIsNotExponential(t *testing.T) {
	p := []byte(strings.Repeat("*a", 30) + "b")
	s := []byte(strings.Repeat("a", 10_000))
	start := time.Now()
	if globMatch(p, s) {
		t.Fatal("matched")
	}
	t.Logf("%d-byte pattern against %d bytes: %v", len(p), len(s), time.Since(start))
}

func TestGlobPrefix(t *testing.T) {
	for p, want := range map[string]string{"user:*": "user:", "*": "", "abc": "abc", `a\*b*`: "a*b", "h?llo": "h", "x[ab]": "x"} {
		if got := globPrefix([]byte(p)); got != want {
			t.Errorf("globPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestCursors(t *testing.T) {
	cs := newCursors(2, time.Minute)
	if cs.issue("") != "0" {
		t.Fatal("the end of a scan is not cursor 0")
	}
	a, b := cs.issue("a"), cs.issue("b")
	if k, ok := cs.lookup(a); !ok || k != "a" {
		t.Fatalf("lookup(a) = %q, %v", k, ok)
	}
	cs.issue("c") // evicts the oldest
	if _, ok := cs.lookup(a); ok {
		t.Fatal("the oldest cursor outlived the bound")
	}
	if k, ok := cs.lookup(b); !ok || k != "b" {
		t.Fatalf("lookup(b) = %q, %v", k, ok)
	}
	for _, bad := range []string{"x", "-1", "18446744073709551616", "123"} {
		if _, ok := cs.lookup(bad); ok {
			t.Errorf("lookup(%q) succeeded", bad)
		}
	}
	now := time.Now()
	old := newCursors(10, time.Minute)
	old.now = func() time.Time { return now }
	c := old.issue("k")
	now = now.Add(time.Minute + time.Second)
	if _, ok := old.lookup(c); ok {
		t.Fatal("an expired cursor was accepted")
	}
}
