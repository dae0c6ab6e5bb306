package web

import (
	"net/http/httptest"
	"testing"
)

// TestWatchOriginPolicy checks who may open a watch from a browser: the
// node's own origin (under one of its names) and clients sending none
// always; other origins only when listed, or when "*" is.
func TestWatchOriginPolicy(t *testing.T) {
	cases := []struct {
		allowed []string
		origin  string
		want    bool
	}{
		{nil, "", true},
		{nil, "http://node1:8080", true},
		{nil, "http://NODE1:8080", true},
		{nil, "http://evil.example", false},
		{nil, "http://node1:9090", false},
		{nil, "::not a url", false},
		{[]string{"https://ops.example.com"}, "https://ops.example.com", true},
		{[]string{"https://ops.example.com"}, "http://ops.example.com", false},
		{[]string{"https://ops.example.com"}, "http://node1:8080", true},
		{[]string{"*"}, "http://anywhere.example", true},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://node1:8080/v1/watch", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := newUpgrader(newOriginPolicy(c.allowed, []string{"node1"}, false)).CheckOrigin(r); got != c.want {
			t.Errorf("allowed %v, Origin %q: accepted %v, want %v", c.allowed, c.origin, got, c.want)
		}
	}
}
