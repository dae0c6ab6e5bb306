package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Value is a key's value as read.
type Value struct {
	Key string
	// Data is the value, byte for byte as written.
	Data []byte
	// ContentType is the Content-Type stored with it
	// (application/octet-stream when it was written without one).
	ContentType string
	// Version identifies this value: pass it to IfMatch to replace or
	// delete only this version. Versions are opaque strings.
	Version string
	// Expires is when the key expires (the zero time: never).
	Expires time.Time
}

// Get returns key's value, read whole (up to 64 MiB; use GetReader for
// larger ones). Errors: ErrNotFound when the key does not exist
// (or has expired); ErrBadRequest for an empty key; ErrKeyTooLong;
// ErrUnavailable when the cluster could not answer through the retries.
func (c *Client) Get(ctx context.Context, key string) (*Value, error) {
	op := "GET " + key
	if key == "" {
		return nil, &Error{Kind: ErrBadRequest, Op: op, Message: "empty key"}
	}
	r, err := c.read(ctx, key, request{op: op, method: http.MethodGet, path: keyPath(key)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, statusError(op, r)
	}
	v := &Value{Key: key, Data: r.body, ContentType: r.header.Get("Content-Type"), Version: unquote(r.header.Get("ETag"))}
	if v.Expires, err = expires(op, r); err != nil {
		return nil, err
	}
	return v, nil
}

// Reader is a value being read as a stream, for values too large to hold
// in memory at once (files stored over FTP can reach gigabytes). Close it.
type Reader struct {
	io.ReadCloser
	Key         string
	ContentType string
	Version     string
	Expires     time.Time
	// Size is the value's length in bytes (-1 when the node did not say).
	Size int64
}

// GetReader opens key's value for reading as a stream. It is retried and
// failed over as Get until the answer's headers arrive; reading the body
// is bounded by ctx alone, and an error while reading it is not retried.
// Errors as Get.
func (c *Client) GetReader(ctx context.Context, key string) (*Reader, error) {
	op := "GET " + key
	if key == "" {
		return nil, &Error{Kind: ErrBadRequest, Op: op, Message: "empty key"}
	}
	r, err := c.read(ctx, key, request{op: op, method: http.MethodGet, path: keyPath(key), stream: true})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK || r.stream == nil {
		return nil, statusError(op, r)
	}
	v := &Reader{ReadCloser: r.stream, Key: key, ContentType: r.header.Get("Content-Type"),
		Version: unquote(r.header.Get("ETag")), Size: -1}
	if n, err := strconv.ParseInt(r.header.Get("Content-Length"), 10, 64); err == nil {
		v.Size = n
	}
	if v.Expires, err = expires(op, r); err != nil {
		r.stream.Close()
		return nil, err
	}
	return v, nil
}

// expires reads an answer's X-Jumpkv-Expires (the zero time without one).
func expires(op string, r *response) (time.Time, error) {
	exp := r.header.Get("X-Jumpkv-Expires")
	if exp == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, exp)
	if err != nil {
		return time.Time{}, &Error{Kind: ErrServer, Op: op, Endpoint: r.endpoint, Status: r.status,
			Message: fmt.Sprintf("unreadable X-Jumpkv-Expires %q: %v", exp, err)}
	}
	return t, nil
}

// WriteOption adds a condition or an attribute to a write. Each names the
// writes it applies to; giving one to another write is an ErrBadRequest.
type WriteOption func(*writeOptions)

type writeOptions struct {
	contentType string
	ifMatch     string
	ifNoneMatch bool
	ttl         time.Duration
	hasTTL      bool
	used        []string // option names, for the error of one that does not apply
}

// ContentType stores ct with the value (Put, Create, Append); a value
// written without one is served as application/octet-stream.
func ContentType(ct string) WriteOption {
	return func(o *writeOptions) { o.contentType = ct; o.used = append(o.used, "ContentType") }
}

// IfMatch makes the write (Put, Append, Delete) happen only while the key's
// version is version (from Value.Version or a write's result); otherwise
// it fails with ErrPrecondition.
func IfMatch(version string) WriteOption {
	return func(o *writeOptions) { o.ifMatch = version; o.used = append(o.used, "IfMatch") }
}

// IfNoneMatch makes a Put only create the key: it fails with
// ErrPrecondition when the key exists. (Create does the same, failing with
// ErrExists.)
func IfNoneMatch() WriteOption {
	return func(o *writeOptions) { o.ifNoneMatch = true; o.used = append(o.used, "IfNoneMatch") }
}

// TTL makes the key expire d after the write (Put, Create, Append). It is
// sent as ?ttl= in whole seconds, rounded up. A Put or Create without TTL
// clears an earlier expiry; an Append without it keeps it. Nodes that do
// not implement expiry ignore the parameter, so check Value.Expires when it
// matters.
func TTL(d time.Duration) WriteOption {
	return func(o *writeOptions) { o.ttl, o.hasTTL = d, true; o.used = append(o.used, "TTL") }
}

// writeOpts applies opts, refusing those not in allowed.
func writeOpts(op string, opts []WriteOption, allowed ...string) (writeOptions, error) {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	for _, name := range o.used {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return o, &Error{Kind: ErrBadRequest, Op: op, Message: name + " does not apply to this operation"}
		}
	}
	if o.hasTTL && o.ttl < time.Second {
		return o, &Error{Kind: ErrBadRequest, Op: op, Message: fmt.Sprintf("TTL %v: want at least 1s", o.ttl)}
	}
	if o.ifMatch != "" && o.ifNoneMatch {
		return o, &Error{Kind: ErrBadRequest, Op: op, Message: "IfMatch and IfNoneMatch together can never both hold"}
	}
	return o, nil
}

// header returns the request headers of o.
func (o writeOptions) header() http.Header {
	h := http.Header{}
	if o.contentType != "" {
		h.Set("Content-Type", o.contentType)
	}
	if o.ifMatch != "" {
		h.Set("If-Match", quote(o.ifMatch))
	}
	if o.ifNoneMatch {
		h.Set("If-None-Match", "*")
	}
	return h
}

// query returns the query string of o ("" or "ttl=N"), N in whole seconds.
func (o writeOptions) query() url.Values {
	q := url.Values{}
	if o.hasTTL {
		q.Set("ttl", strconv.FormatInt(int64(math.Ceil(o.ttl.Seconds())), 10))
	}
	return q
}

// Put sets key to value, creating or replacing it, and returns the new
// version. Options: ContentType, IfMatch, IfNoneMatch, TTL. Errors:
// ErrPrecondition when a condition does not hold; ErrTooLarge;
// ErrKeyTooLong; ErrInsufficientStorage; ErrUnknownOutcome when it may or
// may not have been written (a Put may be sent again safely);
// ErrUnavailable when the cluster refused it through the retries (it was
// not written).
func (c *Client) Put(ctx context.Context, key string, value []byte, opts ...WriteOption) (string, error) {
	op := "PUT " + key
	o, err := writeOpts(op, opts, "ContentType", "IfMatch", "IfNoneMatch", "TTL")
	if err != nil {
		return "", err
	}
	return c.write(ctx, op, http.MethodPut, key, o.query(), value, o, http.StatusOK)
}

// Create creates key with value and returns its version; it fails with
// ErrExists when the key exists. Options: ContentType, TTL. After
// ErrUnknownOutcome, read the key before creating it again: the first
// attempt may have created it.
func (c *Client) Create(ctx context.Context, key string, value []byte, opts ...WriteOption) (string, error) {
	op := "CREATE " + key
	o, err := writeOpts(op, opts, "ContentType", "TTL")
	if err != nil {
		return "", err
	}
	return c.write(ctx, op, http.MethodPost, key, o.query(), value, o, http.StatusCreated)
}

// Append appends value to key's value, creating the key when absent, and
// returns the new version. Options: ContentType (replacing the stored
// one), IfMatch, TTL. Never retried after ErrUnknownOutcome: sending it
// again could append twice.
func (c *Client) Append(ctx context.Context, key string, value []byte, opts ...WriteOption) (string, error) {
	op := "APPEND " + key
	o, err := writeOpts(op, opts, "ContentType", "IfMatch", "TTL")
	if err != nil {
		return "", err
	}
	q := o.query()
	q.Set("op", "append")
	return c.write(ctx, op, http.MethodPost, key, q, value, o, http.StatusOK)
}

// Delete deletes key. Options: IfMatch. Errors: ErrNotFound when the key
// does not exist; ErrPrecondition; ErrUnknownOutcome.
func (c *Client) Delete(ctx context.Context, key string, opts ...WriteOption) error {
	op := "DELETE " + key
	o, err := writeOpts(op, opts, "IfMatch")
	if err != nil {
		return err
	}
	_, err = c.write(ctx, op, http.MethodDelete, key, nil, nil, o, http.StatusNoContent)
	return err
}

// write sends a write and returns the version of its answer.
func (c *Client) write(ctx context.Context, op, method, key string, q url.Values, value []byte, o writeOptions, want int) (string, error) {
	if key == "" {
		return "", &Error{Kind: ErrBadRequest, Op: op, Message: "empty key"}
	}
	path := keyPath(key)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if value == nil && method != http.MethodDelete {
		value = []byte{}
	}
	r, err := c.do(ctx, request{op: op, method: method, path: path, body: value, header: o.header(), write: true})
	if err != nil {
		return "", err
	}
	if r.status != want {
		return "", statusError(op, r)
	}
	if method == http.MethodDelete {
		return "", nil
	}
	var res struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || res.Version == "" {
		// The write happened; fall back to the ETag for its version.
		if v := unquote(r.header.Get("ETag")); v != "" {
			return v, nil
		}
		return "", &Error{Kind: ErrServer, Op: op, Endpoint: r.endpoint, Status: r.status,
			Message: fmt.Sprintf("a success without a version: %.200q", r.body)}
	}
	return res.Version, nil
}

// quote makes an entity tag of a version ("3.14" → `"3.14"`), leaving a
// tag as is.
func quote(v string) string {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/"`) {
		return v
	}
	return `"` + v + `"`
}

// unquote returns the version in an entity tag.
func unquote(tag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(tag), `"`), `"`)
}

// basicAuth is the credential of an Authorization: Basic header.
func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
