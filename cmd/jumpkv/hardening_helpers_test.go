package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusView is the part of /admin/status these tests read.
type statusView struct {
	ID      uint64 `json:"id"`
	Role    string `json:"role"`
	Leader  uint64 `json:"leader"`
	Term    uint64 `json:"term"`
	Keys    int64  `json:"keys"`
	Members []struct {
		ID   uint64 `json:"id"`
		Peer string `json:"peer"`
	} `json:"members"`
}

// nodeStatus reads a node's /admin/status; ok is false when it does not
// answer 200 with one.
func nodeStatus(t *testing.T, httpAddr string) (statusView, bool) {
	t.Helper()
	var st statusView
	code, _, b := request(t, "GET", "http://"+httpAddr+"/admin/status", nil)
	return st, code == 200 && json.Unmarshal(b, &st) == nil
}

// clusterNodes is the part of /v1/cluster these tests read.
type clusterNodes struct {
	Leader   uint64 `json:"leader"`
	Term     uint64 `json:"term"`
	Replicas int    `json:"replicas"`
	Nodes    []struct {
		ID    uint64 `json:"id"`
		Peer  string `json:"peer"`
		HTTP  string `json:"http"`
		State string `json:"state"`
	} `json:"nodes"`
}

func clusterOf(t *testing.T, httpAddr string) (clusterNodes, bool) {
	t.Helper()
	var cv clusterNodes
	code, _, b := request(t, "GET", "http://"+httpAddr+"/v1/cluster", nil)
	return cv, code == 200 && json.Unmarshal(b, &cv) == nil
}

// waitLog waits until p's output holds every one of want, failing the test
// after timeout.
func waitLog(t *testing.T, p *proc, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.out.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %v:\n%s", missing, timeout, out)
		}
		time.Sleep(50 * time.Millisecond) // polling a real process's output
	}
}

// linesWith counts the lines of out that contain every one of subs.
func linesWith(out string, subs ...string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// rssKB reads a process's resident set size (VmRSS) in KB.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the RSS of pid %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", l, err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
