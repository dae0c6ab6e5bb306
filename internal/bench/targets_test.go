package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func view(t *testing.T, s string) ClusterView {
	t.Helper()
	var v ClusterView
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSelectTargets(t *testing.T) {
	cluster := view(t, `{"leader":3,"epoch":1,"nodes":[
		{"id":1,"http":"127.0.0.1:8080","state":"alive"},
		{"id":2,"http":":8081","state":"alive"},
		{"id":3,"http":"0.0.0.0:8082","state":"alive"},
		{"id":4,"http":"127.0.0.1:8083","state":"dead"}]}`)
	all := func() []Target {
		return []Target{{URL: "http://127.0.0.1:8080", Node: 1}, {URL: "http://127.0.0.1:8082", Node: 3}}
	}
	one := func() []Target { return []Target{{URL: "http://localhost:8080", Node: 1}} }
	for _, c := range []struct {
		kind  string
		given []Target
		want  string
	}{
		{TargetAll, all(), "http://127.0.0.1:8080 1 false; http://127.0.0.1:8082 3 true"},
		{TargetLeader, all(), "http://127.0.0.1:8082 3 true"},
		{TargetFollower, all(), "http://127.0.0.1:8080 1 false"},
		// Only a follower named: the others come from the cluster view,
		// with the named host where theirs is missing.
		{TargetLeader, one(), "http://localhost:8082 3 true"},
		{TargetFollower, []Target{{URL: "https://10.0.0.9:8082", Node: 3}}, "https://127.0.0.1:8080 1 false; https://10.0.0.9:8081 2 false"},
		// Nodes that did not answer who they are: all keeps them.
		{TargetAll, []Target{{URL: "http://127.0.0.1:9999"}}, "http://127.0.0.1:9999 0 false"},
	} {
		got, err := SelectTargets(c.kind, c.given, cluster)
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, c.given, err)
			continue
		}
		var parts []string
		for _, g := range got {
			parts = append(parts, fmt.Sprintf("%s %d %v", g.URL, g.Node, g.Leader))
		}
		if s := strings.Join(parts, "; "); s != c.want {
			t.Errorf("%s %v: %s, want %s", c.kind, c.given, s, c.want)
		}
	}

	for _, c := range []struct {
		kind string
		v    ClusterView
		want string
	}{
		{TargetLeader, ClusterView{}, "no leader"},
		{"primary", cluster, "want leader, follower or all"},
		{TargetLeader, view(t, `{"leader":9,"nodes":[{"id":1,"http":"127.0.0.1:8080"}]}`), "not among"},
		{TargetFollower, view(t, `{"leader":1,"nodes":[{"id":1,"http":"127.0.0.1:8080"},{"id":2,"http":"127.0.0.1:8081","state":"dead"}]}`), "no live follower"},
	} {
		if _, err := SelectTargets(c.kind, one(), c.v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: error %v, want one saying %q", c.kind, c.v, err, c.want)
		}
	}
}

func TestParseBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":   "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":  "http://127.0.0.1:8080",
		"127.0.0.1:8080":          "http://127.0.0.1:8080",
		"https://kv.example:8443": "https://kv.example:8443",
	} {
		u, err := ParseBaseURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseBaseURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://x:1", "http://", "http://h:1/v1/kv", "http://h:1?x=1", "http://[::1"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("ParseBaseURL(%q): no error", bad)
		}
	}
}
