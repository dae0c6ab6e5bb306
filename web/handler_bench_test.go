package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// BenchmarkHandler runs PUT and GET through one node's HTTP handler in
// process (a cluster of one, no sockets): the cost of the web layer and
// the write and read paths, allocations included, without the network.
// go test -run '^$' -bench Handler -benchmem ./web
func BenchmarkHandler(b *testing.B) {
	c := clustertest.Start(b, clustertest.Options{Nodes: 1})
	n := c.WaitLeader(30 * time.Second)
	value := bytes.Repeat([]byte("v"), 100)
	const keys = 1000
	paths := make([]string, keys)
	for i := range paths {
		paths[i] = fmt.Sprintf("/v1/kv/k%d", i)
		if r := n.Do(http.MethodPut, paths[i], value); r.Status != http.StatusOK {
			b.Fatalf("preload: %v", r)
		}
	}
	for _, method := range []string{http.MethodPut, http.MethodGet} {
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			body := bytes.NewReader(value)
			for i := 0; b.Loop(); i++ {
				body.Reset(value)
				req := httptest.NewRequest(method, paths[i%keys], body)
				if method == http.MethodGet {
					req.Body = http.NoBody
				}
				w := httptest.NewRecorder()
				n.HTTP.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s %s: %d %s", method, paths[i%keys], w.Code, w.Body)
				}
			}
		})
	}
}
