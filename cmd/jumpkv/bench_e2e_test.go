package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runBenchBinary runs the built binary's bench command and returns its
// stdout, failing the test on a non-zero exit.
func runBenchBinary(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"bench"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jumpkv bench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("jumpkv bench %s\n%s", strings.Join(args, " "), stderr.String())
	return stdout.Bytes()
}

// checkStopped checks that nothing listens at the base URL of a target
// ("http://127.0.0.1:1234 (node 5)") any more.
func checkStopped(t *testing.T, target string) {
	t.Helper()
	u, err := url.Parse(strings.Fields(target)[0])
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after bench exited", u.Host)
	}
}

// TestBenchSpawnsACluster runs `jumpkv bench --spawn 3` as a process: it
// starts three nodes, loads them, reports, and stops them.
func TestBenchSpawnsACluster(t *testing.T) {
	t.Parallel()
	out := runBenchBinary(t, "--spawn", "3", "--duration", "2s", "--warmup", "500ms", "--conns", "8",
		"--keys", "1000", "--op", "mixed", "--json")
	r := checkBenchJSON(t, out)
	if len(r.Runs) != 1 || r.Runs[0].System != "jumpkv" || !r.Setup.Preload {
		t.Fatalf("want one preloaded jumpkv run:\n%s", out)
	}
	targets := r.Setup.Systems[0].Targets
	leaders := 0
	for _, tg := range targets {
		if strings.Contains(tg, "leader") {
			leaders++
		}
	}
	if len(targets) != 3 || leaders != 1 {
		t.Fatalf("targets %q: want the 3 nodes, one of them the leader", targets)
	}
	for _, tg := range targets {
		checkStopped(t, tg)
	}
}

// TestBenchBaseline runs `jumpkv bench --baseline` briefly: a baseline
// round and a jumpkv round through the followers, and their ratio.
func TestBenchBaseline(t *testing.T) {
	t.Parallel()
	out := runBenchBinary(t, "--spawn", "3", "--baseline", "--rounds", "1", "--duration", "1s", "--warmup", "200ms",
		"--conns", "4", "--keys", "200", "--op", "put", "--target", "follower", "--json")
	r := checkBenchJSON(t, out)
	if len(r.Runs) != 2 || r.Runs[0].System != "baseline" || r.Runs[1].System != "jumpkv" {
		t.Fatalf("want a baseline round, then a jumpkv round:\n%s", out)
	}
	if r.Ratio == nil || r.Ratio.OpsPerSec <= 0 || r.Median["jumpkv"].OpsPerSec != r.Runs[1].OpsPerSec {
		t.Fatalf("want medians and a ratio:\n%s", out)
	}
	if len(r.Setup.Systems) != 2 || len(r.Setup.Systems[1].Targets) != 2 {
		t.Fatalf("want the baseline and the 2 followers as targets: %+v", r.Setup.Systems)
	}
	if runtime.GOOS == "linux" {
		// Bench and the processes it started spent CPU on the operations
		// (one node alone may show none: /proc counts in 10ms ticks).
		for i, want := range [][]string{{"client", "server"}, {"client", "node 1", "node 2", "node 3"}} {
			cpu := r.Runs[i].CPUPerOp
			if len(cpu) != len(want) {
				t.Errorf("%s round: CPU figures %v, want %q", r.Runs[i].System, cpu, want)
			}
			servers := 0.0
			for _, p := range want[1:] {
				servers += cpu[p]
			}
			if cpu["client"] <= 0 || servers <= 0 {
				t.Errorf("%s round: CPU per op %v: want some for the client and for the servers", r.Runs[i].System, cpu)
			}
		}
	}
	for _, s := range r.Setup.Systems {
		for _, tg := range s.Targets {
			if strings.Contains(tg, "leader") {
				t.Errorf("--target follower sent to %s", tg)
			}
			checkStopped(t, tg)
		}
	}
}
