package main

import (
	"os"
	"strconv"
	"strings"
)

// cgroupFiles are where a process finds its memory limit: cgroup v2, then
// v1. Tests replace them.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// cgroupMemoryLimit returns this process's cgroup memory limit in bytes
// and the file it came from, or 0 when there is none ("max", or v1's
// near-2^63 "unlimited", or no cgroup file).
func cgroupMemoryLimit() (int64, string) {
	for _, f := range cgroupFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, f
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, f
		}
		return n, f
	}
	return 0, ""
}
