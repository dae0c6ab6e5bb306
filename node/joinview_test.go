package node

import (
	"testing"
	"time"
)

// TestJoinViewSettles: a list of addresses is settled at once; a DNS name
// only once the addresses seen and the names that do not resolve stayed
// the same for the settle time.
func TestJoinViewSettles(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const settle = 2 * time.Second
	a, b := "10.0.0.1:7070", "10.0.0.2:7070"
	type seen struct {
		at         time.Duration
		addrs      []string
		unresolved []string
	}
	cases := []struct {
		name string
		join []string
		seen []seen // observations in order; the last one's answer is checked
		want bool
	}{
		{"addresses: at once", []string{a, b}, []seen{{0, []string{b}, nil}}, true},
		{"name: not at once", []string{"peers:7070"}, []seen{{0, nil, nil}}, false},
		{"name: alone for the settle time", []string{"peers:7070"}, []seen{{0, nil, nil}, {settle, nil, nil}}, true},
		{"name: a peer appeared", []string{"peers:7070"}, []seen{{0, nil, nil}, {settle, []string{b}, nil}}, false},
		{"name: 1s after a change", []string{"peers:7070"}, []seen{{time.Second, []string{b}, nil}, {2 * time.Second, []string{b}, nil}}, false},
		{"name: 2s after a change", []string{"peers:7070"}, []seen{{time.Second, []string{b}, nil}, {3 * time.Second, []string{b}, nil}}, true},
		{"name: same set, other order", []string{"peers:7070"}, []seen{{0, []string{a, b}, nil}, {settle, []string{b, a}, nil}}, true},
		{"name: answers are subsets of one set", []string{"peers:7070"}, []seen{{0, []string{a, b}, nil}, {time.Second, []string{a}, nil}, {settle, []string{b}, nil}}, true},
		{"name: unresolved all along", []string{"peers:7070"}, []seen{{0, nil, []string{"peers"}}, {settle, nil, []string{"peers"}}}, true},
		{"name: resolves after failing", []string{"peers:7070"}, []seen{{0, nil, []string{"peers"}}, {settle, []string{b}, nil}}, false},
		{"name: one of two stops resolving", []string{"x:7070", "y:7070"}, []seen{{0, []string{a, b}, nil}, {settle, []string{a, b}, []string{"y"}}}, false},
		{"name after an address", []string{a, "peers:7070"}, []seen{{0, nil, nil}}, false},
	}
	for _, c := range cases {
		v := newJoinView(c.join, settle, t0)
		var got bool
		for _, s := range c.seen {
			got = v.observe(s.addrs, s.unresolved, t0.Add(s.at))
		}
		if got != c.want {
			t.Errorf("%s: settled %v, want %v", c.name, got, c.want)
		}
	}
}
