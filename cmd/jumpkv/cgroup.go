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

// goMemoryLimit returns the soft memory limit to give the Go runtime (0:
// none) for a container limit of cgroup bytes (0: none) and a --max-memory
// of maxMemory bytes (0: not given). The data may take 90% of the
// container's memory (--max-memory's default), so the runtime must collect
// harder near the container's limit rather than let the heap's headroom
// cross it: 95% of it. Without a container, the collector's headroom
// (gctune) may reach twice the data of a node holding little, so an
// explicit --max-memory bounds the process too: at 1.5 times it. The
// lower of the two wins.
func goMemoryLimit(cgroup, maxMemory int64) int64 {
	var soft int64
	if cgroup > 0 {
		soft = cgroup / 20 * 19
	}
	if maxMemory > 0 {
		if m := maxMemory / 2 * 3; soft == 0 || m < soft {
			soft = m
		}
	}
	return soft
}
