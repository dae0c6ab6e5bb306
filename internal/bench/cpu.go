package bench

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// A CPU figure says what a system costs per operation, whatever the
// throughput: on a shared host the ops/s of a round move with the other
// tenants, the CPU time each process spends per operation much less.

// Proc is a process whose CPU time is counted: PID 0 is this process.
type Proc struct {
	Name string
	PID  int
}

// ErrNoCPUTimes means this platform does not tell the CPU times needed
// (other processes' are read from Linux's /proc only).
var ErrNoCPUTimes = errors.New("CPU times of other processes are read from Linux's /proc only")

// ReadCPU returns the CPU time (user plus system, all threads) each
// process has used so far, by name.
func ReadCPU(procs []Proc) (map[string]time.Duration, error) {
	out := make(map[string]time.Duration, len(procs))
	for _, p := range procs {
		var d time.Duration
		var err error
		if p.PID == 0 {
			d, err = selfCPU()
		} else {
			d, err = procCPU(p.PID)
		}
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", p.Name, err)
		}
		out[p.Name] = d
	}
	return out, nil
}

// CPUPerOp turns two readings around a window in which ops operations
// completed into microseconds of CPU per operation, by name.
func CPUPerOp(before, after map[string]time.Duration, ops int64) map[string]float64 {
	if ops <= 0 || before == nil || after == nil {
		return nil
	}
	out := make(map[string]float64, len(after))
	for name, a := range after {
		if b, ok := before[name]; ok {
			out[name] = float64(a-b) / float64(time.Microsecond) / float64(ops)
		}
	}
	return out
}

// clockTicks is the unit of /proc/<pid>/stat's times: USER_HZ, which
// Linux fixes at 100 for every program on the architectures Go runs on.
const clockTicks = 100

func procCPU(pid int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, ErrNoCPUTimes
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime plus stime from a /proc/<pid>/stat line.
func parseProcStat(s string) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from after its closing parenthesis (field 3 onwards).
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat line %.40q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %.40q", s)
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat line %.40q: %v", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
