package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCgroupMemoryLimit: the limit is the lowest found on the process's
// own cgroup (from /proc/self/cgroup), its ancestors and the root, for
// cgroup v2 and v1: a container's (the root, in its namespace), a systemd
// service's MemoryMax (its own cgroup), a slice's above it.
func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		self  string            // /proc/self/cgroup
		files map[string]string // under the cgroup root
		want  int64
	}{
		{"none", "0::/\n", nil, 0},
		{"v2 unlimited", "0::/\n", map[string]string{"memory.max": "max\n"}, 0},
		{"v2 container", "0::/\n", map[string]string{"memory.max": "536870912\n"}, 512 << 20},
		{"v2 systemd service", "0::/system.slice/jumpkv.service\n",
			map[string]string{"system.slice/jumpkv.service/memory.max": "4294967296\n", "system.slice/memory.max": "max\n"}, 4 << 30},
		{"v2 slice below the service", "0::/system.slice/jumpkv.service\n",
			map[string]string{"system.slice/jumpkv.service/memory.max": "4294967296\n", "system.slice/memory.max": "1073741824\n"}, 1 << 30},
		{"v1 container", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "268435456\n"}, 256 << 20},
		{"v1 unlimited", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"v1 own cgroup", "5:cpu,memory:/app/x\n0::/\n", map[string]string{"memory/app/x/memory.limit_in_bytes": "134217728\n"}, 128 << 20},
		{"garbage", "0::/\n", map[string]string{"memory.max": "garbage"}, 0},
		{"no /proc/self/cgroup: the root still counts", "", map[string]string{"memory.max": "536870912\n"}, 512 << 20},
	} {
		root := t.TempDir()
		self := filepath.Join(t.TempDir(), "cgroup")
		if tc.self != "" {
			if err := os.WriteFile(self, []byte(tc.self), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for name, v := range tc.files {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		oldSelf, oldRoot := cgroupSelf, cgroupRoot
		cgroupSelf, cgroupRoot = self, root
		got, where := cgroupMemoryLimit()
		cgroupSelf, cgroupRoot = oldSelf, oldRoot
		if got != tc.want {
			t.Errorf("%s: %d (from %q), want %d", tc.name, got, where, tc.want)
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
