package main

import (
	"slices"
	"strings"
	"testing"
)

func TestShareCPUs(t *testing.T) {
	for _, tc := range []struct {
		env        []string
		nodes, cpu int
		want       string // the GOMAXPROCS entry added ("" for none)
	}{
		{append(make([]string, 0, 8), "PATH=/bin"), 3, 2, "GOMAXPROCS=1"}, // room to append in place
		{nil, 3, 8, "GOMAXPROCS=2"},
		{nil, 1, 4, "GOMAXPROCS=4"},
		{nil, 64, 2, "GOMAXPROCS=1"},
		{[]string{"GOMAXPROCS=3"}, 3, 2, ""},
	} {
		got, note := shareCPUs(tc.env, tc.nodes, tc.cpu)
		added := slices.DeleteFunc(slices.Clone(got), func(kv string) bool { return slices.Contains(tc.env, kv) })
		switch {
		case tc.want == "" && len(added) != 0, tc.want != "" && !slices.Equal(added, []string{tc.want}):
			t.Errorf("%v, %d nodes, %d CPUs: added %v, want %q", tc.env, tc.nodes, tc.cpu, added, tc.want)
		case !strings.Contains(note, "GOMAXPROCS"):
			t.Errorf("note %q does not say what was chosen", note)
		}
		if len(tc.env) > 0 && &got[0] == &tc.env[0] && len(got) > len(tc.env) {
			t.Errorf("the caller's environment was appended to in place")
		}
	}
}
