package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/web"
)

// escape turns a key into a request path the way a careful client does:
// "/" kept, everything else a path cannot hold percent-encoded.
func escape(key string) string {
	return "/v1/kv/" + strings.TrimPrefix((&url.URL{Path: "/" + key}).EscapedPath(), "/")
}

func decode[T any](t *testing.T, r clustertest.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
	return v
}

func wantError(t *testing.T, r clustertest.Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	e := decode[web.ErrorBody](t, r)
	if e.Error == "" || (code != "" && e.Code != code) {
		t.Fatalf("error body %+v, want code %q and a message", e, code)
	}
}

// TestAPIThroughEveryNode runs every SPEC route through a follower and
// checks the answers, across keys with slashes, unicode and 1024 bytes.
func TestAPIThroughEveryNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxValue = 64 << 10
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) { cfg.MaxValue = maxValue }})
		validateNodes(t, c)
		l := c.WaitLeader(30 * time.Second)
		for _, n := range c.Nodes() {
			exerciseAPI(t, n, l, maxValue)
		}
	})
}

func exerciseAPI(t *testing.T, n, l *clustertest.Node, maxValue int) {
	t.Helper()
	prefix := fmt.Sprintf("n%d/", n.Index)
	keys := []string{
		prefix + "plain",
		prefix + "sensors/room1/temp",
		prefix + "ünïcødé/ключ/鍵",
		prefix + "spaces and ?query& #hash %percent",
		prefix + strings.Repeat("k", 1024-len(prefix)),
	}
	for _, key := range keys {
		path := escape(key)
		body := []byte("value of " + key)
		r := n.Do(http.MethodPut, path, body, "Content-Type", "text/plain; charset=utf-8")
		if r.Status != http.StatusOK {
			t.Fatalf("PUT %q: %v", key, r)
		}
		w := decode[struct{ Key, Version string }](t, r)
		if w.Key != key || w.Version == "" || r.Header.Get("ETag") != `"`+w.Version+`"` ||
			r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("PUT %q answered %+v with ETag %q", key, w, r.Header.Get("ETag"))
		}
		if r.Header.Get("X-Jumpkv-Node") != strconv.FormatUint(uint64(n.ID()), 10) ||
			r.Header.Get("X-Jumpkv-Leader") != strconv.FormatUint(uint64(l.ID()), 10) {
			t.Fatalf("identity headers %v", r.Header)
		}
		g := n.Do(http.MethodGet, path, nil)
		if g.Status != http.StatusOK || !bytes.Equal(g.Body, body) ||
			g.Header.Get("Content-Type") != "text/plain; charset=utf-8" || g.Header.Get("ETag") != r.Header.Get("ETag") {
			t.Fatalf("GET %q: %v %v", key, g, g.Header)
		}
		h := n.Do(http.MethodHead, path, nil)
		if h.Status != http.StatusOK || len(h.Body) != 0 || h.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
			h.Header.Get("ETag") != r.Header.Get("ETag") {
			t.Fatalf("HEAD %q: %v %v", key, h, h.Header)
		}
	}
	key := prefix + "plain"
	path := escape(key)

	// Conditional writes.
	g := n.Do(http.MethodGet, path, nil)
	tag := g.Header.Get("ETag")
	wantError(t, n.Do(http.MethodPut, path, []byte("x"), "If-Match", `"999.1"`), http.StatusPreconditionFailed, "precondition_failed")
	// No value has version 0.0: 412, never an unconditional write.
	wantError(t, n.Do(http.MethodPut, path, []byte("x"), "If-Match", `"0.0"`), http.StatusPreconditionFailed, "precondition_failed")
	wantError(t, n.Do(http.MethodDelete, path, nil, "If-Match", `"0.0"`), http.StatusPreconditionFailed, "precondition_failed")
	wantError(t, n.Do(http.MethodPut, path, []byte("x"), "If-None-Match", "*"), http.StatusPreconditionFailed, "precondition_failed")
	wantError(t, n.Do(http.MethodPut, path, []byte("x"), "If-Match", "garbage"), http.StatusBadRequest, "bad_request")
	r := n.Do(http.MethodPut, path, []byte("second"), "If-Match", tag)
	if r.Status != http.StatusOK || r.Header.Get("ETag") == tag {
		t.Fatalf("If-Match with the current tag: %v", r)
	}
	if g := n.Do(http.MethodGet, path, nil, "If-None-Match", r.Header.Get("ETag")); g.Status != http.StatusNotModified {
		t.Fatalf("GET If-None-Match current tag: %v", g)
	}
	// Versions grow.
	v1 := decode[struct{ Version string }](t, r).Version
	r2 := n.Do(http.MethodPut, path, []byte("third"))
	if v2 := decode[struct{ Version string }](t, r2).Version; !versionLess(t, v1, v2) {
		t.Fatalf("version %s then %s: not growing", v1, v2)
	}
	// A value written without a Content-Type is served as bytes.
	if g := n.Do(http.MethodGet, path, nil); g.Status != http.StatusOK || string(g.Body) != "third" ||
		g.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET of a value written without a Content-Type: %v %v", g, g.Header)
	}

	// Create and append.
	cpath := escape(prefix + "created")
	if r := n.Do(http.MethodPost, cpath, []byte("a")); r.Status != http.StatusCreated {
		t.Fatalf("POST create: %v", r)
	}
	wantError(t, n.Do(http.MethodPost, cpath, []byte("a")), http.StatusConflict, "exists")
	if r := n.Do(http.MethodPost, cpath+"?op=append", []byte("bc")); r.Status != http.StatusOK {
		t.Fatalf("append: %v", r)
	}
	if r := n.Do(http.MethodPost, escape(prefix+"appended-new")+"?op=append", []byte("new")); r.Status != http.StatusOK {
		t.Fatalf("append creating: %v", r)
	}
	if g := n.Do(http.MethodGet, cpath, nil); string(g.Body) != "abc" {
		t.Fatalf("after append: %v", g)
	}
	wantError(t, n.Do(http.MethodPost, cpath+"?op=prepend", []byte("x")), http.StatusBadRequest, "bad_request")

	// Values up to the limit, and past it.
	big := bytes.Repeat([]byte{0xab}, maxValue)
	if r := n.Do(http.MethodPut, escape(prefix+"big"), big); r.Status != http.StatusOK {
		t.Fatalf("PUT of max-value bytes: %v", r)
	}
	if g := n.Do(http.MethodGet, escape(prefix+"big"), nil); !bytes.Equal(g.Body, big) {
		t.Fatalf("GET of the max-value value: %d bytes", len(g.Body))
	}
	wantError(t, n.Do(http.MethodPut, escape(prefix+"too-big"), append(big, 1)), http.StatusRequestEntityTooLarge, "too_large")
	wantError(t, n.Do(http.MethodPost, escape(prefix+"big")+"?op=append", []byte{1}), http.StatusRequestEntityTooLarge, "too_large")

	// Keys: empty, too long.
	wantError(t, n.Do(http.MethodGet, "/v1/kv/", nil), http.StatusBadRequest, "bad_request")
	wantError(t, n.Do(http.MethodPut, "/v1/kv/", []byte("x")), http.StatusBadRequest, "bad_request")
	wantError(t, n.Do(http.MethodPut, "/v1/kv/"+strings.Repeat("k", 1025), []byte("x")), http.StatusRequestURITooLong, "key_too_long")

	// Delete.
	dpath := escape(prefix + "sensors/room1/temp")
	wantError(t, n.Do(http.MethodDelete, dpath, nil, "If-Match", `"1.999999"`), http.StatusPreconditionFailed, "precondition_failed")
	if r := n.Do(http.MethodDelete, dpath, nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %v", r)
	}
	wantError(t, n.Do(http.MethodGet, dpath, nil), http.StatusNotFound, "not_found")
	wantError(t, n.Do(http.MethodDelete, dpath, nil), http.StatusNotFound, "not_found")
	if r := n.Do(http.MethodPost, dpath, []byte("again")); r.Status != http.StatusCreated {
		t.Fatalf("create after delete: %v", r)
	}

	// Listing with pagination, across the cluster.
	var listed []string
	after := ""
	for range 20 {
		q := url.Values{"prefix": {prefix}, "limit": {"2"}}
		if after != "" {
			q.Set("after", after)
		}
		r := n.Do(http.MethodGet, "/v1/kv?"+q.Encode(), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %v", r)
		}
		page := decode[struct {
			Keys []string
			Next *string
		}](t, r)
		listed = append(listed, page.Keys...)
		if page.Next == nil {
			break
		}
		if len(page.Keys) != 2 || *page.Next != page.Keys[1] {
			t.Fatalf("page %v next %q", page.Keys, *page.Next)
		}
		after = *page.Next
	}
	want := []string{prefix + "appended-new", prefix + "big", prefix + "created", prefix + "plain",
		prefix + "sensors/room1/temp", prefix + "spaces and ?query& #hash %percent",
		prefix + strings.Repeat("k", 1024-len(prefix)), prefix + "ünïcødé/ключ/鍵"}
	slices.Sort(want)
	if strings.Join(listed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("listed\n%q\nwant\n%q", listed, want)
	}
	wantError(t, n.Do(http.MethodGet, "/v1/kv?limit=0", nil), http.StatusBadRequest, "bad_request")
	wantError(t, n.Do(http.MethodGet, "/v1/kv?limit=abc", nil), http.StatusBadRequest, "bad_request")

	// Cluster views and health.
	ci := decode[struct {
		Leader, Term, Epoch uint64
		Replicas, Buckets   int
		Nodes               []struct {
			ID                      uint64
			HTTP, Peer, State, Role string
			BucketsPrimary          int `json:"buckets_primary"`
			BucketsBackup           int `json:"buckets_backup"`
		}
	}](t, n.Do(http.MethodGet, "/v1/cluster", nil))
	if ci.Leader != uint64(l.ID()) || ci.Replicas != 2 || ci.Buckets != 64 || len(ci.Nodes) != 3 || ci.Epoch == 0 {
		t.Fatalf("/v1/cluster: %+v", ci)
	}
	for _, nd := range ci.Nodes {
		if nd.State != "alive" || (nd.Role == "leader") != (nd.ID == uint64(l.ID())) || nd.HTTP == "" || nd.Peer == "" ||
			nd.BucketsPrimary < 21 || nd.BucketsPrimary > 22 || nd.BucketsBackup < 21 || nd.BucketsBackup > 22 {
			t.Fatalf("/v1/cluster node %+v", nd)
		}
	}
	st := decode[node.Status](t, n.Do(http.MethodGet, "/admin/status", nil))
	if st.ID != n.ID() || st.Leader != l.ID() || len(st.Members) != 3 || st.BucketsPrimary == 0 {
		t.Fatalf("/admin/status: %+v", st)
	}
	if r := n.Do(http.MethodGet, "/healthz", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz: %v", r)
	}
	if r := n.Do(http.MethodGet, "/readyz", nil); r.Status != http.StatusOK {
		t.Fatalf("/readyz: %v", r)
	}
	m := n.Do(http.MethodGet, "/metrics", nil)
	for _, want := range []string{`jumpkv_http_requests_total{method="PUT",route="/v1/kv/*key",status="200"}`,
		"jumpkv_http_request_seconds_bucket", "jumpkv_term ", "jumpkv_epoch ", "jumpkv_keys ", "jumpkv_bytes ",
		"jumpkv_watch_subscribers ", "jumpkv_watch_dropped_total ", "jumpkv_leader_changes_total ",
		"jumpkv_replication_seconds", "jumpkv_bucket_moves_total ", "jumpkv_antientropy_repaired_total "} {
		if m.Status != http.StatusOK || !strings.Contains(string(m.Body), want) {
			t.Fatalf("/metrics lacks %q (status %d)", want, m.Status)
		}
	}
	pl := decode[struct {
		Epoch    uint64
		Replicas int
		Buckets  [][]uint64
	}](t, n.Do(http.MethodGet, "/v1/placement", nil))
	if pl.Epoch == 0 || pl.Replicas != 2 || len(pl.Buckets) != 64 || len(pl.Buckets[0]) != 2 {
		t.Fatalf("/v1/placement: %+v", pl)
	}
	wantError(t, n.Do(http.MethodGet, "/no/such/route", nil), http.StatusNotFound, "not_found")
	wantError(t, n.Do(http.MethodPatch, path, nil), http.StatusMethodNotAllowed, "")
}

func versionLess(t *testing.T, a, b string) bool {
	t.Helper()
	parse := func(s string) (uint64, uint64) {
		x, y, ok := strings.Cut(s, ".")
		p, err1 := strconv.ParseUint(x, 10, 64)
		q, err2 := strconv.ParseUint(y, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("version %q is not term.seq", s)
		}
		return p, q
	}
	at, as := parse(a)
	bt, bs := parse(b)
	return at < bt || (at == bt && as < bs)
}
