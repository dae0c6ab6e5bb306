package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// fake is a Backend whose answers a test sets.
type fake struct {
	err   error
	panic bool
	entry store.Entry
}

func (f *fake) ID() shard.NodeID     { return 7 }
func (f *fake) Leader() shard.NodeID { return 9 }
func (f *fake) Get(context.Context, string) (store.Entry, error) {
	if f.panic {
		panic("boom")
	}
	return f.entry, f.err
}
func (f *fake) Write(context.Context, wire.WriteOp) (store.Version, error) {
	return store.Version{Term: 1, Seq: 2}, f.err
}
func (f *fake) List(context.Context, string, string, int) ([]string, string, error) {
	return nil, "", f.err
}
func (f *fake) Cluster(context.Context) (wire.ClusterInfo, error) { return wire.ClusterInfo{}, f.err }
func (f *fake) Status() node.Status                               { return node.Status{ID: 7} }
func (f *fake) Watch(string, *store.Version) (*node.Subscription, error) {
	return nil, f.err
}
func (f *fake) Unwatch(*node.Subscription)                       {}
func (f *fake) Placement() *wire.ClusterState                    { return nil }
func (f *fake) Metrics() *prometheus.Registry                    { return nil }
func (f *fake) Ready() (bool, string)                            { return f.err == nil, "not yet" }
func (f *fake) RemoveMember(context.Context, shard.NodeID) error { return f.err }

func serve(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestErrorStatuses checks every sentinel's status and JSON body through a
// real route, wrapped as callers wrap them.
func TestErrorStatuses(t *testing.T) {
	cases := []struct {
		err    error
		status int
	}{
		{wire.ErrBadRequest, 400}, {wire.ErrNotFound, 404}, {wire.ErrExists, 409},
		{wire.ErrPrecondition, 412}, {wire.ErrTooLarge, 413}, {wire.ErrKeyTooLong, 414}, {wire.ErrForbidden, 403},
		{wire.ErrNoLeader, 503}, {wire.ErrReadOnly, 503}, {wire.ErrUnavailable, 503},
		{wire.ErrNotLeader, 503}, {wire.ErrStaleEpoch, 503}, {wire.ErrNoLease, 503},
		{wire.ErrUnknownOutcome, 504}, {wire.ErrTimeout, 504}, {context.DeadlineExceeded, 504},
		{wire.ErrInternal, 500}, {errors.New("unexpected"), 500},
		// Errors that crossed a hop keep their meaning.
		{wire.ErrorOf("precondition_failed", "remote words"), 412},
		{wire.ErrorOf("unknown_outcome", "remote words"), 504},
	}
	for _, tc := range cases {
		f := &fake{err: fmt.Errorf("context: %w", tc.err)}
		h := New(f, Config{MaxValue: 10})
		h = ValidateAPI(t, h)
		// Through a write that can meet the error (the OpenAPI check
		// holds each route to the statuses it describes).
		method, body := http.MethodPut, "v"
		switch tc.status {
		case http.StatusNotFound:
			method, body = http.MethodDelete, ""
		case http.StatusConflict:
			method = http.MethodPost
		}
		rec := serve(h, method, "/v1/kv/k", body)
		if rec.Code != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, rec.Code, tc.status)
		}
		if !strings.Contains(rec.Body.String(), `"error":`) || !strings.Contains(rec.Body.String(), `"code":"`+wire.CodeOf(tc.err)) &&
			tc.err != context.DeadlineExceeded {
			t.Errorf("%v: body %s", tc.err, rec.Body)
		}
		if (tc.status == 503) != (rec.Header().Get("Retry-After") != "") {
			t.Errorf("%v: Retry-After %q with status %d", tc.err, rec.Header().Get("Retry-After"), rec.Code)
		}
	}
}

// TestClientMistakesAreNot5xx sends malformed requests: each gets a 4xx
// with a JSON error, never a 5xx.
func TestClientMistakesAreNot5xx(t *testing.T) {
	h := New(&fake{}, Config{MaxValue: 16, MaxKey: 8})
	h = ValidateAPI(t, h)
	cases := []struct {
		method, path, body string
		header             []string
		status             int
	}{
		{"PUT", "/v1/kv/", "v", nil, 400},
		{"PUT", "/v1/kv/123456789", "v", nil, 414},
		{"GET", "/v1/kv/123456789", "", nil, 414},
		{"PUT", "/v1/kv/k", strings.Repeat("x", 17), nil, 413},
		{"PUT", "/v1/kv/k", "v", []string{"If-Match", "3.4"}, 400},
		{"PUT", "/v1/kv/k", "v", []string{"If-Match", `"x.y"`}, 412}, // well-formed, opaque: never matches (RFC 9110)
		{"PUT", "/v1/kv/k", "v", []string{"If-Match", `""`}, 412},
		{"PUT", "/v1/kv/k", "v", []string{"If-None-Match", `"1.2"`}, 400},
		{"DELETE", "/v1/kv/k", "", []string{"If-Match", "nonsense"}, 400},
		{"POST", "/v1/kv/k?op=zap", "v", nil, 400},
		{"GET", "/v1/kv?limit=-1", "", nil, 400},
		{"GET", "/v1/kv?limit=1e9", "", nil, 400},
		{"GET", "/nope", "", nil, 404},
		{"PATCH", "/v1/kv/k", "", nil, 405},
		{"PUT", "/v1/kv/%ff%fe", "v", nil, 400},
	}
	for _, tc := range cases {
		rec := serve(h, tc.method, tc.path, tc.body, tc.header...)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s %s %v: %d %s, want %d with a JSON error", tc.method, tc.path, tc.header, rec.Code, rec.Body, tc.status)
		}
	}
}

// TestPanicIsA500AndTheServerGoesOn checks that a handler panic answers a
// logged 500 and later requests are served.
func TestPanicIsA500AndTheServerGoesOn(t *testing.T) {
	f := &fake{panic: true}
	h := New(f, Config{MaxValue: 16})
	h = ValidateAPI(t, h)
	if rec := serve(h, http.MethodGet, "/v1/kv/k", ""); rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("panicking handler: %d %s", rec.Code, rec.Body)
	}
	f.panic = false
	f.entry = store.Entry{Key: "k", Value: []byte("v"), Version: store.Version{Term: 1, Seq: 1}}
	if rec := serve(h, http.MethodGet, "/v1/kv/k", ""); rec.Code != 200 || rec.Body.String() != "v" {
		t.Fatalf("after the panic: %d %s", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	f := &fake{err: errors.New("x")}
	h := New(f, Config{MaxValue: 16})
	h = ValidateAPI(t, h)
	if rec := serve(h, http.MethodGet, "/readyz", ""); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("not ready: %d %s", rec.Code, rec.Body)
	}
	f.err = nil
	if rec := serve(h, http.MethodGet, "/readyz", ""); rec.Code != 200 {
		t.Fatalf("ready: %d %s", rec.Code, rec.Body)
	}
}
