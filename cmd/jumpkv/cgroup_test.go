package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	v2, v1 := filepath.Join(dir, "memory.max"), filepath.Join(dir, "limit_in_bytes")
	old := cgroupFiles
	cgroupFiles = []string{v2, v1}
	defer func() { cgroupFiles = old }()
	for _, tc := range []struct {
		v2, v1 string // "" leaves the file out
		want   int64
	}{
		{"", "", 0},
		{"max\n", "", 0},
		{"536870912\n", "", 512 << 20},
		{"", "268435456\n", 256 << 20},
		{"", "9223372036854771712\n", 0}, // v1's unlimited
		{"garbage", "", 0},
	} {
		os.Remove(v2)
		os.Remove(v1)
		for f, v := range map[string]string{v2: tc.v2, v1: tc.v1} {
			if v != "" {
				if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got, _ := cgroupMemoryLimit(); got != tc.want {
			t.Errorf("v2 %q v1 %q: %d, want %d", tc.v2, tc.v1, got, tc.want)
		}
	}
}

func TestGoMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		cgroup, maxMemory, want int64
	}{
		{0, 0, 0},                  // nothing known: the runtime's default
		{1000 * mib, 0, 950 * mib}, // a container: 95% of it
		{0, 64 * mib, 96 * mib},    // --max-memory alone: 1.5x
		{1000 * mib, 64 * mib, 96 * mib},
		{100 * mib, 90 * mib, 95 * mib}, // the container's bound is lower
	}
	for _, c := range cases {
		if got := goMemoryLimit(c.cgroup, c.maxMemory); got != c.want {
			t.Errorf("goMemoryLimit(%d MiB, %d MiB) = %d MiB, want %d MiB", c.cgroup/mib, c.maxMemory/mib, got/mib, c.want/mib)
		}
	}
}
