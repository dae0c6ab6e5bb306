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

// TestMemoryLimit runs the compose cluster with a 96 MiB memory limit per
// container (each node takes 90% of it as --max-memory from the cgroup)
// and floods it with 64 KB writes: writes past the limit get 507, no
// container is OOM-killed or stops, and the acknowledged keys read back.
func TestMemoryLimit(t *testing.T) {
	s := newStack(t)
	s.env = append(s.env, "JUMPKV_MEM_LIMIT=96m", "JUMPKV_FSYNC=no") // the disk is not what this test is about
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
	stop := time.Now().Add(250 * time.Second)
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
	if refused.Load() == 0 {
		t.Fatalf("no write was refused: %d accepted without reaching the limit", accepted.Load())
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
