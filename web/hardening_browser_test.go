package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// TestValuesAreSandboxed stores an HTML value: opened in a browser it must
// neither be sniffed nor run script with the node's origin.
func TestValuesAreSandboxed(t *testing.T) {
	b := newRecorder()
	b.entry = store.Entry{Key: "page", Value: []byte("<script>fetch('/v1/kv')</script>"), ContentType: "text/html",
		Version: store.Version{Term: 1, Seq: 1}}
	h := New(b, Config{MaxValue: 1 << 10})
	for _, m := range []string{"GET", "HEAD"} {
		rec := call(h, "192.0.2.1:1", m, "/v1/kv/page", "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d", m, rec.Code)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", m, rec.Header().Get("X-Content-Type-Options"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") || strings.Contains(csp, "allow-scripts") ||
			strings.Contains(csp, "allow-same-origin") {
			t.Errorf("%s: Content-Security-Policy %q, want a sandbox without scripts or the node's origin", m, csp)
		}
	}
}

// TestCrossSiteWritesAreRefused sends the writes a foreign page can make a
// browser send (a "simple" text/plain POST needs no preflight): refused
// before they reach the node, unless --allow-origin allows the origin;
// same-origin pages and non-browser clients are unaffected.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	const host = "127.0.0.1:8080"
	cases := []struct {
		name    string
		allowed []string
		method  string
		header  []string
		status  int
	}{
		{"foreign simple POST", nil, "POST", []string{"Origin", "http://evil.example", "Content-Type", "text/plain"}, 403},
		{"foreign append", nil, "POST", []string{"Origin", "http://evil.example"}, 403},
		{"foreign PUT", nil, "PUT", []string{"Origin", "https://evil.example"}, 403},
		{"foreign DELETE", nil, "DELETE", []string{"Origin", "http://evil.example"}, 403},
		{"null origin", nil, "POST", []string{"Origin", "null"}, 403},
		{"same host, other port", nil, "POST", []string{"Origin", "http://127.0.0.1:9999"}, 403},
		{"cross-site without Origin", nil, "POST", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site without Origin", nil, "PUT", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"same origin", nil, "POST", []string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, 201},
		{"no Origin (curl)", nil, "POST", nil, 201},
		{"user typed it", nil, "PUT", []string{"Sec-Fetch-Site", "none"}, 200},
		{"allowed origin", []string{"https://ops.example.com"}, "PUT", []string{"Origin", "https://ops.example.com"}, 200},
		{"any origin", []string{"*"}, "POST", []string{"Origin", "http://evil.example"}, 201},
	}
	for _, tc := range cases {
		b := newRecorder()
		b.err = nil
		h := New(b, Config{MaxValue: 1 << 10, AllowedOrigins: tc.allowed})
		path := "/v1/kv/k"
		if tc.name == "foreign append" {
			path += "?op=append"
		}
		req := newReq(tc.method, "http://"+host+path, "x", tc.header...)
		rec := serveReq(h, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.status == 403 {
			if code := errorCode(t, rec); code != "forbidden" {
				t.Errorf("%s: code %q", tc.name, code)
			}
			if b.wrote() != 0 {
				t.Errorf("%s: the refused write reached the node", tc.name)
			}
		}
	}
	// Basic credentials a browser remembers are sent cross-site too: with
	// users, a foreign origin is still refused.
	h := New(newRecorder(), Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	req := newReq("POST", "http://"+host+"/v1/kv/k", "x", "Origin", "http://evil.example", "Authorization", basic("admin", "admin-pw"))
	if rec := serveReq(h, req); rec.Code != 403 {
		t.Errorf("a foreign origin with credentials: %d %s", rec.Code, rec.Body)
	}
}

// TestDNSRebindingIsRefused sends what a page that rebound its own name to
// the node's address sends: same-origin headers under a Host that is not
// one of the node's names. Without users it is refused, reads and watches
// included; the node's own names pass; with users, credentials decide.
func TestDNSRebindingIsRefused(t *testing.T) {
	rebound := []string{"Origin", "http://attacker.example:8080", "Sec-Fetch-Site", "same-origin"}
	readOnly := []string{"Sec-Fetch-Site", "same-origin"} // a GET carries no Origin
	cases := []struct {
		name, host, method, path string
		hosts                    []string
		allowed                  []string
		header                   []string
		status                   int
	}{
		{"read the listing", "attacker.example:8080", "GET", "/v1/kv", nil, nil, readOnly, 403},
		{"read a key", "attacker.example:8080", "GET", "/v1/kv/k", nil, nil, readOnly, 403},
		{"write a key", "attacker.example:8080", "PUT", "/v1/kv/k", nil, nil, rebound, 403},
		{"the cluster", "attacker.example:8080", "GET", "/v1/cluster", nil, nil, readOnly, 403},
		{"by IP", "10.0.0.5:8080", "GET", "/v1/kv", nil, nil, readOnly, 200},
		{"by IPv6", "[::1]:8080", "GET", "/v1/kv", nil, nil, readOnly, 200},
		{"by localhost", "localhost:8080", "GET", "/v1/kv", nil, nil, readOnly, 200},
		{"by a .localhost name", "node1.localhost:8080", "GET", "/v1/kv", nil, nil, readOnly, 200},
		{"by a configured name", "kv.internal:8080", "GET", "/v1/kv", []string{"kv.internal:8080"}, nil, readOnly, 200},
		{"by an allowed origin's host", "kv.internal:8080", "PUT", "/v1/kv/k", nil, []string{"http://kv.internal:8080"},
			[]string{"Origin", "http://kv.internal:8080"}, 200},
		{"not a browser", "attacker.example:8080", "GET", "/v1/kv", nil, nil, nil, 200},
		{"the dashboard page itself", "attacker.example:8080", "GET", "/", nil, nil, readOnly, 200},
		{"health", "attacker.example:8080", "GET", "/healthz", nil, nil, readOnly, 200},
	}
	for _, tc := range cases {
		h := New(newRecorder(), Config{MaxValue: 1 << 10, Hosts: tc.hosts, AllowedOrigins: tc.allowed})
		rec := serveReq(h, newReq(tc.method, "http://"+tc.host+tc.path, "x", tc.header...))
		if rec.Code != tc.status {
			t.Errorf("%s (Host %s): %d %s, want %d", tc.name, tc.host, rec.Code, rec.Body, tc.status)
		}
	}
	// The watch's origin check alone (what gorilla calls after the route).
	p := newOriginPolicy(nil, nil, false)
	r := newReq("GET", "http://attacker.example:8080/v1/watch", "", "Origin", "http://attacker.example:8080")
	if newUpgrader(p).CheckOrigin(r) {
		t.Error("the watch upgrader accepts a rebinding Host/Origin pair")
	}
	// With users, the same request needs credentials, and passes with them.
	h := New(newRecorder(), Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	if rec := serveReq(h, newReq("GET", "http://attacker.example:8080/v1/kv", "", readOnly...)); rec.Code != 401 {
		t.Errorf("with users, no credentials: %d", rec.Code)
	}
	if rec := serveReq(h, newReq("GET", "http://kv.example.com/v1/kv", "", append(readOnly, "Authorization", basic("reader", "reader-pw"))...)); rec.Code != 200 {
		t.Errorf("with users and credentials, under any name: %d %s", rec.Code, rec.Body)
	}
}

// TestStalledBodyIs408 sends a request whose body stops arriving: after
// the read timeout the answer is 408 in JSON, not 400.
func TestStalledBodyIs408(t *testing.T) {
	srv := NewServer("", New(newRecorder(), Config{MaxValue: 1 << 10}))
	srv.ReadTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e ErrorBody
	if resp.StatusCode != http.StatusRequestTimeout || json.NewDecoder(resp.Body).Decode(&e) != nil || e.Code != "request_timeout" {
		t.Fatalf("a stalled body: %d %+v, want 408 request_timeout", resp.StatusCode, e)
	}
}

// TestLongContentTypeIsRefused checks the stored Content-Type's limit on
// each write that stores one.
func TestLongContentTypeIsRefused(t *testing.T) {
	b := newRecorder()
	h := New(b, Config{MaxValue: 1 << 10})
	long := "text/plain; x=" + strings.Repeat("a", MaxContentType)
	for _, m := range []string{"PUT", "POST"} {
		rec := call(h, "192.0.2.1:1", m, "/v1/kv/k", "v", "Content-Type", long)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "Content-Type") {
			t.Errorf("%s with a %d-byte Content-Type: %d %s, want 400 naming it", m, len(long), rec.Code, rec.Body)
		}
	}
	if rec := call(h, "192.0.2.1:1", "POST", "/v1/kv/k?op=append", "v", "Content-Type", long); rec.Code != 400 {
		t.Errorf("an append with a long Content-Type: %d", rec.Code)
	}
	if b.wrote() != 0 {
		t.Fatalf("%d refused writes reached the node", b.wrote())
	}
	ok := strings.Repeat("a", MaxContentType)
	if rec := call(h, "192.0.2.1:1", "PUT", "/v1/kv/k", "v", "Content-Type", ok); rec.Code != 200 || b.writes[0].ContentType != ok {
		t.Errorf("a %d-byte Content-Type: %d", len(ok), rec.Code)
	}
}

// TestIfMatchIsRFC9110 checks If-Match: a well-formed tag that is not the
// current version is a 412 (never a 400), a weak tag never matches, a
// list matches when it holds the current version, and only a header that
// is not entity-tag syntax is a 400.
func TestIfMatchIsRFC9110(t *testing.T) {
	cur := `"1.2"` // the recorder's current version
	for _, tc := range []struct {
		header string
		status int
		want   string // the version the write is conditional on
	}{
		{`"foo"`, 412, ""},
		{`""`, 412, ""},
		{`W/"1.2"`, 412, ""},
		{`W/"foo"`, 412, ""},
		{`"a", "b"`, 412, ""},
		{`"9.9", "8.8"`, 412, ""},
		{cur, 200, "1.2"},
		{` ` + cur + ` `, 200, "1.2"},
		{`"9.9", ` + cur, 200, "1.2"},
		{`W/"1.2", "foo", ` + cur + `,`, 200, "1.2"},
		{`"foo",,"1.2"`, 200, "1.2"},
		{`"3.4"`, 200, "3.4"}, // one version: the node decides (412 if not current)
		{`1.2`, 400, ""},
		{`"abc`, 400, ""},
		{`"a" "b"`, 400, ""},
		{`W/x`, 400, ""},
		{`*, "a"`, 400, ""},
		{`,`, 400, ""},
		{"\"a\tb\"", 400, ""},
	} {
		b := newRecorder()
		h := New(b, Config{MaxValue: 1 << 10})
		rec := call(h, "192.0.2.1:1", "PUT", "/v1/kv/k", "v", "If-Match", tc.header)
		if rec.Code != tc.status {
			t.Errorf("If-Match %s: %d %s, want %d", tc.header, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.want != "" && (len(b.writes) != 1 || b.writes[0].IfMatch == nil || b.writes[0].IfMatch.String() != tc.want) {
			t.Errorf("If-Match %s: writes %+v, want one conditional on %s", tc.header, b.writes, tc.want)
		}
		if tc.status != 200 && b.wrote() != 0 {
			t.Errorf("If-Match %s: a refused write reached the node", tc.header)
		}
		if rec := call(h, "192.0.2.1:1", "DELETE", "/v1/kv/k", "", "If-Match", tc.header); rec.Code != tc.status && !(tc.status == 200 && rec.Code == 204) {
			t.Errorf("DELETE If-Match %s: %d, want %d", tc.header, rec.Code, tc.status)
		}
	}
	// A list of versions for a key that does not exist: 412.
	b := newRecorder()
	b.err = nil
	b.fake.entry = store.Entry{}
	h := New(&missing{b}, Config{MaxValue: 1 << 10})
	if rec := call(h, "192.0.2.1:1", "PUT", "/v1/kv/k", "v", "If-Match", `"1.1", "1.2"`); rec.Code != 412 {
		t.Errorf("a list for a missing key: %d %s", rec.Code, rec.Body)
	}
}

// missing is a recorder whose keys do not exist.
type missing struct{ *recorder }

func (m *missing) Get(context.Context, string) (store.Entry, error) {
	return store.Entry{}, wire.ErrNotFound
}

func newReq(method, target, body string, header ...string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.50:1"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

func serveReq(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
