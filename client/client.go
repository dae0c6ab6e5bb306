package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client is a jumpkv client over one or more endpoints of a cluster. It is
// safe for concurrent use.
type Client struct {
	endpoints []string // base URLs: scheme://host[:port], no trailing slash
	cfg       config
	http      *http.Client
	ownHTTP   bool // the transport is the client's own, closed by Close

	// start is the endpoint requests try first: the one that answered
	// last.
	start atomic.Uint32
	// router routes reads to primaries (WithPrimaryReads).
	router router

	closeOnce sync.Once
}

// config holds what the options set.
type config struct {
	tls            *tls.Config
	user, password string
	auth           bool
	timeout        time.Duration
	retry          RetryPolicy
	httpClient     *http.Client
	logger         *slog.Logger
	watchKeepalive time.Duration
	primaryReads   bool
}

// Option configures a Client.
type Option func(*config)

// WithTLS sets the TLS configuration used with https:// endpoints (and
// wss:// watches): a RootCAs pool for a private CA, client certificates.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithBasicAuth sends these credentials with every request (HTTP Basic),
// the watch handshake included. Use it with https:// endpoints: Basic
// credentials are readable by anyone who sees plain HTTP traffic.
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.password, c.auth = user, password, true }
}

// WithTimeout bounds each attempt of a request (sending it and reading the
// whole answer); the context bounds the request with all its retries.
// Default 10s. A write whose attempt times out returns ErrUnknownOutcome.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithRetry sets how requests are retried (see RetryPolicy).
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithHTTPClient makes the client send its requests with hc (its
// transport, proxies, cookies). WithTLS does not apply to it then; set TLS
// in hc's transport. hc's own Timeout, if any, applies on top of
// WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithLogger receives a debug line for every retry and failover, and for
// every watch reconnection. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithWatchKeepalive sets how often a watch pings its node; a node silent
// for three periods is taken as gone and the watch resumes elsewhere.
// Default 5s.
func WithWatchKeepalive(d time.Duration) Option { return func(c *config) { c.watchKeepalive = d } }

// DefaultTimeout is the default bound of one attempt of a request.
const DefaultTimeout = 10 * time.Second

// New returns a client of the cluster reachable at endpoints: base URLs of
// nodes such as "http://10.0.0.1:8080" (a bare "host:port" means http://).
// Requests go to the first endpoint and fail over to the next ones in
// order. New only checks its arguments; it contacts no node.
func New(endpoints []string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout, retry: DefaultRetryPolicy(), watchKeepalive: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, errors.New("jumpkv client: no endpoint: give at least one node URL such as http://127.0.0.1:8080")
	}
	c := &Client{cfg: cfg}
	for _, e := range endpoints {
		base, err := normalizeEndpoint(e)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, base)
	}
	if cfg.logger == nil {
		c.cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.httpClient != nil {
		c.http = cfg.httpClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.tls
		t.MaxIdleConnsPerHost = 64
		c.http = &http.Client{Transport: t}
		c.ownHTTP = true
	}
	return c, nil
}

func (cfg *config) validate() error {
	switch {
	case cfg.timeout <= 0:
		return fmt.Errorf("jumpkv client: WithTimeout(%v): want a positive duration", cfg.timeout)
	case cfg.watchKeepalive <= 0:
		return fmt.Errorf("jumpkv client: WithWatchKeepalive(%v): want a positive duration", cfg.watchKeepalive)
	case cfg.auth && strings.Contains(cfg.user, ":"):
		return errors.New("jumpkv client: WithBasicAuth: a user name cannot contain ':'")
	}
	return cfg.retry.Validate()
}

// normalizeEndpoint turns "host:port" or "http://host:port/" into
// "http://host:port".
func normalizeEndpoint(e string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", errors.New("jumpkv client: an empty endpoint")
	}
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", fmt.Errorf("jumpkv client: endpoint %q: %v", e, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("jumpkv client: endpoint %q: want http:// or https://", e)
	}
	if u.Host == "" {
		return "", fmt.Errorf("jumpkv client: endpoint %q has no host", e)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("jumpkv client: endpoint %q: want a base URL with no path or query, such as http://127.0.0.1:8080", e)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Endpoints returns the base URLs the client uses, in failover order.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Close releases the client's idle connections. Watches end with their
// context. Safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.ownHTTP {
			c.http.CloseIdleConnections()
		}
	})
	return nil
}

// keyPath returns the escaped request path of key: each "/"-separated
// segment percent-encoded, "/" kept, and "." and ".." segments encoded so
// that nothing on the way resolves them as dot segments.
func keyPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			segs[i] = strings.ReplaceAll(s, ".", "%2E")
		} else {
			segs[i] = url.PathEscape(s)
		}
	}
	return "/v1/kv/" + strings.Join(segs, "/")
}
