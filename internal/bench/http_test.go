package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// counting wraps a handler and counts requests by method and the remote
// connections they came on.
type counting struct {
	h       http.Handler
	mu      sync.Mutex
	methods map[string]int
	conns   map[string]bool
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.methods[r.Method]++
	c.conns[r.RemoteAddr] = true
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func newCounting(h http.Handler) *counting {
	return &counting{h: h, methods: map[string]int{}, conns: map[string]bool{}}
}

func TestHTTPAgainstTheBaseline(t *testing.T) {
	var servers []*counting
	var urls []string
	for range 2 {
		c := newCounting(NewBaselineHandler())
		srv := httptest.NewServer(c)
		t.Cleanup(srv.Close)
		servers = append(servers, c)
		urls = append(urls, srv.URL)
	}
	const keys, conns = 50, 4
	d, err := NewHTTP(HTTPOptions{Targets: urls, Conns: conns, Keys: keys, ValueSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := Preload(t.Context(), d, keys, conns); err != nil {
		t.Fatal(err)
	}
	// Workers 0 and 2 write to the first server, 1 and 3 to the second.
	if a, b := servers[0].methods["PUT"], servers[1].methods["PUT"]; a+b != keys || a == 0 || b == 0 {
		t.Fatalf("preload PUTs: %d and %d, want %d in all, on both", a, b, keys)
	}
	// Every key now holds the value.
	for i := range keys {
		if srvA, srvB := get(t, urls[0], i, keys), get(t, urls[1], i, keys); srvA != string(Value(64)) && srvB != string(Value(64)) {
			t.Fatalf("key %d: %q / %q, want the value on one of the servers", i, srvA, srvB)
		}
	}

	for _, s := range servers { // count the connections of the run below
		s.mu.Lock()
		s.conns = map[string]bool{}
		s.mu.Unlock()
	}
	cfg := Config{Workload: Workload{Mix: MixPut, Keys: keys, Dist: DistUniform, ValueSize: 64}, Conns: conns, Duration: 300 * time.Millisecond}
	res, err := Run(t.Context(), cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.ErrorCount() != 0 {
		t.Fatalf("puts on the baseline: %d ops, errors %v", res.Ops, res.Errors)
	}
	for i, s := range servers {
		s.mu.Lock()
		// Keep-alive: each server saw at most its workers' connections.
		if len(s.conns) > conns/2 {
			t.Errorf("server %d: %d client connections for %d workers: connections are not reused", i, len(s.conns), conns/2)
		}
		s.mu.Unlock()
	}

	// Gets of absent keys are errors, by status.
	empty := httptest.NewServer(NewBaselineHandler())
	defer empty.Close()
	d2, err := NewHTTP(HTTPOptions{Targets: []string{empty.URL}, Conns: 2, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	cfg.Workload.Mix = MixGet
	res, err = Run(t.Context(), cfg, d2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors["404"] == 0 || len(res.Errors) != 1 {
		t.Fatalf("gets of absent keys: %d ops, errors %v, want only 404s", res.Ops, res.Errors)
	}

	// A node that is not there: refused.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	d3, err := NewHTTP(HTTPOptions{Targets: []string{gone.URL}, Conns: 1, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := d3.Worker(t.Context(), 0)(Op{Kind: OpGet}); err == nil || errorKind(st, err) != "refused" {
		t.Fatalf("a closed port: %d %v (%s)", st, err, errorKind(st, err))
	}
}

// get reads key i of n from base.
func get(t *testing.T, base string, i, n int) string {
	t.Helper()
	resp, err := http.Get(base + "/v1/kv/" + KeyName(i, n))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestBaselineHandler(t *testing.T) {
	srv := httptest.NewServer(NewBaselineHandler())
	defer srv.Close()
	do := func(method, path string, body []byte, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("PUT", "/v1/kv/a/b", []byte("hello"), "Content-Type", "text/plain")
	var w struct{ Key, Version string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &w) != nil || w.Key != "a/b" || resp.Header.Get("ETag") != `"`+w.Version+`"` {
		t.Fatalf("PUT: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = do("GET", "/v1/kv/a/b", nil)
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("ETag") != `"`+w.Version+`"` {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ = do("HEAD", "/v1/kv/a/b", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "5" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body = do("GET", "/v1/kv/nope", nil); resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Fatalf("GET absent: %d %s", resp.StatusCode, body)
	}
	if resp, body = do("PUT", "/v1/kv/big", make([]byte, BaselineMaxValue+1)); resp.StatusCode != 413 {
		t.Fatalf("PUT too large: %d %s", resp.StatusCode, body)
	}
	if resp, _ = do("PUT", "/v1/kv/", []byte("x")); resp.StatusCode != 400 {
		t.Fatalf("PUT of the empty key: %d", resp.StatusCode)
	}
	if resp, _ = do("GET", "/healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

// TestHTTPPutsCarryTheTTL: with a TTL, every PUT asks for it (?ttl= in
// milliseconds) through both clients, and GETs do not.
func TestHTTPPutsCarryTheTTL(t *testing.T) {
	var mu sync.Mutex
	queries := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		queries[r.Method] = append(queries[r.Method], r.URL.RawQuery)
		mu.Unlock()
	}))
	defer srv.Close()
	for _, std := range []bool{false, true} {
		clear(queries)
		d, err := NewHTTP(HTTPOptions{Targets: []string{srv.URL}, Conns: 1, Keys: 10, ValueSize: 8, TTL: 1500 * time.Millisecond, StdClient: std})
		if err != nil {
			t.Fatal(err)
		}
		w := d.Worker(t.Context(), 0)
		for _, k := range []OpKind{OpPut, OpGet, OpPut} {
			if st, err := w(Op{Kind: k, Key: 3}); st != 200 || err != nil {
				t.Fatalf("std client %v: %v: %d %v", std, k, st, err)
			}
		}
		d.Close()
		mu.Lock()
		if got := fmt.Sprintf("%q %q", queries["PUT"], queries["GET"]); got != `["ttl=1500ms" "ttl=1500ms"] [""]` {
			t.Errorf("std client %v: queries of PUTs and GETs %s, want [\"ttl=1500ms\" \"ttl=1500ms\"] [\"\"]", std, got)
		}
		mu.Unlock()
	}
}
