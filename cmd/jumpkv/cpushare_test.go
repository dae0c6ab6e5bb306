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
		disk       bool
		want       string // the GOMAXPROCS entry added ("" for none)
	}{
		{append(make([]string, 0, 8), "PATH=/bin"), 3, 2, false, "GOMAXPROCS=1"}, // room to append in place
		{nil, 3, 8, false, "GOMAXPROCS=2"},
		{nil, 1, 4, false, "GOMAXPROCS=4"},
		{nil, 64, 2, false, "GOMAXPROCS=1"},
		{[]string{"GOMAXPROCS=3"}, 3, 2, false, ""},
		{nil, 3, 2, true, ""},
	} {
		got, note := shareCPUs(tc.env, tc.nodes, tc.cpu, tc.disk)
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

func TestWaitsForDisk(t *testing.T) {
	for _, tc := range []struct {
		args, env []string
		want      bool
	}{
		{nil, nil, false},
		{[]string{"--data-dir", "d"}, nil, true}, // --fsync always is the default
		{[]string{"--data-dir", "d", "--fsync", "everysec"}, nil, false},
		{[]string{"--data-dir", "d"}, []string{"JUMPKV_FSYNC=no"}, false},
		{[]string{"--fsync", "always"}, nil, false}, // memory only
		{[]string{"--data-dir", "d", "--data-dir", ""}, nil, false},
		{[]string{"--no-such-flag"}, nil, false},
	} {
		if got := waitsForDisk(tc.args, tc.env); got != tc.want {
			t.Errorf("%q %q: %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}
