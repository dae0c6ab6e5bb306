package bench

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// BaselineMaxValue is the largest value the baseline server accepts, as
// jumpkv's default --max-value.
const BaselineMaxValue = 1 << 20

// baselineEntry is a stored value.
type baselineEntry struct {
	value       []byte
	contentType string
	version     uint64
}

// baseline is a map behind a lock: the least a key-value server on Gin can
// do.
type baseline struct {
	mu  sync.RWMutex
	m   map[string]baselineEntry
	seq uint64
}

// NewBaselineHandler returns the baseline jumpkv is compared with: one
// process, Gin, a mutex-guarded map, and jumpkv's routes and answers for
// PUT, GET and HEAD /v1/kv/{key} (a JSON {"key","version"} and an ETag on
// writes; the value, its Content-Type and ETag on reads; JSON errors), plus
// /healthz and /readyz. No replication, no versions beyond a counter.
func NewBaselineHandler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	b := &baseline{m: map[string]baselineEntry{}}
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.Use(gin.Recovery())
	r.PUT("/v1/kv/*key", b.put)
	r.GET("/v1/kv/*key", b.get)
	r.HEAD("/v1/kv/*key", b.get)
	ok := func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
	r.GET("/healthz", ok)
	r.GET("/readyz", ok)
	return r
}

// NewBaselineServer returns an http.Server for the baseline with the
// timeouts of jumpkv's.
func NewBaselineServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           NewBaselineHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

func baselineError(c *gin.Context, status int, msg, code string) {
	c.AbortWithStatusJSON(status, gin.H{"error": msg, "code": code})
}

func baselineKey(c *gin.Context) (string, bool) {
	k := strings.TrimPrefix(c.Request.URL.Path, "/v1/kv/")
	if k == "" {
		baselineError(c, http.StatusBadRequest, "empty key: use /v1/kv/{key}", "bad_request")
		return "", false
	}
	return k, true
}

func (b *baseline) put(c *gin.Context) {
	k, ok := baselineKey(c)
	if !ok {
		return
	}
	var v []byte
	var err error
	r := http.MaxBytesReader(c.Writer, c.Request.Body, BaselineMaxValue)
	if n := c.Request.ContentLength; n >= 0 && n <= BaselineMaxValue {
		v = make([]byte, n)
		_, err = io.ReadFull(r, v)
	} else {
		v, err = io.ReadAll(r)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || c.Request.ContentLength > BaselineMaxValue {
			baselineError(c, http.StatusRequestEntityTooLarge, "value too large", "too_large")
			return
		}
		baselineError(c, http.StatusBadRequest, "reading the body: "+err.Error(), "bad_request")
		return
	}
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.m[k] = baselineEntry{value: v, contentType: ct, version: seq}
	b.mu.Unlock()
	ver := "1." + strconv.FormatUint(seq, 10)
	c.Header("ETag", `"`+ver+`"`)
	c.JSON(http.StatusOK, struct {
		Key     string `json:"key"`
		Version string `json:"version"`
	}{k, ver})
}

func (b *baseline) get(c *gin.Context) {
	k, ok := baselineKey(c)
	if !ok {
		return
	}
	b.mu.RLock()
	e, found := b.m[k]
	b.mu.RUnlock()
	if !found {
		baselineError(c, http.StatusNotFound, "no such key", "not_found")
		return
	}
	c.Header("ETag", `"1.`+strconv.FormatUint(e.version, 10)+`"`)
	if c.Request.Method == http.MethodHead {
		c.Header("Content-Type", e.contentType)
		c.Header("Content-Length", strconv.Itoa(len(e.value)))
		c.Status(http.StatusOK)
		return
	}
	c.Data(http.StatusOK, e.contentType, e.value)
}
