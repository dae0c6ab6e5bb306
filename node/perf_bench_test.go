package node_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// BenchmarkClusterHTTP drives a 3-node cluster on real TCP (peers and HTTP
// on loopback, all in this process) with 64 concurrent clients, for
// profiling the whole path: go test -run '^$' -bench ClusterHTTP
// -cpuprofile cpu.out ./node. Figures from one process sharing two cores
// with its load are for comparing changes, not for the README (use
// jumpkv bench for those).
func BenchmarkClusterHTTP(b *testing.B) {
	c := clustertest.Start(b, clustertest.Options{Nodes: 3, Buckets: 1024, TCP: true})
	l := c.WaitLeader(30 * time.Second)
	f := c.Followers(l)[0]
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	value := bytes.Repeat([]byte("v"), 100)
	const keys = 10000
	for _, tc := range []struct {
		name   string
		via    *clustertest.Node
		method string
	}{{"put-leader", l, http.MethodPut}, {"put-follower", f, http.MethodPut},
		{"get-leader", l, http.MethodGet}, {"get-follower", f, http.MethodGet}} {
		srv := httptest.NewServer(tc.via.HTTP)
		if tc.method == http.MethodGet {
			for i := range keys {
				if r := l.Do(http.MethodPut, fmt.Sprintf("/v1/kv/k%d", i), value); r.Status != 200 {
					b.Fatalf("preload: %v", r)
				}
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
				for pb.Next() {
					var body io.Reader
					if tc.method == http.MethodPut {
						body = bytes.NewReader(value)
					}
					req, _ := http.NewRequest(tc.method, fmt.Sprintf("%s/v1/kv/k%d", srv.URL, rng.IntN(keys)), body)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("%s: %d %s", tc.name, resp.StatusCode, got)
					}
				}
			})
		})
		srv.Close()
	}
}
