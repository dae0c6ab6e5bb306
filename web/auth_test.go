package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// recorder is a fake backend that records what reaches it.
type recorder struct {
	*fake
	mu     sync.Mutex
	writes []wire.WriteOp
	lists  []string
}

func newRecorder() *recorder {
	return &recorder{fake: &fake{entry: store.Entry{Key: "k", Value: []byte("v"), ContentType: "text/plain",
		Version: store.Version{Term: 1, Seq: 2}}}}
}

func (r *recorder) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	r.mu.Lock()
	r.writes = append(r.writes, op)
	r.mu.Unlock()
	return r.fake.Write(ctx, op)
}

func (r *recorder) List(_ context.Context, prefix, _ string, _ int) ([]string, string, error) {
	r.mu.Lock()
	r.lists = append(r.lists, prefix)
	r.mu.Unlock()
	return []string{}, "", nil
}

func (r *recorder) wrote() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// testGuard returns a guard over the users of the tests: admin
// (readwrite), reader (read), app (readwrite under app/) and appread (read
// under app/); every password is "<name>-pw".
func testGuard(t testing.TB, lim *auth.Limiter) *auth.Guard {
	t.Helper()
	var file strings.Builder
	for _, u := range []string{"admin:readwrite", "reader:read", "app:readwrite:app/", "appread:read:app/"} {
		name, rest, _ := strings.Cut(u, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(name + ":" + string(h) + ":" + rest + "\n")
	}
	users, err := auth.Parse(strings.NewReader(file.String()), "users", auth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(users, lim)
}

func basic(name, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))
}

// call sends one request from remote (an ip:port) through h.
func call(h http.Handler, remote, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("%d %q: not a JSON error body", rec.Code, rec.Body)
	}
	return e.Code
}

// TestAuthStatuses runs each kind of request against a node with users:
// 401 with a challenge for missing or wrong credentials, 403 for a role or
// prefix that does not allow the request, and the open routes open.
func TestAuthStatuses(t *testing.T) {
	b := newRecorder()
	h := New(b, Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	const ip = "192.0.2.10:1000"
	cases := []struct {
		name, method, path string
		header             []string
		status             int
		code               string
	}{
		{"no credentials", "GET", "/v1/kv/k", nil, 401, "unauthorized"},
		{"no credentials, write", "PUT", "/v1/kv/k", nil, 401, "unauthorized"},
		{"no credentials, list", "GET", "/v1/kv", nil, 401, "unauthorized"},
		{"no credentials, cluster", "GET", "/v1/cluster", nil, 401, "unauthorized"},
		{"no credentials, status", "GET", "/admin/status", nil, 401, "unauthorized"},
		{"no credentials, placement", "GET", "/v1/placement", nil, 401, "unauthorized"},
		{"no credentials, watch", "GET", "/v1/watch", nil, 401, "unauthorized"},
		{"no credentials, unknown route", "GET", "/nope", nil, 401, "unauthorized"},
		{"wrong password", "GET", "/v1/kv/k", []string{"Authorization", basic("admin", "nope")}, 401, "unauthorized"},
		{"unknown user", "GET", "/v1/kv/k", []string{"Authorization", basic("mallory", "admin-pw")}, 401, "unauthorized"},
		{"bad scheme", "GET", "/v1/kv/k", []string{"Authorization", "Digest x"}, 401, "unauthorized"},
		{"bad basic", "GET", "/v1/kv/k", []string{"Authorization", "Basic !!!"}, 401, "unauthorized"},
		{"bearer without colon", "GET", "/v1/kv/k", []string{"Authorization", "Bearer admin"}, 401, "unauthorized"},
		{"bearer wrong", "GET", "/v1/kv/k", []string{"Authorization", "Bearer admin:nope"}, 401, "unauthorized"},
		{"bad cookie", "GET", "/v1/kv/k", []string{"Cookie", sessionCookie + "=forged.1.x"}, 401, "unauthorized"},

		{"admin reads", "GET", "/v1/kv/k", []string{"Authorization", basic("admin", "admin-pw")}, 200, ""},
		{"admin writes", "PUT", "/v1/kv/k", []string{"Authorization", basic("admin", "admin-pw")}, 200, ""},
		{"admin deletes", "DELETE", "/v1/kv/k", []string{"Authorization", "Bearer admin:admin-pw"}, 204, ""},
		{"bearer reads", "GET", "/v1/kv/k", []string{"Authorization", "Bearer reader:reader-pw"}, 200, ""},
		{"basic scheme in lower case", "GET", "/v1/kv/k", []string{"Authorization", "basic " + strings.TrimPrefix(basic("reader", "reader-pw"), "Basic ")}, 200, ""},
		{"reader cluster", "GET", "/v1/cluster", []string{"Authorization", basic("reader", "reader-pw")}, 200, ""},
		{"reader status", "GET", "/admin/status", []string{"Authorization", basic("reader", "reader-pw")}, 200, ""},
		{"reader writes", "PUT", "/v1/kv/k", []string{"Authorization", basic("reader", "reader-pw")}, 403, "forbidden"},
		{"reader creates", "POST", "/v1/kv/k", []string{"Authorization", basic("reader", "reader-pw")}, 403, "forbidden"},
		{"reader appends", "POST", "/v1/kv/k?op=append", []string{"Authorization", basic("reader", "reader-pw")}, 403, "forbidden"},
		{"reader deletes", "DELETE", "/v1/kv/k", []string{"Authorization", basic("reader", "reader-pw")}, 403, "forbidden"},
		{"prefix user in", "PUT", "/v1/kv/app/k", []string{"Authorization", basic("app", "app-pw")}, 200, ""},
		{"prefix user out", "PUT", "/v1/kv/other/k", []string{"Authorization", basic("app", "app-pw")}, 403, "forbidden"},
		{"prefix user reads out", "GET", "/v1/kv/other/k", []string{"Authorization", basic("app", "app-pw")}, 403, "forbidden"},
		{"prefix user reads out, HEAD", "HEAD", "/v1/kv/other/k", []string{"Authorization", basic("app", "app-pw")}, 403, ""},
		{"prefix reader writes in", "PUT", "/v1/kv/app/k", []string{"Authorization", basic("appread", "appread-pw")}, 403, "forbidden"},
		{"prefix reader lists out", "GET", "/v1/kv?prefix=other/", []string{"Authorization", basic("appread", "appread-pw")}, 403, "forbidden"},

		{"healthz open", "GET", "/healthz", nil, 200, ""},
		{"readyz open", "GET", "/readyz", nil, 200, ""},
		{"dashboard open", "GET", "/", nil, 200, ""},
		{"dashboard file open", "GET", "/ui/app.js", nil, 200, ""},
		{"session open", "GET", "/ui/session", nil, 200, ""},
	}
	for _, tc := range cases {
		before := b.wrote()
		rec := call(h, ip, tc.method, tc.path, "v", tc.header...)
		if rec.Code != tc.status {
			t.Errorf("%s: %s %s answered %d %s, want %d", tc.name, tc.method, tc.path, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.code != "" {
			if code := errorCode(t, rec); code != tc.code {
				t.Errorf("%s: code %q, want %q", tc.name, code, tc.code)
			}
		}
		if tc.status == 401 && rec.Header().Get("WWW-Authenticate") != `Basic realm="jumpkv"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, rec.Header().Get("WWW-Authenticate"))
		}
		if tc.status >= 400 && b.wrote() != before {
			t.Errorf("%s: a refused request reached the backend", tc.name)
		}
	}
	// The dashboard's own requests get a challenge browsers do not answer
	// with their password dialog.
	rec := call(h, ip, "GET", "/v1/cluster", "", dashboardHeader, "1")
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Session realm="jumpkv"` {
		t.Errorf("a dashboard request: %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestNoUsersNoChange checks a node without --users serves every route
// without credentials, as before.
func TestNoUsersNoChange(t *testing.T) {
	h := New(newRecorder(), Config{MaxValue: 1 << 10})
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/v1/kv/k", 200}, {"PUT", "/v1/kv/k", 200}, {"DELETE", "/v1/kv/k", 204}, {"GET", "/v1/kv", 200}, {"GET", "/v1/cluster", 200}} {
		if rec := call(h, "192.0.2.1:1", tc.method, tc.path, "v"); rec.Code != tc.status {
			t.Errorf("%s %s without users: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	if rec := call(h, "192.0.2.1:1", "GET", "/ui/session", ""); !strings.Contains(rec.Body.String(), `"auth":false`) {
		t.Errorf("session without users: %s", rec.Body)
	}
}

// TestListingIsScopedToThePrefix checks a prefix user's listings reach the
// backend narrowed to its keys.
func TestListingIsScopedToThePrefix(t *testing.T) {
	b := newRecorder()
	h := New(b, Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	for q, want := range map[string]string{"": "app/", "?prefix=a": "app/", "?prefix=app/x/": "app/x/"} {
		b.lists = nil
		if rec := call(h, "192.0.2.1:1", "GET", "/v1/kv"+q, "", "Authorization", basic("appread", "appread-pw")); rec.Code != 200 {
			t.Fatalf("list %q: %d %s", q, rec.Code, rec.Body)
		}
		if len(b.lists) != 1 || b.lists[0] != want {
			t.Errorf("list %q reached the backend as %q, want %q", q, b.lists, want)
		}
	}
	b.lists = nil
	if rec := call(h, "192.0.2.1:1", "GET", "/v1/kv", "", "Authorization", basic("admin", "admin-pw")); rec.Code != 200 || b.lists[0] != "" {
		t.Errorf("an unlimited user's listing: %d %q", rec.Code, b.lists)
	}
}

// login posts the dashboard's login form.
func login(h http.Handler, remote, name, password string, header ...string) *httptest.ResponseRecorder {
	form := url.Values{"name": {name}, "password": {password}}.Encode()
	return call(h, remote, "POST", "/ui/login", form, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

// TestLoginSessionLogout logs in with the form, uses the cookie, reads the
// session, and logs out.
func TestLoginSessionLogout(t *testing.T) {
	h := New(newRecorder(), Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	const ip = "192.0.2.20:1"
	if rec := login(h, ip, "app", "wrong"); rec.Code != 401 || errorCode(t, rec) != "unauthorized" {
		t.Fatalf("a wrong login: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, ip, "POST", "/ui/login", "", "Content-Type", "application/x-www-form-urlencoded"); rec.Code != 400 {
		t.Fatalf("an empty login form: %d %s", rec.Code, rec.Body)
	}
	rec := login(h, ip, "app", "app-pw")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"name":"app"`) || !strings.Contains(rec.Body.String(), `"prefix":"app/"`) {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge <= 0 || ck.Value == "" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, with an expiry", ck)
	}
	if strings.Contains(ck.Value, "app-pw") {
		t.Fatal("the cookie holds the password")
	}
	cookie := sessionCookie + "=" + ck.Value
	if rec := call(h, ip, "PUT", "/v1/kv/app/k", "v", "Cookie", cookie); rec.Code != 200 {
		t.Fatalf("a write with the session: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, ip, "PUT", "/v1/kv/other", "v", "Cookie", cookie); rec.Code != 403 {
		t.Fatalf("a write outside the prefix with the session: %d %s", rec.Code, rec.Body)
	}
	if rec := call(h, ip, "GET", "/ui/session", "", "Cookie", cookie); !strings.Contains(rec.Body.String(), `"user":{"name":"app"`) {
		t.Fatalf("session: %s", rec.Body)
	}
	if rec := call(h, ip, "GET", "/ui/session", ""); !strings.Contains(rec.Body.String(), `"auth":true,"user":null`) {
		t.Fatalf("session without a cookie: %s", rec.Body)
	}
	rec = call(h, ip, "POST", "/ui/logout", "", "Cookie", cookie)
	if rec.Code != 204 || !strings.Contains(rec.Header().Get("Set-Cookie"), sessionCookie+"=;") || !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	// Another node's (another process's) session key does not accept it.
	other := New(newRecorder(), Config{MaxValue: 1 << 10, Auth: testGuard(t, nil)})
	if rec := call(other, ip, "GET", "/v1/kv/app/k", "", "Cookie", cookie); rec.Code != 401 {
		t.Fatalf("a session from another process: %d", rec.Code)
	}
	if rec := login(New(newRecorder(), Config{MaxValue: 1}), ip, "app", "app-pw"); rec.Code != 400 {
		t.Fatalf("a login without users: %d %s", rec.Code, rec.Body)
	}
}

// TestFailedLoginsAreRateLimited fails from one client until it is told to
// wait (429 with Retry-After), on the form and on the API alike, while
// another client is unaffected.
func TestFailedLoginsAreRateLimited(t *testing.T) {
	g := testGuard(t, auth.NewLimiter(auth.LimiterConfig{Burst: 3, Refill: time.Minute, MaxClients: 100}))
	h := New(newRecorder(), Config{MaxValue: 1 << 10, Auth: g})
	const ip = "192.0.2.30:1111"
	for i := range 3 {
		if rec := login(h, ip, "admin", "guess"); rec.Code != 401 {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	for _, rec := range []*httptest.ResponseRecorder{
		login(h, ip, "admin", "admin-pw"),
		call(h, "192.0.2.30:2222", "GET", "/v1/kv/k", "", "Authorization", basic("admin", "admin-pw")), // same IP, other port
	} {
		if rec.Code != 429 || errorCode(t, rec) != "rate_limited" {
			t.Fatalf("a blocked client: %d %s, want 429", rec.Code, rec.Body)
		}
		if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q, want 1 to 60 seconds", rec.Header().Get("Retry-After"))
		}
	}
	if rec := login(h, "192.0.2.31:1", "admin", "admin-pw"); rec.Code != 200 {
		t.Fatalf("another client: %d %s", rec.Code, rec.Body)
	}
}

// TestPasswordsAreNotLogged fails logins and makes a handler panic with
// credentials attached: the log never shows a password.
func TestPasswordsAreNotLogged(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	b := newRecorder()
	b.panic = true
	h := New(b, Config{MaxValue: 1 << 10, Auth: testGuard(t, nil),
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	login(h, "192.0.2.40:1", "admin", "secret-guess-1")
	call(h, "192.0.2.40:1", "GET", "/v1/kv/k", "", "Authorization", basic("admin", "admin-pw"))
	call(h, "192.0.2.40:1", "GET", "/v1/kv/k", "", "Authorization", "Bearer admin:secret-guess-2")
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "handler panic") {
		t.Fatalf("the panic was not logged: %q", logs.String())
	}
	for _, secret := range []string{"admin-pw", "secret-guess", base64.StdEncoding.EncodeToString([]byte("admin:admin-pw"))} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log shows %q:\n%s", secret, logs.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
