package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Where a process finds its memory limit: its own cgroup, named in
// /proc/self/cgroup, under the cgroup file system. In a container (a cgroup
// namespace) that is the root; under systemd it is the service's cgroup,
// where MemoryMax= lands. Tests replace these.
var (
	cgroupSelf = "/proc/self/cgroup"
	cgroupRoot = "/sys/fs/cgroup"
)

// cgroupLimitFiles returns the files that may hold a memory limit on this
// process: for cgroup v2 memory.max of its cgroup and of each ancestor, for
// v1 memory.limit_in_bytes likewise, then the root's (the container's).
func cgroupLimitFiles() []string {
	var files []string
	chain := func(dir, file, path string) {
		for p := path; ; p = filepath.Dir(p) {
			files = append(files, filepath.Join(dir, p, file))
			if p == "/" || p == "." || p == "" {
				return
			}
		}
	}
	if b, err := os.ReadFile(cgroupSelf); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				chain(cgroupRoot, "memory.max", parts[2])
			case slices.Contains(strings.Split(parts[1], ","), "memory"):
				chain(filepath.Join(cgroupRoot, "memory"), "memory.limit_in_bytes", parts[2])
			}
		}
	}
	return append(files, filepath.Join(cgroupRoot, "memory.max"), filepath.Join(cgroupRoot, "memory", "memory.limit_in_bytes"))
}

// cgroupMemoryLimit returns the lowest memory limit on this process's
// cgroups in bytes and the file it came from, or 0 when there is none
// ("max", v1's near-2^63 "unlimited", or no cgroup file).
func cgroupMemoryLimit() (int64, string) {
	var limit int64
	where := ""
	for _, f := range cgroupLimitFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // "max", garbage, v1's unlimited
			continue
		}
		if limit == 0 || n < limit {
			limit, where = n, f
		}
	}
	return limit, where
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
