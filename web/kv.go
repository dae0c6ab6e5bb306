package web

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

const kvPrefix = "/v1/kv/"

// defaultContentType is stored with values written without a Content-Type.
const defaultContentType = "application/octet-stream"

// writeResult is the JSON body of a successful write.
type writeResult struct {
	Key     string `json:"key"`
	Version string `json:"version"`
}

// listResult is the JSON body of a listing; Next is absent on the last page.
type listResult struct {
	Keys []string `json:"keys"`
	Next string   `json:"next,omitempty"`
	// Entries, with ?detail=true, gives each key's size (a file's own).
	Entries []entryView `json:"entries,omitempty"`
}

// key returns the request's key (the decoded path after /v1/kv/), or
// answers 400/414 and returns false.
func (a *api) key(c *gin.Context) (string, bool) {
	k := strings.TrimPrefix(c.Request.URL.Path, kvPrefix)
	switch {
	case k == "":
		badRequest(c, "empty key: use /v1/kv/{key}")
		return "", false
	case len(k) > a.cfg.MaxKey:
		writeError(c, fmt.Errorf("%w: %d bytes, the limit is %d", wire.ErrKeyTooLong, len(k), a.cfg.MaxKey))
		return "", false
	case !utf8.ValidString(k):
		badRequest(c, "the key is not valid UTF-8 (keys are returned as JSON strings)")
		return "", false
	}
	if err := checkClientKey(k); err != nil {
		writeError(c, err)
		return "", false
	}
	return k, true
}

func etag(v store.Version) string {
	var b [43]byte // a version and two quotes
	return string(append(v.Append(append(b[:0], '"')), '"'))
}

// Header values set on the hot paths, built once and shared (net/http only
// reads header values), with their keys in canonical form.
var (
	jsonContentType     = []string{"application/json; charset=utf-8"}
	defaultContentTypes = []string{defaultContentType}
	nosniff             = []string{"nosniff"}
	// valueCSP sandboxes a value opened as a page: a unique opaque
	// origin, no script, no forms, nothing loaded.
	valueCSP = []string{"sandbox; default-src 'none'"}
)

// netHTTPBuffered is the largest body net/http gives a Content-Length
// itself; it sends larger ones chunked unless the handler sets one.
const netHTTPBuffered = 2048

// setETag sets the answer's ETag (canonical key, no copy of tag).
func setETag(c *gin.Context, tag string) { c.Writer.Header()["Etag"] = []string{tag} }

// respond answers status with body of the given Content-Type, with a
// Content-Length whatever the body's size.
func respond(c *gin.Context, status int, contentType []string, body []byte) {
	h := c.Writer.Header()
	h["Content-Type"] = contentType
	if len(body) > netHTTPBuffered {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	c.Status(status)
	_, _ = c.Writer.Write(body) // a failed write is the client gone
}

// conditions reads If-Match and If-None-Match into op, or answers and
// returns false: 400 for a header that is not entity-tag syntax, 412 for
// an If-Match that cannot match (etag.go).
func (a *api) conditions(c *gin.Context, op *wire.WriteOp) bool {
	if im := c.GetHeader("If-Match"); im != "" {
		star, tags, err := parseIfMatch(im)
		if err != nil {
			badRequest(c, "malformed If-Match: "+err.Error())
			return false
		}
		if star {
			op.IfExists = true
		} else {
			v, err := a.matchVersion(c, op.Key, tags)
			if err != nil {
				writeError(c, err)
				return false
			}
			op.IfMatch = &v
		}
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) != "*" {
			badRequest(c, `If-None-Match on a write must be "*" (create only)`)
			return false
		}
		op.IfNoneMatch = true
	}
	return true
}

// body reads the request body, answering 413 past MaxValue.
func (a *api) body(c *gin.Context) ([]byte, bool) {
	max := int64(a.cfg.MaxValue)
	if c.Request.ContentLength > max {
		writeError(c, fmt.Errorf("%w: %d bytes, the limit is %d", wire.ErrTooLarge, c.Request.ContentLength, max))
		return nil, false
	}
	r := http.MaxBytesReader(c.Writer, c.Request.Body, max)
	var buf []byte
	var err error
	if n := c.Request.ContentLength; n >= 0 {
		buf = make([]byte, n)
		_, err = io.ReadFull(r, buf)
	} else {
		buf, err = io.ReadAll(r)
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(c, fmt.Errorf("%w: the limit is %d bytes", wire.ErrTooLarge, max))
		return nil, false
	case isTimeout(err):
		writeError(c, fmt.Errorf("%w: the body stopped arriving (the server reads a request in at most %s)",
			wire.ErrBodyTimeout, readTimeout))
		return nil, false
	case err != nil:
		badRequest(c, "reading the body: "+err.Error())
		return nil, false
	}
	return buf, true
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// MaxContentType is the longest Content-Type stored with a value.
const MaxContentType = 256

// contentType returns the Content-Type to store, or answers 400 and
// returns false past MaxContentType.
func contentType(c *gin.Context) (string, bool) {
	ct := c.GetHeader("Content-Type")
	switch {
	case ct == "":
		return defaultContentType, true
	case len(ct) > MaxContentType:
		badRequest(c, fmt.Sprintf("Content-Type is %d bytes: the limit is %d", len(ct), MaxContentType))
		return "", false
	}
	if err := checkClientType(ct); err != nil {
		writeError(c, err)
		return "", false
	}
	return ct, true
}

func (a *api) write(c *gin.Context, op wire.WriteOp, status int) {
	v, err := a.b.Write(c.Request.Context(), op)
	if err != nil {
		writeError(c, err)
		return
	}
	tag := etag(v)
	setETag(c, tag)
	respond(c, status, jsonContentType, writeResultJSON(op.Key, tag[1:len(tag)-1]))
}

func (a *api) put(c *gin.Context) {
	k, ok := a.key(c)
	if !ok {
		return
	}
	if !a.allow(c, k, true) {
		return
	}
	op := wire.WriteOp{Kind: wire.WritePut, Key: k}
	if op.ContentType, ok = contentType(c); !ok {
		return
	}
	if op.TTL, ok = ttl(c); !ok {
		return
	}
	if !a.conditions(c, &op) {
		return
	}
	if op.Value, ok = a.body(c); !ok {
		return
	}
	a.write(c, op, http.StatusOK)
}

func (a *api) post(c *gin.Context) {
	k, ok := a.key(c)
	if !ok {
		return
	}
	if !a.allow(c, k, true) {
		return
	}
	op := wire.WriteOp{Kind: wire.WriteCreate, Key: k}
	status := http.StatusCreated
	switch o := c.Query("op"); o {
	case "":
	case "append":
		op.Kind, status = wire.WriteAppend, http.StatusOK
	default:
		badRequest(c, fmt.Sprintf("unknown op %q: the only op is append", o))
		return
	}
	if op.Kind == wire.WriteCreate || c.GetHeader("Content-Type") != "" {
		if op.ContentType, ok = contentType(c); !ok {
			return
		}
	}
	if op.TTL, ok = ttl(c); !ok {
		return
	}
	if !a.conditions(c, &op) {
		return
	}
	if op.Kind == wire.WriteAppend && a.files != nil {
		// Appending to a file appends to the file, not to its manifest.
		cur, err := a.b.Get(c.Request.Context(), k)
		if err == nil && files.IsManifest(cur) {
			a.fileAppend(c, k, cur, op)
			return
		}
	}
	if op.Value, ok = a.body(c); !ok {
		return
	}
	a.write(c, op, status)
}

func (a *api) del(c *gin.Context) {
	k, ok := a.key(c)
	if !ok {
		return
	}
	if !a.allow(c, k, true) {
		return
	}
	op := wire.WriteOp{Kind: wire.WriteDelete, Key: k}
	if !a.conditions(c, &op) {
		return
	}
	if a.files != nil {
		// A file goes with its chunks.
		cur, err := a.b.Get(c.Request.Context(), k)
		if err == nil && files.IsManifest(cur) && !op.IfExists {
			if _, err := a.files.Delete(c.Request.Context(), k, op.IfMatch); err != nil {
				writeError(c, err)
				return
			}
			c.Status(http.StatusNoContent)
			return
		}
	}
	if _, err := a.b.Write(c.Request.Context(), op); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) get(c *gin.Context) {
	k, ok := a.key(c)
	if !ok || !a.allow(c, k, false) {
		return
	}
	e, err := a.b.Get(c.Request.Context(), k)
	if err != nil {
		writeError(c, err)
		return
	}
	tag := etag(e.Version)
	setETag(c, tag)
	if e.Expires != 0 {
		c.Header("X-Jumpkv-Expires", time.UnixMilli(e.Expires).UTC().Format(time.RFC3339Nano))
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || strings.Contains(inm, tag)) {
		c.Status(http.StatusNotModified)
		return
	}
	if files.IsManifest(e) || wantsRange(c.Request) {
		a.serveEntry(c, e, tag) // files.go
		return
	}
	ct := e.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	// A stored value is the client's, not the node's: a browser must not
	// sniff it into something else, nor run an HTML or SVG value's script
	// with the node's origin (which could read every key).
	h := c.Writer.Header()
	h["X-Content-Type-Options"] = nosniff
	h["Content-Security-Policy"] = valueCSP
	if c.Request.Method == http.MethodHead {
		c.Header("Content-Type", ct)
		c.Header("Content-Length", strconv.Itoa(len(e.Value)))
		c.Status(http.StatusOK)
		return
	}
	cts := defaultContentTypes
	if ct != defaultContentType {
		cts = []string{ct}
	}
	respond(c, http.StatusOK, cts, e.Value)
}

func (a *api) list(c *gin.Context) {
	limit := DefaultListLimit
	if l, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			badRequest(c, fmt.Sprintf("limit must be a positive integer, got %q", l))
			return
		}
		limit = min(n, node.MaxListLimit)
	}
	prefix, ok := a.scope(c, c.Query("prefix"))
	if !ok {
		return
	}
	keys, next, err := a.b.List(c.Request.Context(), prefix, c.Query("after"), limit)
	if err != nil {
		writeError(c, err)
		return
	}
	if keys == nil {
		keys = []string{}
	}
	res := listResult{Keys: keys, Next: next}
	if d := c.Query("detail"); d == "true" || d == "1" {
		if res.Entries, err = a.details(c, keys); err != nil { // files.go
			writeError(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, res)
}

// maxTTL bounds ?ttl: a hundred years.
const maxTTL = 100 * 365 * 24 * time.Hour

// ttl reads ?ttl (a Go duration such as 30s or 5m, or plain seconds) in
// milliseconds: 0 when absent. It answers 400 itself for a bad one.
func ttl(c *gin.Context) (int64, bool) {
	v, ok := c.GetQuery("ttl")
	if !ok {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, serr := strconv.ParseUint(v, 10, 32)
		d, err = time.Duration(secs)*time.Second, serr
	}
	switch {
	case err != nil:
		badRequest(c, fmt.Sprintf("ttl %q: want a duration such as 30s, 5m or 2h, or a number of seconds", v))
		return 0, false
	case d < time.Millisecond || d > maxTTL:
		badRequest(c, fmt.Sprintf("ttl %q: want at least 1ms and at most 100 years", v))
		return 0, false
	}
	return d.Milliseconds(), true
}
