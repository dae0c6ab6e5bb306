package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// BenchmarkWriteWithWatchers measures write latency through the leader of
// a 3-node in-process cluster with no watchers, and with 100 watchers of
// which 10 never read: a stuck watcher must not slow writes (compare the
// two ns/op; `go test -run '^$' -bench WriteWithWatchers -count 5 ./node`).
func BenchmarkWriteWithWatchers(b *testing.B) {
	for _, tc := range []struct {
		name           string
		reading, stuck int
	}{{"none", 0, 0}, {"100-watchers-10-stuck", 90, 10}} {
		b.Run(tc.name, func(b *testing.B) {
			c := clustertest.Start(b, clustertest.Options{Nodes: 3, Buckets: 64})
			l := c.WaitLeader(30 * time.Second)
			for i := range tc.reading + tc.stuck {
				sub, err := l.Watch("", nil)
				if err != nil {
					b.Fatal(err)
				}
				if i < tc.reading {
					go func() {
						for range sub.All() {
						}
					}()
				}
			}
			body := []byte("value-of-one-hundred-bytes-0123456789012345678901234567890123456789012345678901234567890123456789")
			b.ResetTimer()
			for i := range b.N {
				if r := l.Do(http.MethodPut, fmt.Sprintf("/v1/kv/bench-%d", i%1000), body); r.Status != http.StatusOK {
					b.Fatalf("write: %v", r)
				}
			}
			b.StopTimer()
			_, dropped := l.Watchers()
			b.ReportMetric(float64(dropped), "dropped-watchers")
		})
	}
}
