package bench

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250 and stime 50
	// ticks (fields 14 and 15).
	line := "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194304 1500 0 0 0 250 50 0 0 20 0 9 0 12345 0 0\n"
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseProcStat = %v, want %v (300 ticks of 10ms)", got, want)
	}
	for _, bad := range []string{"", "4242 no parenthesis 1 2 3", "4242 (p) S 1 2", "4242 (p) S 1 2 3 4 5 6 7 8 9 10 x 50 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) did not fail", bad)
		}
	}
}

func TestCPUPerOp(t *testing.T) {
	before := map[string]time.Duration{"client": time.Second, "node 1": 2 * time.Second}
	after := map[string]time.Duration{"client": 3 * time.Second, "node 1": 6 * time.Second, "node 2": time.Second}
	got := CPUPerOp(before, after, 100_000)
	want := map[string]float64{"client": 20, "node 1": 40} // node 2 has no reading before: left out
	if len(got) != len(want) {
		t.Fatalf("CPUPerOp = %v, want %v", got, want)
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("CPUPerOp[%s] = %v, want %v", k, got[k], v)
		}
	}
	if got := CPUPerOp(before, after, 0); got != nil {
		t.Errorf("CPUPerOp with no operations = %v, want nil", got)
	}
	if got := CPUPerOp(nil, after, 10); got != nil {
		t.Errorf("CPUPerOp with no reading before = %v, want nil", got)
	}
}

// TestReadCPUCountsWork burns CPU in this process until getrusage says
// 200ms went by, and checks that /proc saw as much.
func TestReadCPUCountsWork(t *testing.T) {
	procs := []Proc{{Name: "self"}, {Name: "self via /proc", PID: os.Getpid()}}
	if runtime.GOOS != "linux" {
		if _, err := ReadCPU(procs); !errors.Is(err, ErrNoCPUTimes) {
			t.Fatalf("ReadCPU on %s: %v, want ErrNoCPUTimes", runtime.GOOS, err)
		}
		return
	}
	before, err := ReadCPU(procs)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	x := 1.0
	for {
		for i := range 100_000 {
			x = math.Sqrt(x + float64(i))
		}
		d, err := selfCPU()
		if err != nil {
			t.Fatal(err)
		}
		if d-before["self"] >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s of spinning counted as %v of CPU (x=%v)", d-before["self"], x)
		}
	}
	after, err := ReadCPU(procs)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		// /proc counts in 10ms ticks, per thread: allow a few.
		if d := after[p.Name] - before[p.Name]; d < 150*time.Millisecond {
			t.Errorf("%s: CPU time grew by %v, getrusage by at least 200ms", p.Name, d)
		}
	}
	if _, err := ReadCPU([]Proc{{Name: "gone", PID: math.MaxInt32}}); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("ReadCPU of a process that does not exist: err %v, want one naming it", err)
	}
}
