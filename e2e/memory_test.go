//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryLimit runs the compose cluster with a 128 MiB memory limit per
// container (each node takes 90% of it as --max-memory from the cgroup)
// and floods it with 64 KB writes for two minutes: no container is
// OOM-killed or stops, the nodes hold at least half of their limit (the
// flood got near it; past it, writes get 507: the in-process and process
// tests check that), and the acknowledged keys read back.
func TestMemoryLimit(t *testing.T) {
	s := newStack(t)
	s.env = append(s.env, "JUMPKV_MEM_LIMIT=128m", "JUMPKV_FSYNC=no") // the disk is not what this test is about
	s.buildImage()
	s.up()
	cs := s.waitSettled(t, 3, 0, 2*time.Minute)
	value := strings.Repeat("m", 64_000)
	var (
		mu       sync.Mutex
		acked    []string
		refused  atomic.Int64
		accepted atomic.Int64
	)
	stop := time.Now().Add(120 * time.Second)
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop) && refused.Load() < 2000; i++ {
				key := fmt.Sprintf("mem/%d-%06d", w, i)
				code, err := s.put(cs[i%len(cs)].Port, key, value)
				switch {
				case code == http.StatusOK:
					accepted.Add(1)
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				case code == http.StatusInsufficientStorage:
					refused.Add(1)
				case err != nil || code >= 500:
					// an election or a slow answer: try the next key
				default:
					t.Errorf("PUT %s: %d", key, code)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d writes of 64 KB accepted, %d refused with 507", accepted.Load(), refused.Load())
	var used, limit int64
	for _, c := range cs {
		var st struct {
			MemoryUsed  int64 `json:"memory_used"`
			MemoryLimit int64 `json:"memory_limit"`
		}
		if err := s.getJSON(c.Port, "/admin/status", &st); err != nil {
			t.Fatalf("%s: /admin/status: %v", c.Name, err)
		}
		t.Logf("%s holds %d bytes of data, limit %d (from the cgroup)", c.Name, st.MemoryUsed, st.MemoryLimit)
		if st.MemoryLimit == 0 || st.MemoryLimit > 128<<20 {
			t.Errorf("%s: memory limit %d, want 90%% of the container's 128 MiB", c.Name, st.MemoryLimit)
		}
		used, limit = max(used, st.MemoryUsed), st.MemoryLimit
	}
	if refused.Load() == 0 && used < limit/2 {
		t.Fatalf("the flood got no node to half of its limit (%d of %d) and no write was refused", used, limit)
	}
	for _, c := range s.containers() {
		state := s.mustDocker(time.Minute, "inspect", "-f", "{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}", c.ID)
		if strings.TrimSpace(state) != "true false 0" {
			t.Errorf("%s: running, OOM-killed, restarts = %s", c.Name, state)
		}
	}
	sample := map[string]string{}
	for i, k := range acked {
		if i%50 == 0 {
			sample[k] = value
		}
	}
	s.checkKeys(t, ports(cs), sample, time.Minute)
	t.Logf("%d acknowledged keys sampled and read back from every node", len(sample))
}
