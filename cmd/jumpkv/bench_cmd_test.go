package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jumpkv/jumpkv/internal/bench"
)

// benchJSON is the part of `jumpkv bench --json` the tests read.
type benchJSON struct {
	Setup struct {
		Op      string `json:"op"`
		Preload bool   `json:"preload"`
		Rounds  int    `json:"rounds"`
		Systems []struct {
			Name    string   `json:"name"`
			Targets []string `json:"targets"`
		} `json:"systems"`
	} `json:"setup"`
	Runs []struct {
		System         string             `json:"system"`
		Round          int                `json:"round"`
		Ops            int64              `json:"ops"`
		OpsPerSec      float64            `json:"ops_per_sec"`
		Errors         int64              `json:"errors"`
		ErrorsByStatus map[string]int64   `json:"errors_by_status"`
		LatencyMS      map[string]float64 `json:"latency_ms"`
		CPUPerOp       map[string]float64 `json:"cpu_us_per_op"`
	} `json:"runs"`
	Median map[string]struct {
		OpsPerSec float64 `json:"ops_per_sec"`
	} `json:"median"`
	Ratio *struct {
		OpsPerSec float64 `json:"ops_per_sec"`
	} `json:"ratio"`
}

// checkBenchJSON parses out and checks that every run succeeded: some
// operations, no errors, latencies in order.
func checkBenchJSON(t *testing.T, out []byte) benchJSON {
	t.Helper()
	var r benchJSON
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, out)
	}
	if len(r.Runs) == 0 {
		t.Fatalf("no runs in\n%s", out)
	}
	for _, run := range r.Runs {
		l := run.LatencyMS
		if run.Ops <= 0 || run.OpsPerSec <= 0 || run.Errors != 0 || len(run.ErrorsByStatus) != 0 {
			t.Errorf("%s round %d: %d ops, %.0f ops/s, errors %d %v: want throughput and no errors",
				run.System, run.Round, run.Ops, run.OpsPerSec, run.Errors, run.ErrorsByStatus)
		}
		if !(l["p50"] > 0 && l["p50"] <= l["p90"] && l["p90"] <= l["p99"] && l["p99"] <= l["p99.9"] && l["p99.9"] <= l["max"]) {
			t.Errorf("%s round %d: latencies %v not positive and in order", run.System, run.Round, l)
		}
	}
	return r
}

// fakeNode serves the baseline's key-value routes under a node ID, with
// jumpkv's identity headers and a /v1/cluster, counting key-value requests.
type fakeNode struct {
	id, leader uint64
	srv        *httptest.Server
	kv         atomic.Int64
	peers      *[]*fakeNode
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Jumpkv-Node", fmt.Sprint(f.id))
	w.Header().Set("X-Jumpkv-Leader", fmt.Sprint(f.leader))
	if r.URL.Path == "/v1/cluster" {
		var nodes []map[string]any
		for _, p := range *f.peers {
			nodes = append(nodes, map[string]any{"id": p.id, "http": p.srv.Listener.Addr().String(), "state": "alive"})
		}
		json.NewEncoder(w).Encode(map[string]any{"leader": f.leader, "epoch": 1, "nodes": nodes})
		return
	}
	f.kv.Add(1)
	kvHandler.ServeHTTP(w, r)
}

var kvHandler = bench.NewBaselineHandler()

func fakeCluster(t *testing.T, n int, leader uint64) []*fakeNode {
	t.Helper()
	var nodes []*fakeNode
	for i := range n {
		f := &fakeNode{id: uint64(i + 1), leader: leader, peers: &nodes}
		f.srv = httptest.NewServer(f)
		t.Cleanup(f.srv.Close)
		nodes = append(nodes, f)
	}
	return nodes
}

func TestBenchCommandTargets(t *testing.T) {
	for _, c := range []struct {
		target string
		given  []int  // the nodes named in --addr (0-based); node 2 (index 1) leads
		want   []bool // which of the 3 nodes get key-value requests
	}{
		{"leader", []int{0, 1}, []bool{false, true, false}},
		{"leader", []int{2}, []bool{false, true, false}}, // found through /v1/cluster
		{"follower", []int{0, 1}, []bool{true, false, false}},
		{"follower", []int{1}, []bool{true, false, true}}, // found through /v1/cluster
		{"all", []int{0, 1, 2}, []bool{true, true, true}},
	} {
		t.Run(fmt.Sprint(c.target, c.given), func(t *testing.T) {
			nodes := fakeCluster(t, 3, 2)
			var addrs []string
			for _, i := range c.given {
				addrs = append(addrs, nodes[i].srv.URL)
			}
			var stdout, stderr bytes.Buffer
			args := []string{"bench", "--addr", strings.Join(addrs, ","), "--target", c.target,
				"--op", "mixed", "--keys", "100", "--conns", "4", "--duration", "1100ms", "--warmup", "100ms", "--json"}
			if code := run(t.Context(), args, nil, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			r := checkBenchJSON(t, stdout.Bytes())
			if !r.Setup.Preload || r.Setup.Op != "mixed" || len(r.Runs) != 1 {
				t.Errorf("setup %+v, %d runs: want mixed, preloaded, one run", r.Setup, len(r.Runs))
			}
			for i, want := range c.want {
				if got := nodes[i].kv.Load() > 0; got != want {
					t.Errorf("node %d (leader 2) served %d key-value requests; want some: %v", i+1, nodes[i].kv.Load(), want)
				}
			}
			// Progress once a second on stderr, the preload announced.
			if !strings.Contains(stderr.String(), "jumpkv round 1/1: 1") || !strings.Contains(stderr.String(), "preloading 100 keys") {
				t.Errorf("stderr:\n%s", stderr.String())
			}
		})
	}
}

func TestBenchCommandTextOutput(t *testing.T) {
	nodes := fakeCluster(t, 1, 1)
	var stdout, stderr bytes.Buffer
	env := []string{"JUMPKV_ADDR=" + nodes[0].srv.URL}
	code := run(t.Context(), []string{"bench", "--op", "put", "--rate", "200", "--conns", "2", "--duration", "500ms", "--warmup", "0s"}, env, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	// 200/s for 0.5s: 100 sent at most (closed loop would be thousands),
	// nearly all answered in the window unless the machine stalls.
	var ops int
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 10 && f[0] == "jumpkv" && f[1] == "1" {
			fmt.Sscan(f[2], &ops)
			if f[4] != "0" {
				t.Errorf("errors column %q in %q", f[4], line)
			}
		}
	}
	if ops < 20 || ops > 100 || !strings.Contains(out, "fixed rate 200 req/s over 2 conns") ||
		!strings.Contains(out, "(node 1, leader)") || strings.Contains(out, "preloaded") {
		t.Fatalf("want at most 100 ops at 200/s for 0.5s, put not preloaded, node 1 leading; got %d ops in\n%s", ops, out)
	}
}

func TestBenchCommandUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "--help"}, nil, io.Discard, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "-spawn") || !strings.Contains(stderr.String(), "-baseline") || !strings.Contains(stderr.String(), "coordinated omission") {
		t.Fatalf("bench --help: exit %d\n%s", code, stderr.String())
	}
	var help bytes.Buffer
	if run(t.Context(), []string{"help"}, nil, &help, io.Discard); !strings.Contains(help.String(), "jumpkv bench") {
		t.Fatalf("the top-level help does not list bench:\n%s", help.String())
	}
	for _, args := range [][]string{
		{"--op", "scan"},
		{"--dist", "zipf", "--zipf-s", "1"},
		{"--read-ratio", "2"},
		{"--conns", "0"},
		{"--duration", "0s"},
		{"--spawn", "3", "--addr", "http://127.0.0.1:1"},
		{"--target", "primary"},
		{"--spawn", "1", "--target", "follower"},
		{"--addr", "ftp://x"},
		{"--", "--dead-after", "1s"}, // node flags without --spawn
		{"--preload=maybe"},
		{"--value-size", "2000000"},
		{"--client", "curl"},
	} {
		stderr.Reset()
		if code := run(t.Context(), append([]string{"bench"}, args...), nil, io.Discard, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("bench %q: exit %d, %q; want 2 and a message", args, code, stderr.String())
		}
	}
	// A leader cannot be found where nothing answers.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	stderr.Reset()
	if code := run(t.Context(), []string{"bench", "--addr", gone.URL, "--target", "leader"}, nil, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "cannot learn who leads") {
		t.Errorf("--target leader with no node answering: exit %d, %q", code, stderr.String())
	}
}
