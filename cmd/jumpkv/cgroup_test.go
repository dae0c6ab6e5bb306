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
