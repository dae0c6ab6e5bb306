package node

import (
	"testing"
	"time"
)

// TestJoinViewSettles: a list of addresses is settled at once; a DNS name
// only once its addresses stayed the same, every lookup answering, for the
// settle time.
func TestJoinViewSettles(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const settle = 2 * time.Second
	a, b := "10.0.0.1:7070", "10.0.0.2:7070"
	type seen struct {
		at       time.Duration
		addrs    []string
		complete bool
	}
	cases := []struct {
		name string
		join []string
		seen []seen // observations in order; the last one's answer is checked
		want bool
	}{
		{"addresses: at once", []string{a, b}, []seen{{0, []string{b}, true}}, true},
		{"name: not at once", []string{"peers:7070"}, []seen{{0, nil, true}}, false},
		{"name: alone for the settle time", []string{"peers:7070"}, []seen{{0, nil, true}, {settle, nil, true}}, true},
		{"name: lookup failed", []string{"peers:7070"}, []seen{{0, nil, true}, {settle, nil, false}}, false},
		{"name: a peer appeared", []string{"peers:7070"}, []seen{{0, nil, true}, {settle, []string{b}, true}}, false},
		{"name: 1s after a change", []string{"peers:7070"}, []seen{{time.Second, []string{b}, true}, {2 * time.Second, []string{b}, true}}, false},
		{"name: 2s after a change", []string{"peers:7070"}, []seen{{time.Second, []string{b}, true}, {3 * time.Second, []string{b}, true}}, true},
		{"name: same set, other order", []string{"peers:7070"}, []seen{{0, []string{a, b}, true}, {settle, []string{b, a}, true}}, true},
		{"name after an address", []string{a, "peers:7070"}, []seen{{0, nil, true}}, false},
	}
	for _, c := range cases {
		v := newJoinView(c.join, settle, t0)
		var got bool
		for _, s := range c.seen {
			got = v.observe(s.addrs, s.complete, t0.Add(s.at))
		}
		if got != c.want {
			t.Errorf("%s: settled %v, want %v", c.name, got, c.want)
		}
	}
}
