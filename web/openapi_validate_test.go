package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The contract test: every request the API tests send and every answer
// they get pass through ValidateAPI, which checks them against
// openapi.yaml with kin-openapi's openapi3filter:
//
//   - an answer's status must be one the description lists for its
//     operation (IncludeResponseStatus), its headers as described (the
//     required ones present), its body of a described type and schema;
//   - a request the description calls invalid must get a 4xx;
//   - a path or method the description does not know must get the JSON
//     404 or 405 it describes.
//
// Nothing is exempt but a WebSocket upgrade that succeeded (the 101 and
// the frames after it are no HTTP answer); a refused upgrade is validated.
// kin-openapi skips HEAD answers and 304s: they are validated here all the
// same (a HEAD answer as its operation's, a 304's headers by hand).

// contract is the parsed description and its router.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("parsing openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is no valid OpenAPI 3 description: %w", err)
	}
	// The servers list names an example node; requests are matched by
	// path alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing openapi.yaml: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// restPaths are the routes whose last parameter is the rest of the path,
// slashes included (OpenAPI path parameters cannot hold a "/").
var restPaths = []struct{ prefix, template, param string }{
	{kvPrefix, "/v1/kv/{key}", "key"},
	{"/ui/", "/ui/{file}", "file"},
}

// route finds the operation of req.
func (ct *contract) route(req *http.Request) (*routers.Route, map[string]string, error) {
	if ct.doc.Paths.Value(req.URL.Path) != nil {
		return ct.router.FindRoute(req) // a path described as it is (/ui/session) beats a rest-of-path route
	}
	for _, rp := range restPaths {
		rest, ok := strings.CutPrefix(req.URL.Path, rp.prefix)
		if !ok {
			continue
		}
		item := ct.doc.Paths.Value(rp.template)
		op := item.GetOperation(req.Method)
		if op == nil {
			return nil, nil, &routers.RouteError{Reason: routers.ErrMethodNotAllowed.Error()}
		}
		return &routers.Route{Spec: ct.doc, Path: rp.template, PathItem: item, Method: req.Method, Operation: op},
			map[string]string{rp.param: rest}, nil
	}
	return ct.router.FindRoute(req)
}

// checkExchange validates one request (with its body) and its answer.
func (ct *contract) checkExchange(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	route, params, err := ct.route(req)
	if err != nil {
		return ct.checkUnrouted(req, err, status, header, body)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: withBody(req, reqBody), PathParams: params, Route: route, Options: opts}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("the description refuses the request (%v), but the node answered %d", reqErr, status)
	}
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not described for %s %s", status, req.Method, route.Path)
	}
	if status == http.StatusNotModified { // kin-openapi skips 304s
		for name, h := range ref.Value.Headers {
			if h.Value.Required && header.Get(name) == "" {
				return fmt.Errorf("a 304 without its required header %s", name)
			}
		}
		return nil
	}
	resIn := *in
	if req.Method == http.MethodHead { // kin-openapi skips HEAD answers: validate them as the HEAD operation's
		resIn.Request = withBody(req, nil)
		resIn.Request.Method = http.MethodGet
	}
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &resIn, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// checkUnrouted validates the answer to a request the description has no
// operation for: the described JSON 404 or 405.
func (ct *contract) checkUnrouted(req *http.Request, routeErr error, status int, header http.Header, body []byte) error {
	want, name := http.StatusNotFound, "NotFound"
	var re *routers.RouteError
	if errors.As(routeErr, &re) && re.Reason == routers.ErrMethodNotAllowed.Error() {
		want, name = http.StatusMethodNotAllowed, "MethodNotAllowed"
	}
	if status != want {
		return fmt.Errorf("%s %s is not in the description (%v), but the node answered %d, not %d", req.Method, req.URL.Path, routeErr, status, want)
	}
	responses := openapi3.NewResponses(openapi3.WithStatus(want, ct.doc.Components.Responses[name]))
	route := &routers.Route{Spec: ct.doc, Path: req.URL.Path, Method: http.MethodGet, Operation: &openapi3.Operation{Responses: responses}}
	get := withBody(req, nil)
	get.Method = http.MethodGet
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: get, Route: route},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// withBody returns a copy of req reading body.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

// ValidateAPI returns h with every request and answer through it checked
// against openapi.yaml; a mismatch fails t, naming the request.
func ValidateAPI(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("openapi: reading the body of %s %s: %v", r.Method, r.URL, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		check := r.Clone(context.Background())
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		if tw.hijacked {
			return // a WebSocket: no HTTP answer to validate
		}
		status, header := tw.result()
		if err := ct.checkExchange(check, reqBody, status, header, tw.body.Bytes()); err != nil {
			t.Errorf("openapi: %s %s (%v) answered %d %s:\n%v", r.Method, r.URL.RequestURI(), r.Header, status, clip(tw.body.Bytes()), err)
		}
	})
}

func clip(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%q…", b[:300])
	}
	return fmt.Sprintf("%q", b)
}

// teeWriter passes an answer on while keeping a copy of it.
type teeWriter struct {
	http.ResponseWriter
	status   int
	header   http.Header // as it was when the status was written
	body     bytes.Buffer
	hijacked bool
}

func (w *teeWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status, w.header = status, w.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status, w.header = http.StatusOK, w.Header().Clone()
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// result returns the status and headers sent (200 and the final headers
// when the handler wrote nothing).
func (w *teeWriter) result() (int, http.Header) {
	if w.status == 0 {
		return http.StatusOK, w.Header().Clone()
	}
	return w.status, w.header
}

func (w *teeWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *teeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
