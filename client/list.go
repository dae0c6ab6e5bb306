package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// ListOption shapes a listing.
type ListOption func(*listOptions)

type listOptions struct {
	pageSize int
	after    string
}

// DefaultPageSize is the number of keys List asks for per request.
const DefaultPageSize = 1000

// PageSize sets how many keys List fetches per request (1 to 10,000;
// default 1,000). It changes the cost of a listing, not what it yields.
func PageSize(n int) ListOption { return func(o *listOptions) { o.pageSize = n } }

// After starts the listing after key (exclusive), to resume one.
func After(key string) ListOption { return func(o *listOptions) { o.after = key } }

// List yields every key under prefix ("" for all), in byte order, across
// the whole cluster, fetching pages as the loop asks for more. Each page is
// a read, retried and failed over as any read; an error is yielded once,
// with an empty key, and ends the listing:
//
//	for key, err := range c.List(ctx, "sensors/") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(key)
//	}
//
// A listing is not a snapshot: keys written or deleted while it runs may
// or may not appear.
func (c *Client) List(ctx context.Context, prefix string, opts ...ListOption) iter.Seq2[string, error] {
	o := listOptions{pageSize: DefaultPageSize}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(string, error) bool) {
		if o.pageSize < 1 || o.pageSize > 10000 {
			yield("", &Error{Kind: ErrBadRequest, Op: "list", Message: fmt.Sprintf("PageSize(%d): want 1 to 10000", o.pageSize)})
			return
		}
		after := o.after
		for {
			keys, next, err := c.listPage(ctx, prefix, after, o.pageSize)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range keys {
				if !yield(k, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			if next <= after {
				yield("", &Error{Kind: ErrServer, Op: "list", Message: fmt.Sprintf("the listing did not advance: next %q after %q", next, after)})
				return
			}
			after = next
		}
	}
}

// listPage fetches one page of keys under prefix after after.
func (c *Client) listPage(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if after != "" {
		q.Set("after", after)
	}
	op := "list " + prefix
	r, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v1/kv?" + q.Encode()})
	if err != nil {
		return nil, "", err
	}
	if r.status != http.StatusOK {
		return nil, "", statusError(op, r)
	}
	var page struct {
		Keys []string `json:"keys"`
		Next string   `json:"next"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		return nil, "", &Error{Kind: ErrServer, Op: op, Endpoint: r.endpoint, Status: r.status, Message: "unreadable listing: " + err.Error()}
	}
	return page.Keys, page.Next, nil
}
