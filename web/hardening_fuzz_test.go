package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jumpkv/jumpkv/store"
)

// fuzzMaxValue is the value limit of the router FuzzRouterKeys drives.
const fuzzMaxValue = 64

// FuzzRouterKeys sends arbitrary requests (method, request target, the
// headers the API reads, an extra header, a body) through the real router
// with a fake backend whose every call succeeds. Whatever a client sends,
// the answer is never a 5xx and never a panic, every answer names the
// node, an error answer is the JSON error body, and the key limits hold:
// a key over 1024 bytes is a 414, a body over the limit a 413.
//
// A request is first parsed by net/http's own request reader, as the
// server does; one it cannot parse never reaches the router (the server
// answers 400 itself).
func FuzzRouterKeys(f *testing.F) {
	h := New(&fake{entry: store.Entry{Key: "k", Value: []byte("value"), ContentType: "text/plain", Version: store.Version{Term: 3, Seq: 14}}},
		Config{MaxValue: fuzzMaxValue})
	f.Fuzz(func(t *testing.T, method, target, ifMatch, ifNoneMatch, contentType, extra string, body []byte) {
		raw := routerRequest(method, target, ifMatch, ifNoneMatch, contentType, extra, body)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // the server answers 400 before routing
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req) // a panic here fails the fuzz run
		code := rec.Code
		if code >= 500 {
			t.Fatalf("%s %q answered %d %s\nrequest:\n%q", req.Method, req.RequestURI, code, rec.Body, raw)
		}
		if rec.Header().Get("X-Jumpkv-Node") == "" {
			t.Fatalf("%s %q answered %d without X-Jumpkv-Node", req.Method, req.RequestURI, code)
		}
		if code >= 400 && req.Method != http.MethodHead {
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("%s %q answered %d with %q, not a JSON error", req.Method, req.RequestURI, code, rec.Body)
			}
		}
		key, isKey := strings.CutPrefix(req.URL.Path, kvPrefix)
		kvMethod := slices.Contains([]string{"GET", "HEAD", "PUT", "POST", "DELETE"}, req.Method)
		if isKey && kvMethod && len(key) > 1024 && code != http.StatusRequestURITooLong {
			t.Fatalf("%s of a %d-byte key answered %d, want 414", req.Method, len(key), code)
		}
		if isKey && key != "" && len(key) <= 1024 && (req.Method == "PUT" || req.Method == "POST") &&
			int64(len(body)) > fuzzMaxValue && code/100 == 2 {
			t.Fatalf("%s of a %d-byte body (limit %d) answered %d", req.Method, len(body), fuzzMaxValue, code)
		}
	})
}

// routerRequest builds the raw HTTP/1.1 request FuzzRouterKeys sends.
// Header values are written as given, line breaks included, so a value can
// smuggle in more header lines, as a raw client could.
func routerRequest(method, target, ifMatch, ifNoneMatch, contentType, extra string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: jumpkv\r\n", method, target)
	for _, h := range []struct{ name, value string }{
		{"If-Match", ifMatch}, {"If-None-Match", ifNoneMatch}, {"Content-Type", contentType},
	} {
		if h.value != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
		}
	}
	if extra != "" {
		fmt.Fprintf(&b, "%s\r\n", extra)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// routerSeeds are the seed corpus of FuzzRouterKeys, by file name under
// testdata/fuzz/FuzzRouterKeys: the requests the API must answer well,
// and the awkward ones.
func routerSeeds() map[string][]any {
	long := strings.Repeat("k", 1024)
	seed := func(method, target, ifMatch, ifNoneMatch, contentType, extra, body string) []any {
		return []any{method, target, ifMatch, ifNoneMatch, contentType, extra, []byte(body)}
	}
	return map[string][]any{
		"put":                        seed("PUT", "/v1/kv/greeting", "", "", "text/plain", "", "hello"),
		"put-folder-key":             seed("PUT", "/v1/kv/sensors/room1/temp", "", "", "", "", "21.5"),
		"put-unicode-escaped":        seed("PUT", "/v1/kv/caf%C3%A9/%E9%8D%B5", "", "", "", "", "ja"),
		"put-1024-byte-key":          seed("PUT", "/v1/kv/"+long, "", "", "", "", "v"),
		"put-1025-byte-key":          seed("PUT", "/v1/kv/"+long+"x", "", "", "", "", "v"),
		"get-1025-escaped-bytes":     seed("GET", "/v1/kv/"+strings.Repeat("%ff", 1025), "", "", "", "", ""),
		"put-over-max-value":         seed("PUT", "/v1/kv/k", "", "", "", "", strings.Repeat("x", fuzzMaxValue+1)),
		"put-empty-key":              seed("PUT", "/v1/kv/", "", "", "", "", "v"),
		"put-if-match":               seed("PUT", "/v1/kv/k", `"3.14"`, "", "", "", "v"),
		"put-if-match-star":          seed("PUT", "/v1/kv/k", "*", "", "", "", "v"),
		"put-if-match-unquoted":      seed("PUT", "/v1/kv/k", "3.14", "", "", "", "v"),
		"put-if-match-empty-quotes":  seed("PUT", "/v1/kv/k", `""`, "", "", "", "v"),
		"put-if-match-one-quote":     seed("PUT", "/v1/kv/k", `"`, "", "", "", "v"),
		"put-if-match-overflow":      seed("PUT", "/v1/kv/k", `"18446744073709551616.1"`, "", "", "", "v"),
		"put-if-match-list":          seed("PUT", "/v1/kv/k", `"1.2", "3.4"`, "", "", "", "v"),
		"put-if-none-match-star":     seed("PUT", "/v1/kv/k", "", "*", "", "", "v"),
		"put-if-none-match-etag":     seed("PUT", "/v1/kv/k", "", `"1.2"`, "", "", "v"),
		"get-if-none-match":          seed("GET", "/v1/kv/k", "", `"3.14"`, "", "", ""),
		"post-create":                seed("POST", "/v1/kv/once", "", "", "", "", "first"),
		"post-append":                seed("POST", "/v1/kv/k?op=append", "", "", "", "", " world"),
		"post-unknown-op":            seed("POST", "/v1/kv/k?op=zap", "", "", "", "", "v"),
		"post-op-bad-escape":         seed("POST", "/v1/kv/k?op=%zz", "", "", "", "", "v"),
		"delete-if-match":            seed("DELETE", "/v1/kv/k", `"3.14"`, "", "", "", ""),
		"head":                       seed("HEAD", "/v1/kv/k", "", "", "", "", ""),
		"list":                       seed("GET", "/v1/kv?prefix=sensors/&limit=100&after=sensors/a", "", "", "", "", ""),
		"list-negative-limit":        seed("GET", "/v1/kv?limit=-1", "", "", "", "", ""),
		"list-huge-limit":            seed("GET", "/v1/kv?limit=99999999999999999999", "", "", "", "", ""),
		"list-float-limit":           seed("GET", "/v1/kv?limit=1e9", "", "", "", "", ""),
		"list-bad-escape":            seed("GET", "/v1/kv?prefix=%ff%fe&after=%", "", "", "", "", ""),
		"key-nul":                    seed("GET", "/v1/kv/%00", "", "", "", "", ""),
		"key-invalid-utf8":           seed("PUT", "/v1/kv/%ff%fe%fd", "", "", "", "", "v"),
		"key-escaped-slash":          seed("GET", "/v1/kv/a%2Fb", "", "", "", "", ""),
		"key-dot-dot":                seed("GET", "/v1/kv/../../admin/status", "", "", "", "", ""),
		"key-double-slash":           seed("PUT", "/v1/kv//x//", "", "", "", "", "v"),
		"key-bad-escape":             seed("GET", "/v1/kv/%zz", "", "", "", "", ""),
		"absolute-form":              seed("GET", "http://other/v1/kv/k", "", "", "", "", ""),
		"asterisk":                   seed("OPTIONS", "*", "", "", "", "", ""),
		"patch":                      seed("PATCH", "/v1/kv/k", "", "", "", "", "v"),
		"connect":                    seed("CONNECT", "jumpkv:443", "", "", "", "", ""),
		"watch-bad-since":            seed("GET", "/v1/watch?prefix=a&since=zz", "", "", "", "", ""),
		"watch-not-upgrade":          seed("GET", "/v1/watch", "", "", "", "Upgrade: websocket", ""),
		"cluster":                    seed("GET", "/v1/cluster", "", "", "", "", ""),
		"status":                     seed("GET", "/admin/status", "", "", "", "", ""),
		"readyz":                     seed("GET", "/readyz", "", "", "", "", ""),
		"no-route":                   seed("GET", "/nope", "", "", "", "", ""),
		"header-smuggles-length":     seed("PUT", "/v1/kv/k", "", "", "text/plain\r\nContent-Length: 5", "", "v"),
		"transfer-encoding-chunked":  seed("PUT", "/v1/kv/k", "", "", "", "Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"),
		"chunked-over-max-value":     seed("PUT", "/v1/kv/k", "", "", "", "Transfer-Encoding: chunked", "41\r\n"+strings.Repeat("x", 65)+"\r\n0\r\n\r\n"),
		"expect-continue":            seed("PUT", "/v1/kv/k", "", "", "", "Expect: 100-continue", "v"),
		"content-type-binary":        seed("PUT", "/v1/kv/k", "", "", "\x00\xff", "", "v"),
		"lowercase-method":           seed("put", "/v1/kv/k", "", "", "", "", "v"),
		"very-long-header-value":     seed("GET", "/v1/kv/k", strings.Repeat(`"1.1",`, 2000), "", "", "", ""),
		"query-only-question-mark":   seed("GET", "/v1/kv/k?", "", "", "", "", ""),
		"fragment-in-target":         seed("GET", "/v1/kv/k#frag", "", "", "", "", ""),
		"key-of-spaces-and-percents": seed("PUT", "/v1/kv/spaces%20and%20%3Fquery%26%20%23hash%20%25percent", "", "", "", "", "v"),
	}
}

// TestRouterFuzzSeedsUpToDate checks that testdata/fuzz/FuzzRouterKeys
// holds exactly routerSeeds; with JUMPKV_WRITE_FUZZ_SEEDS=1 it rewrites
// the directory instead.
func TestRouterFuzzSeedsUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRouterKeys")
	want := make(map[string][]byte)
	for name, args := range routerSeeds() {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args { // the format of the testing package
			switch a := a.(type) {
			case string:
				fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(a))
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
			}
		}
		want[name] = b.Bytes()
	}
	have := make(map[string][]byte)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		have[e.Name()] = b
	}
	var stale []string
	for name, b := range want {
		if !bytes.Equal(have[name], b) {
			stale = append(stale, name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		return
	}
	slices.Sort(stale)
	if os.Getenv("JUMPKV_WRITE_FUZZ_SEEDS") != "1" {
		t.Fatalf("%s is out of date with routerSeeds (%s); rewrite it with\n  JUMPKV_WRITE_FUZZ_SEEDS=1 go test -run=TestRouterFuzzSeedsUpToDate ./web\n"+
			"(which deletes files routerSeeds does not generate: add an input a fuzzer found to routerSeeds first)", dir, strings.Join(stale, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		path := filepath.Join(dir, name)
		if b, ok := want[name]; ok {
			err = os.WriteFile(path, b, 0o644)
		} else {
			err = os.Remove(path)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("rewrote %d files of %s", len(stale), dir)
}
