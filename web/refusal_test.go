package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// serveRefusals serves the API of b on a loopback listener wrapped by
// JSONRefusals and returns its address.
func serveRefusals(t *testing.T, b Backend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("", New(b, Config{MaxValue: 16}))
	srv.MaxHeaderBytes = 4 << 10
	done := make(chan error, 1)
	go func() { done <- srv.Serve(JSONRefusals(ln, b)) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawExchange sends raw request bytes on a new connection and reads the
// answers to n requests.
func rawExchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d of %q: %v", len(out)+1, raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// TestRouterRefusalsAreJSON sends requests net/http refuses before any
// handler runs (a raw % in the path, no Host header, headers too large):
// each answer is the API's JSON error with the node's headers, valid
// against openapi.yaml as a 400 of the key routes, and a good request on
// the same listener is served as before, keep-alive included.
func TestRouterRefusalsAreJSON(t *testing.T) {
	addr := serveRefusals(t, &fake{})
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw string
		status    int
		want      string // in the error message
		closes    bool   // net/http's own refusal: the connection ends
	}{
		{"raw % in the path", "GET /v1/kv/100% HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%25", true},
		// net/http passes a bad query on; the router refuses it rather
		// than read it as no parameters (which would list every key).
		{"raw % in the query", "GET /v1/kv?prefix=a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%25", false},
		{"no Host header", "GET /v1/kv/a HTTP/1.1\r\n\r\n", 400, "missing required Host header", true},
		{"headers too large", "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", 431, "Request Header Fields Too Large", true},
	} {
		resp := rawExchange(t, addr, tc.raw, 1)[0]
		body, _ := io.ReadAll(resp.Body)
		var e ErrorBody
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Code != "bad_request" || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want %d and a JSON error saying %q", tc.name, resp.StatusCode, body, tc.status, tc.want)
			continue
		}
		if resp.Header.Get("X-Jumpkv-Node") != "7" || resp.Header.Get("X-Jumpkv-Leader") != "9" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Close != tc.closes {
			t.Errorf("%s: headers %v, want the node's and JSON (closing: %v)", tc.name, resp.Header, tc.closes)
		}
		if tc.status == 400 {
			// As the API describes a 400 of GET /v1/kv/{key}.
			req := httptest.NewRequest(http.MethodGet, "/v1/kv/a", nil)
			if err := ct.checkExchange(req, nil, resp.StatusCode, resp.Header, body); err != nil {
				t.Errorf("%s: the answer departs from openapi.yaml: %v", tc.name, err)
			}
		}
	}
	// Answers from handlers pass untouched, two on one connection.
	good := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/kv/a%25b HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if good[0].StatusCode != 200 || good[0].Header.Get("Date") == "" || good[1].StatusCode != 200 {
		t.Fatalf("good requests: %d %v, %d", good[0].StatusCode, good[0].Header, good[1].StatusCode)
	}
}

// TestRefusalShapeIsNetHTTPs pins what JSONRefusals recognises: a
// handler's answer that happens to be a plain-text 400 closing the
// connection is left alone (it carries a Date and sorted headers).
func TestRefusalShapeIsNetHTTPs(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "400 Bad Request")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(JSONRefusals(ln, &fake{}))
	defer srv.Close()
	resp := rawExchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)[0]
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "400 Bad Request" || resp.Header.Get("X-Jumpkv-Node") != "" {
		t.Fatalf("a handler's own 400 was rewritten: %v %q", resp.Header, body)
	}
}

// readOnlyFake is a backend whose cluster is read-only.
type readOnlyFake struct{ *fake }

func (readOnlyFake) Status() node.Status { return node.Status{ID: 7, Mode: "read-only"} }
func (readOnlyFake) Ready() (bool, string) {
	return true, "read-only: 1 of 2 members reachable, writes need a majority (2)"
}

// TestReadyzTellsReadOnlyApart: /readyz says ready, read-only (with why,
// and 503 with ?writes=1) and not ready apart, as openapi.yaml describes.
func TestReadyzTellsReadOnlyApart(t *testing.T) {
	var body struct{ Status, Reason, Error, Code string }
	get := func(b Backend, path string) int {
		t.Helper()
		rec := serve(ValidateAPI(t, New(b, Config{MaxValue: 16})), http.MethodGet, path, "")
		body.Status, body.Reason, body.Error, body.Code = "", "", "", ""
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %q is no JSON", path, rec.Body.String())
		}
		return rec.Code
	}
	if code := get(&fake{}, "/readyz"); code != 200 || body.Status != "ready" {
		t.Fatalf("a ready node: %d %+v", code, body)
	}
	if code := get(&fake{}, "/readyz?writes=1"); code != 200 || body.Status != "ready" {
		t.Fatalf("a ready node with ?writes=1: %d %+v", code, body)
	}
	ro := readOnlyFake{&fake{}}
	if code := get(ro, "/readyz"); code != 200 || body.Status != "read-only" || !strings.Contains(body.Reason, "1 of 2 members reachable") {
		t.Fatalf("a read-only cluster: %d %+v, want 200 read-only with the reason", code, body)
	}
	if code := get(ro, "/readyz?writes=1"); code != 503 || body.Code != "read_only" || !strings.Contains(body.Error, "writes need a majority") {
		t.Fatalf("a read-only cluster with ?writes=1: %d %+v, want 503 read_only", code, body)
	}
	if code := get(&fake{err: wire.ErrNoLeader}, "/readyz"); code != 503 || body.Code != "not_ready" {
		t.Fatalf("a node that is not ready: %d %+v", code, body)
	}
}

// removeFake records RemoveMember calls.
type removeFake struct {
	*fake
	removed []shard.NodeID
}

func (f *removeFake) RemoveMember(_ context.Context, id shard.NodeID) error {
	f.removed = append(f.removed, id)
	return f.err
}

// TestRemoveMemberRoute: DELETE /v1/cluster/members/{id} passes the ID on
// and answers 204, the backend's refusals as their statuses, a bad ID 400,
// all as openapi.yaml describes.
func TestRemoveMemberRoute(t *testing.T) {
	f := &removeFake{fake: &fake{}}
	h := ValidateAPI(t, New(f, Config{MaxValue: 16}))
	if rec := serve(h, http.MethodDelete, "/v1/cluster/members/42", ""); rec.Code != 204 || len(f.removed) != 1 || f.removed[0] != 42 {
		t.Fatalf("remove 42: %d %q, removed %v", rec.Code, rec.Body.String(), f.removed)
	}
	for _, bad := range []string{"abc", "0", "-1", "99999999999999999999999"} {
		if rec := serve(h, http.MethodDelete, "/v1/cluster/members/"+bad, ""); rec.Code != 400 {
			t.Errorf("remove %q: %d, want 400", bad, rec.Code)
		}
	}
	for err, status := range map[error]int{
		wire.ErrNotFound:   404,
		wire.ErrBadRequest: 400,
		wire.ErrReadOnly:   503,
		wire.ErrNoLeader:   503,
	} {
		f.err = err
		if rec := serve(h, http.MethodDelete, "/v1/cluster/members/42", ""); rec.Code != status {
			t.Errorf("backend error %v: %d, want %d", err, rec.Code, status)
		}
	}
}
