package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTP is a Doer speaking jumpkv's key-value API (PUT and GET
// /v1/kv/{key}): to http targets with a minimal client of its own per
// worker (rawConn), to https ones over one http.Transport tuned for load: keep-alive
// connections, as many idle ones per node as there are workers, no proxy
// lookup, no compression. Worker w sends to target w mod len(targets), so
// the workers spread evenly over the targets and each keeps one
// connection busy. A request costs one allocation of its own (request,
// URL and body reader together) on top of what net/http needs; values are
// never copied.
type HTTP struct {
	Transport *http.Transport // for https targets, and with StdClient
	raw       *rawConns       // for http targets
	std       bool
	timeout   time.Duration
	targets   []*url.URL
	value     []byte
	keys      int
	paths     []string // the URL path of each key; nil past pathCacheMax keys
	putQuery  string   // the query every PUT carries ("ttl=...ms"), or ""
}

// pathCacheMax is the most keys whose URL paths HTTP computes up front.
const pathCacheMax = 1 << 20

// HTTPOptions configure NewHTTP.
type HTTPOptions struct {
	Targets   []string      // base URLs (http://host:port) of the nodes to send to
	Conns     int           // workers (connections) per run
	Keys      int           // key numbers 0..Keys-1 (see KeyName)
	ValueSize int           // bytes per value written
	Timeout   time.Duration // for a whole request; 0 means 10s
	// StdClient sends through net/http's client even to http targets,
	// which otherwise get a minimal HTTP/1.1 client (see rawConn).
	StdClient bool
	// TTL, when positive, gives every PUT that expiry (?ttl=, whole
	// milliseconds).
	TTL time.Duration
}

// NewHTTP returns an HTTP Doer for o.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	if len(o.Targets) == 0 {
		return nil, fmt.Errorf("no target to send to")
	}
	h := &HTTP{value: Value(o.ValueSize), keys: o.Keys, raw: &rawConns{}, std: o.StdClient}
	if o.TTL > 0 {
		h.putQuery = fmt.Sprintf("ttl=%dms", max(o.TTL.Milliseconds(), 1))
	}
	for _, t := range o.Targets {
		u, err := ParseBaseURL(t)
		if err != nil {
			return nil, err
		}
		h.targets = append(h.targets, u)
	}
	if o.Keys <= pathCacheMax {
		h.paths = make([]string, o.Keys)
		for i := range h.paths {
			h.paths[i] = "/v1/kv/" + KeyName(i, o.Keys)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	h.timeout = o.Timeout
	h.Transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no limit overall
		MaxIdleConnsPerHost:   max(o.Conns, 2),
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		TLSHandshakeTimeout:   5 * time.Second,
		DisableCompression:    true,
	}
	return h, nil
}

// ParseBaseURL parses a node's base URL: http or https, a host, no path
// beyond "/"; a bare host:port means http.
func ParseBaseURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("target %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("target %q: want a base URL such as http://127.0.0.1:8080", s)
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

// Targets returns the base URLs requests go to.
func (h *HTTP) Targets() []string {
	var s []string
	for _, u := range h.targets {
		s = append(s, u.String())
	}
	return s
}

// Close closes the connections. Call it once no worker runs.
func (h *HTTP) Close() {
	h.Transport.CloseIdleConnections()
	h.raw.closeAll()
}

// path returns the URL path of key i.
func (h *HTTP) path(i int) string {
	if h.paths != nil {
		return h.paths[i]
	}
	return "/v1/kv/" + KeyName(i, h.keys)
}

// call is everything one request allocates, in one allocation.
type call struct {
	req  http.Request
	url  url.URL
	body body
}

// body is a request body over the shared value.
type body struct{ bytes.Reader }

func (*body) Close() error { return nil }

// Worker implements Doer.
func (h *HTTP) Worker(ctx context.Context, w int) func(Op) (int, error) {
	target := h.targets[w%len(h.targets)]
	if target.Scheme == "http" && !h.std {
		c := h.raw.get(w, target.Host, h.timeout)
		// Ending ctx interrupts the request in flight (the registration
		// goes when ctx ends).
		context.AfterFunc(ctx, c.interrupt)
		return func(op Op) (int, error) {
			if op.Kind == OpPut {
				if h.putQuery != "" {
					return c.do(ctx, "PUT", h.path(op.Key)+"?"+h.putQuery, h.value)
				}
				return c.do(ctx, "PUT", h.path(op.Key), h.value)
			}
			return c.do(ctx, "GET", h.path(op.Key), nil)
		}
	}
	tmpl, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil { // cannot happen: target parsed already
		return func(Op) (int, error) { return 0, err }
	}
	return func(op Op) (int, error) {
		// A fresh request each time: the transport may still hold the
		// previous one (and read its body) after answering.
		c := &call{req: *tmpl, url: *target}
		c.url.Path = h.path(op.Key)
		c.req.URL = &c.url
		if op.Kind == OpPut {
			c.req.Method = http.MethodPut
			c.url.RawQuery = h.putQuery
			if len(h.value) > 0 {
				c.body.Reset(h.value)
				c.req.Body = &c.body
				c.req.ContentLength = int64(len(h.value))
			}
		}
		resp, err := h.Transport.RoundTrip(&c.req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body) // all of it, so the connection is reused
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
}
