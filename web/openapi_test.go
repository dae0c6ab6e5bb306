package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsFake is a fake backend with a metrics registry, so that the
// router has every route.
type metricsFake struct{ *fake }

func (metricsFake) Metrics() *prometheus.Registry { return prometheus.NewRegistry() }

// TestOpenAPIServed checks GET /v1/openapi.yaml: the embedded description,
// as YAML, a valid OpenAPI 3 document, revalidated with its ETag.
func TestOpenAPIServed(t *testing.T) {
	h := ValidateAPI(t, New(&fake{}, Config{MaxValue: 16}))
	rec := serve(h, http.MethodGet, "/v1/openapi.yaml", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" || rec.Body.String() != string(openAPIYAML) {
		t.Fatalf("GET /v1/openapi.yaml: %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil || doc.Validate(t.Context()) != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("the served description does not load as OpenAPI 3: %v", err)
	}
	if rec := serve(h, http.MethodGet, "/v1/openapi.yaml", "", "If-None-Match", rec.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Fatalf("with its ETag: %d, want 304", rec.Code)
	}
}

// ginParam is a gin path parameter (":id").
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestOpenAPIDescribesEveryRoute: every route the router serves is an
// operation of the description, and every operation a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	engine := New(metricsFake{&fake{}}, Config{MaxValue: 16}).(*gin.Engine)
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		path := ginParam.ReplaceAllString(r.Path, "{$1}") // /members/:id → /members/{id}
		for _, rp := range restPaths {
			if strings.HasPrefix(path, rp.prefix+"*") {
				path = rp.template
			}
		}
		served[r.Method+" "+path] = true
		item := ct.doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s %s is served but not described in openapi.yaml", r.Method, r.Path)
		}
	}
	// GET /ui/session shares the /ui/ wildcard's route (dashboard.go).
	served["GET /ui/session"] = served["GET /ui/{file}"]
	for path, item := range ct.doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which the router does not serve", method, path)
			}
		}
	}
}

// TestOpenAPIValidatorCatchesDrift feeds the validator answers that
// depart from the description, one way each: every one is caught.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	id := http.Header{"X-Jumpkv-Node": {"7"}, "X-Jumpkv-Leader": {"9"}, "Content-Type": {"application/json; charset=utf-8"}}
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				h.Del(kv[i])
			} else {
				h.Set(kv[i], kv[i+1])
			}
		}
		return h
	}
	written := with(id, "ETag", `"1.2"`)
	cases := []struct {
		name           string
		method, target string
		reqHeader      http.Header
		status         int
		header         http.Header
		body           string
		ok             bool
	}{
		{"a described write", "PUT", "/v1/kv/a/b", nil, 200, written, `{"key":"a/b","version":"1.2"}`, true},
		{"a status not described", "PUT", "/v1/kv/a/b", nil, 202, written, `{"key":"a/b","version":"1.2"}`, false},
		{"a field not described", "PUT", "/v1/kv/a/b", nil, 200, written, `{"key":"a/b","version":"1.2","extra":1}`, false},
		{"a field missing", "PUT", "/v1/kv/a/b", nil, 200, written, `{"key":"a/b"}`, false},
		{"no X-Jumpkv-Node", "PUT", "/v1/kv/a/b", nil, 200, with(written, "X-Jumpkv-Node", ""), `{"key":"a/b","version":"1.2"}`, false},
		{"no ETag on a write", "PUT", "/v1/kv/a/b", nil, 200, with(id, "ETag", ""), `{"key":"a/b","version":"1.2"}`, false},
		{"a 503 without Retry-After", "GET", "/v1/kv/k", nil, 503, id, `{"error":"no leader","code":"no_leader"}`, false},
		{"a 503 with Retry-After", "GET", "/v1/kv/k", nil, 503, with(id, "Retry-After", "1"), `{"error":"no leader","code":"no_leader"}`, true},
		{"an error body not JSON", "GET", "/v1/kv/k", nil, 404, with(id, "Content-Type", "text/plain"), "not found", false},
		{"an error without a code", "GET", "/v1/kv/k", nil, 404, id, `{"error":"not found"}`, false},
		{"an invalid request answered 200", "GET", "/v1/kv?limit=0", nil, 200, id, `{"keys":[]}`, false},
		{"an invalid request answered 400", "GET", "/v1/kv?limit=0", nil, 400, id, `{"error":"bad limit","code":"bad_request"}`, true},
		{"an invalid request answered 500", "POST", "/v1/kv/k?op=zap", nil, 500, id, `{"error":"boom","code":"internal"}`, false},
		{"an unknown path answered 200", "GET", "/v2/nothing", nil, 200, id, `{}`, false},
		{"an unknown path answered 404", "GET", "/v2/nothing", nil, 404, id, `{"error":"no such route","code":"not_found"}`, true},
		{"a HEAD without Content-Length", "HEAD", "/v1/kv/k", nil, 200, with(id, "ETag", `"1.2"`), "", false},
		{"a 304 without ETag", "GET", "/v1/kv/k", http.Header{"If-None-Match": {`"1.2"`}}, 304, id, "", false},
		{"a cluster node in a state not described", "GET", "/v1/cluster", nil, 200, id,
			`{"leader":1,"term":1,"epoch":1,"replicas":1,"buckets":8,"nodes":[{"id":1,"http":"h","peer":"p","state":"zombie","role":"leader","buckets_primary":8,"buckets_backup":0,"keys":0}]}`, false},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		for k, v := range tc.reqHeader {
			req.Header[k] = v
		}
		err := ct.checkExchange(req, nil, tc.status, tc.header, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: validation error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
