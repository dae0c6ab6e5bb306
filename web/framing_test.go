package web_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestAnswersCarryContentLength checks, over a real connection, that GET
// answers of small and large values carry a Content-Length rather than
// a chunked body, as HEAD answers do.
func TestAnswersCarryContentLength(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1})
	n := c.WaitLeader(30 * time.Second)
	validateNodes(t, c)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	for _, size := range []int{1, 100, 2048, 2049, 4000, 512 << 10} {
		value := bytes.Repeat([]byte("v"), size)
		if r := n.Do(http.MethodPut, "/v1/kv/framing", value); r.Status != http.StatusOK {
			t.Fatalf("put %d bytes: %v", size, r)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, srv.URL+"/v1/kv/framing", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(size) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("%s of %d bytes: status %d, Content-Length %d, Transfer-Encoding %v",
					method, size, resp.StatusCode, resp.ContentLength, resp.TransferEncoding)
			}
			if method == http.MethodGet && !bytes.Equal(body, value) {
				t.Fatalf("GET of %d bytes: body of %d bytes differs", size, len(body))
			}
		}
	}
}
