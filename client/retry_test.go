package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

// fakeNode is an HTTP server whose answers a test scripts; it records
// every request it got.
type fakeNode struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	answer   func(n int, w http.ResponseWriter, r *http.Request) // n: requests so far, this one included
}

type recorded struct {
	method, uri string
	header      http.Header
	body        string
}

func newFakeNode(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *fakeNode {
	t.Helper()
	f := &fakeNode{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{r.Method, r.RequestURI, r.Header.Clone(), string(body)})
	n := len(f.requests)
	answer := f.answer
	f.mu.Unlock()
	w.Header().Set("X-Jumpkv-Node", "1")
	answer(n, w, r)
}

// setAnswer replaces the script.
func (f *fakeNode) setAnswer(answer func(n int, w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func (f *fakeNode) got() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// jsonError answers status with the API's error body.
func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"code":%q}`, msg, code)
}

// hangUp reads the request and closes the connection without answering:
// a node that died after the request reached it.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// deadEndpoint returns the URL of a port nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func newClient(t *testing.T, endpoints []string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(endpoints, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// quick retries fast, for tests that do not measure waiting.
var quick = client.WithRetry(client.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})

// TestRetryHonoursRetryAfter: a 503 with Retry-After: 1 is retried no
// sooner than a second later (and not much later), for a read and for an
// append alike (a 503 means the server did not perform it).
func TestRetryHonoursRetryAfter(t *testing.T) {
	f := newFakeNode(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n%2 == 1 {
			w.Header().Set("Retry-After", "1")
			jsonError(w, 503, "no_leader", "no leader")
			return
		}
		if r.Method == http.MethodPost {
			w.Header().Set("ETag", `"2.1"`)
			fmt.Fprint(w, `{"key":"k","version":"2.1"}`)
			return
		}
		w.Header().Set("ETag", `"1.1"`)
		fmt.Fprint(w, "v")
	})
	c := newClient(t, []string{f.URL})
	start := time.Now()
	v, err := c.Get(t.Context(), "k")
	took := time.Since(start)
	if err != nil || string(v.Data) != "v" || v.Version != "1.1" {
		t.Fatalf("Get after a 503: %+v %v", v, err)
	}
	if took < time.Second || took > 1500*time.Millisecond {
		t.Fatalf("retried after %v, want Retry-After's 1s plus at most a quarter", took)
	}
	if ver, err := c.Append(t.Context(), "k", []byte("x")); err != nil || ver != "2.1" {
		t.Fatalf("Append after a 503: %q %v", ver, err)
	}
	got := f.got()
	if len(got) != 4 || got[2].method != http.MethodPost || got[3].method != http.MethodPost {
		t.Fatalf("requests %+v, want GET twice then POST twice", got)
	}
}

// TestRetriesAreBounded: a cluster that keeps answering 503 gets
// MaxAttempts requests, then the caller gets ErrUnavailable with the
// server's words.
func TestRetriesAreBounded(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		jsonError(w, 503, "no_leader", "no leader elected yet")
	})
	c := newClient(t, []string{f.URL}, client.WithRetry(client.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}))
	start := time.Now()
	_, err := c.Put(t.Context(), "k", []byte("v"))
	var e *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &e) || e.Status != 503 || e.Code != "no_leader" ||
		!strings.Contains(err.Error(), "no leader elected yet") {
		t.Fatalf("err %v, want ErrUnavailable with the server's words", err)
	}
	if n := len(f.got()); n != 3 {
		t.Fatalf("%d requests, want MaxAttempts = 3", n)
	}
	// MaxRetryAfter 0 ignores Retry-After: no second-long waits.
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("took %v with Retry-After ignored", took)
	}
}

// TestContextDeadlineCutsRetries: a wait that would outlast the caller's
// deadline is not started.
func TestContextDeadlineCutsRetries(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "5")
		jsonError(w, 503, "unavailable", "too few replicas")
	})
	c := newClient(t, []string{f.URL})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "k")
	if !errors.Is(err, client.ErrUnavailable) || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("err %v after %v, want ErrUnavailable at once", err, time.Since(start))
	}
}

// TestFailoverToTheNextEndpoint: a dead first endpoint costs one refused
// connection, then requests go to the next one at once and stay there.
func TestFailoverToTheNextEndpoint(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "v") })
	var logs syncBuffer
	c := newClient(t, []string{deadEndpoint(t), f.URL},
		client.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	start := time.Now()
	for range 3 {
		if v, err := c.Get(t.Context(), "k"); err != nil || string(v.Data) != "v" {
			t.Fatalf("Get: %v %v", v, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("3 reads took %v: the failover waited", took)
	}
	if n := strings.Count(logs.String(), "failing over"); n != 1 {
		t.Fatalf("%d failovers for 3 reads, want 1 (the client stays on the endpoint that answers):\n%s", n, logs.String())
	}
	// Writes fail over too: the dead node never saw them.
	c2 := newClient(t, []string{deadEndpoint(t), f.URL})
	f.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(201)
		fmt.Fprint(w, `{"key":"k","version":"3.1"}`)
	})
	if v, err := c2.Create(t.Context(), "k", []byte("v")); err != nil || v != "3.1" {
		t.Fatalf("Create past a dead endpoint: %q %v", v, err)
	}
}

// TestAllEndpointsDown: ErrUnavailable wrapping ErrNoEndpoint and the
// dial error, after MaxAttempts.
func TestAllEndpointsDown(t *testing.T) {
	c := newClient(t, []string{deadEndpoint(t), deadEndpoint(t)}, quick)
	_, err := c.Get(t.Context(), "k")
	var op *net.OpError
	if !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, client.ErrNoEndpoint) || !errors.As(err, &op) {
		t.Fatalf("err %v, want ErrUnavailable, ErrNoEndpoint and the dial error", err)
	}
}

// TestNoSilentReplayOfWrites: a write whose connection dies after it was
// sent, or that gets a 504, is reported as ErrUnknownOutcome and sent only
// once; a read in the same situation is retried.
func TestNoSilentReplayOfWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter)
	}{
		{"connection dropped", hangUp},
		{"504", func(w http.ResponseWriter) { jsonError(w, 504, "unknown_outcome", "the primary did not answer") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 || r.Method != http.MethodGet {
					tc.fault(w)
					return
				}
				fmt.Fprint(w, "v")
			})
			c := newClient(t, []string{f.URL, f.URL}, quick)
			if v, err := c.Get(t.Context(), "k"); err != nil || string(v.Data) != "v" {
				t.Fatalf("Get after a %s: %v %v (reads are retried)", tc.name, v, err)
			}
			writes := []struct {
				name string
				do   func() error
			}{
				{"Append", func() error { _, err := c.Append(t.Context(), "k", []byte("x")); return err }},
				{"Create", func() error { _, err := c.Create(t.Context(), "k", []byte("x")); return err }},
				{"Put", func() error { _, err := c.Put(t.Context(), "k", []byte("x")); return err }},
				{"Delete", func() error { return c.Delete(t.Context(), "k") }},
			}
			for _, w := range writes {
				before := len(f.got())
				err := w.do()
				if !errors.Is(err, client.ErrUnknownOutcome) {
					t.Errorf("%s after a %s: %v, want ErrUnknownOutcome", w.name, tc.name, err)
				}
				if sent := len(f.got()) - before; sent != 1 {
					t.Errorf("%s after a %s was sent %d times, want once", w.name, tc.name, sent)
				}
			}
		})
	}
}

// TestErrorsByStatus: each status is its sentinel, with the server's
// message and code, and nothing but 503/429/408 (and 504 on reads) is
// retried.
func TestErrorsByStatus(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{400, "bad_request", client.ErrBadRequest}, {401, "unauthorized", client.ErrUnauthorized},
		{403, "forbidden", client.ErrForbidden}, {404, "not_found", client.ErrNotFound},
		{409, "exists", client.ErrExists}, {412, "precondition_failed", client.ErrPrecondition},
		{413, "too_large", client.ErrTooLarge}, {414, "key_too_long", client.ErrKeyTooLong},
		{507, "insufficient_storage", client.ErrInsufficientStorage}, {500, "internal", client.ErrServer},
		{429, "too_many_requests", client.ErrUnavailable}, {408, "timeout", client.ErrUnavailable},
		{503, "unavailable", client.ErrUnavailable}, {504, "unknown_outcome", client.ErrUnknownOutcome},
	}
	for _, tc := range cases {
		f := newFakeNode(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			jsonError(w, tc.status, tc.code, "words for "+tc.code)
		})
		c := newClient(t, []string{f.URL}, quick)
		_, err := c.Put(t.Context(), "k", []byte("v"))
		var e *client.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code ||
			e.Message != "words for "+tc.code || e.Endpoint != f.URL || !strings.Contains(err.Error(), "words for "+tc.code) {
			t.Errorf("status %d: %v (%+v), want %v with the server's words", tc.status, err, e, tc.want)
		}
		retried := tc.status == 503 || tc.status == 429 || tc.status == 408
		if n := len(f.got()); (n > 1) != retried {
			t.Errorf("status %d: %d requests (retried: want %v)", tc.status, n, retried)
		}
		// A status with a body that is not JSON keeps the text.
		f.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) { http.Error(w, "plain words", tc.status) })
		want := tc.want
		if tc.status == 504 {
			want = client.ErrUnavailable // a read retried until the attempts ran out
		}
		if _, err := c.Get(t.Context(), "k"); !errors.Is(err, want) || !strings.Contains(err.Error(), "plain words") {
			t.Errorf("status %d to a read, with a text body: %v, want %v", tc.status, err, want)
		}
	}
}

// TestRequestsAsTheAPIWantsThem checks what goes on the wire: paths with
// escaped keys, conditions as entity tags, the ttl parameter, credentials.
func TestRequestsAsTheAPIWantsThem(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			w.WriteHeader(204)
		case http.MethodPost:
			if r.URL.Query().Get("op") == "" {
				w.WriteHeader(201)
			}
			fmt.Fprint(w, `{"key":"k","version":"7.7"}`)
		default:
			w.Header().Set("ETag", `"7.7"`)
			fmt.Fprint(w, `{"key":"k","version":"7.7"}`)
		}
	})
	c := newClient(t, []string{f.URL + "/"}, client.WithBasicAuth("ann", "s3cret:x"))
	ctx := t.Context()
	key := "room 1/a?b#c/%/../é"
	mustOK := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(c.Put(ctx, key, []byte("v1"), client.ContentType("text/plain"), client.IfMatch("3.4"), client.TTL(1500*time.Millisecond)))
	mustOK(c.Put(ctx, "k", nil, client.IfNoneMatch()))
	mustOK(c.Create(ctx, "k", []byte("v2"), client.TTL(time.Minute)))
	mustOK(c.Append(ctx, "k", []byte("v3"), client.IfMatch(`"5.5"`)))
	if err := c.Delete(ctx, "k", client.IfMatch("6.6")); err != nil {
		t.Fatal(err)
	}
	got := f.got()
	want := []struct{ method, uri, ifMatch, ifNoneMatch, ct, body string }{
		{"PUT", "/v1/kv/room%201/a%3Fb%23c/%25/%2E%2E/%C3%A9?ttl=2", `"3.4"`, "", "text/plain", "v1"},
		{"PUT", "/v1/kv/k", "", "*", "", ""},
		{"POST", "/v1/kv/k?ttl=60", "", "", "", "v2"},
		{"POST", "/v1/kv/k?op=append", `"5.5"`, "", "", "v3"},
		{"DELETE", "/v1/kv/k", `"6.6"`, "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.uri != w.uri || g.header.Get("If-Match") != w.ifMatch ||
			g.header.Get("If-None-Match") != w.ifNoneMatch || g.header.Get("Content-Type") != w.ct || g.body != w.body {
			t.Errorf("request %d: %s %s If-Match %q If-None-Match %q Content-Type %q body %q; want %+v",
				i, g.method, g.uri, g.header.Get("If-Match"), g.header.Get("If-None-Match"), g.header.Get("Content-Type"), g.body, w)
		}
		if user, pass, ok := (&http.Request{Header: g.header}).BasicAuth(); !ok || user != "ann" || pass != "s3cret:x" {
			t.Errorf("request %d: credentials %q %q %v", i, user, pass, ok)
		}
	}
	// Mistakes caught before sending.
	for name, err := range map[string]error{
		"empty key":             func() error { _, err := c.Get(ctx, ""); return err }(),
		"TTL under 1s":          func() error { _, err := c.Put(ctx, "k", nil, client.TTL(time.Millisecond)); return err }(),
		"IfNoneMatch on Create": func() error { _, err := c.Create(ctx, "k", nil, client.IfNoneMatch()); return err }(),
		"ContentType on Delete": c.Delete(ctx, "k", client.ContentType("x")),
		"both conditions": func() error {
			_, err := c.Put(ctx, "k", nil, client.IfMatch("1.1"), client.IfNoneMatch())
			return err
		}(),
	} {
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
	if n := len(f.got()); n != len(want) {
		t.Errorf("the mistakes were sent: %d requests", n)
	}
}

// TestNewRefusesBadSettings: each mistake is named.
func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		endpoints []string
		opts      []client.Option
		want      string
	}{
		{nil, nil, "no endpoint"},
		{[]string{""}, nil, "empty endpoint"},
		{[]string{"ftp://x:21"}, nil, "http:// or https://"},
		{[]string{"http://x:1/v1"}, nil, "no path"},
		{[]string{"x:1"}, []client.Option{client.WithTimeout(0)}, "WithTimeout"},
		{[]string{"x:1"}, []client.Option{client.WithRetry(client.RetryPolicy{})}, "MaxAttempts"},
		{[]string{"x:1"}, []client.Option{client.WithRetry(client.RetryPolicy{MaxAttempts: 1, BaseDelay: 2, MaxDelay: 1})}, "MaxDelay"},
		{[]string{"x:1"}, []client.Option{client.WithBasicAuth("a:b", "c")}, "':'"},
	} {
		if _, err := client.New(tc.endpoints, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q): %v, want an error naming %q", tc.endpoints, err, tc.want)
		}
	}
	c, err := client.New([]string{"127.0.0.1:8080", "https://h:1/"})
	if err != nil || strings.Join(c.Endpoints(), " ") != "http://127.0.0.1:8080 https://h:1" {
		t.Fatalf("endpoints %v %v", c.Endpoints(), err)
	}
	if c.Close() != nil || c.Close() != nil {
		t.Fatal("Close twice")
	}
}

// TestTLS: WithTLS verifies the node's certificate with the CA given;
// without it the certificate error is returned at once, not retried.
func TestTLS(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "secret")
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := newClient(t, []string{srv.URL}, client.WithTLS(&tls.Config{RootCAs: pool}))
	if v, err := c.Get(t.Context(), "k"); err != nil || string(v.Data) != "secret" {
		t.Fatalf("Get over TLS: %v %v", v, err)
	}
	plain := newClient(t, []string{srv.URL})
	start := time.Now()
	_, err := plain.Get(t.Context(), "k")
	var unknown x509.UnknownAuthorityError
	var e *client.Error
	if !errors.As(err, &e) || !errors.As(err, &unknown) && !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("a certificate error was retried for %v", time.Since(start))
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests served", hits.Load())
	}
}

// TestListWalksEveryPage: List yields all pages' keys in order and stops
// fetching when the loop stops.
func TestListWalksEveryPage(t *testing.T) {
	keys := []string{"a/1", "a/2", "a/3", "a/4", "a/5"}
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("prefix") != "a/" || q.Get("limit") != "2" {
			jsonError(w, 400, "bad_request", "unexpected query "+r.URL.RawQuery)
			return
		}
		i := 0
		for i < len(keys) && keys[i] <= q.Get("after") {
			i++
		}
		page := keys[i:min(i+2, len(keys))]
		next := ""
		if i+2 < len(keys) {
			next = page[len(page)-1]
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"keys":["%s"]`, strings.Join(page, `","`))
		if next != "" {
			fmt.Fprintf(w, `,"next":%q`, next)
		}
		fmt.Fprint(w, "}")
	})
	c := newClient(t, []string{f.URL})
	var got []string
	for k, err := range c.List(t.Context(), "a/", client.PageSize(2)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if strings.Join(got, " ") != strings.Join(keys, " ") || len(f.got()) != 3 {
		t.Fatalf("listed %v in %d requests", got, len(f.got()))
	}
	before := len(f.got())
	for k := range c.List(t.Context(), "a/", client.PageSize(2), client.After("a/1")) {
		if k != "a/2" {
			t.Fatalf("after a/1 came %q", k)
		}
		break
	}
	if len(f.got())-before != 1 {
		t.Fatalf("a loop that stopped at once fetched %d pages", len(f.got())-before)
	}
	for _, err := range c.List(t.Context(), "a/", client.PageSize(0)) {
		if !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("PageSize(0): %v", err)
		}
	}
	f.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) { jsonError(w, 403, "forbidden", "not yours") })
	n := 0
	for _, err := range c.List(t.Context(), "a/") {
		n++
		if !errors.Is(err, client.ErrForbidden) {
			t.Fatalf("a refused listing: %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("a refused listing yielded %d times", n)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGetReaderStreams: GetReader hands over the open body with the
// value's attributes; Get refuses to buffer an answer past its bound,
// without retrying it.
func TestGetReaderStreams(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/kv/big":
			w.Header().Set("Content-Length", "70000000") // more than Get buffers; never sent
			w.WriteHeader(200)
		case "/v1/kv/file":
			w.Header().Set("ETag", `"4.2"`)
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("X-Jumpkv-Expires", "2030-01-02T03:04:05Z")
			fmt.Fprint(w, "%PDF streamed")
		default:
			jsonError(w, 404, "not_found", "no such key")
		}
	})
	c := newClient(t, []string{f.URL}, client.WithTimeout(time.Second))
	r, err := c.GetReader(t.Context(), "file")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(body) != "%PDF streamed" || r.Version != "4.2" || r.ContentType != "application/pdf" ||
		r.Size != int64(len(body)) || !r.Expires.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("GetReader: %q %v %+v", body, err, r)
	}
	if _, err := c.GetReader(t.Context(), "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GetReader of a missing key: %v", err)
	}
	before := len(f.got())
	if _, err := c.Get(t.Context(), "big"); err == nil || !strings.Contains(err.Error(), "GetReader") {
		t.Fatalf("Get of a 70 MB answer: %v", err)
	}
	if n := len(f.got()) - before; n != 1 {
		t.Fatalf("an answer too large was fetched %d times", n)
	}
}

// TestCanceledBeforeSending: a write whose context ended before it was
// sent is not an unknown outcome, and nothing is sent.
func TestCanceledBeforeSending(t *testing.T) {
	f := newFakeNode(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	c := newClient(t, []string{f.URL})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Append(ctx, "k", []byte("x"))
	if errors.Is(err, client.ErrUnknownOutcome) || !errors.Is(err, context.Canceled) || len(f.got()) != 0 {
		t.Fatalf("Append with a canceled context: %v, %d requests", err, len(f.got()))
	}
}
