package client

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// Reads straight to a key's primary (WithPrimaryReads). Any node serves
// any key, but a node that is not the key's primary asks the primary over
// the peer protocol: one more hop. With the placement table
// (/v1/placement) and the node addresses (/v1/cluster), the client hashes
// the key as the nodes do (package shard) and sends a read to the primary
// itself. The answer is the same either way, so anything unexpected
// (a node unreachable, a 5xx, a table out of date) falls back to the
// ordinary path; docs/client.md has the measurements.

// WithPrimaryReads makes Get and GetReader send each read straight to the
// key's primary, saving the hop a node that is not the primary makes. The
// client learns the placement table from the cluster and refreshes it
// every 10 seconds, and at once after a direct read that failed. Nodes
// must be reachable at the HTTP addresses they advertise in /v1/cluster;
// one that is not is skipped until the next refresh.
func WithPrimaryReads() Option { return func(c *config) { c.primaryReads = true } }

// routeTTL is how long a placement table is used before it is fetched
// again.
const routeTTL = 10 * time.Second

// routes is one placement table, with the nodes' addresses.
type routes struct {
	fetched time.Time
	primary []uint64          // bucket → its primary's ID
	base    map[uint64]string // node ID → base URL
}

// router holds the client's current routes.
type router struct {
	mu         sync.Mutex // guards the fields below
	cur        *routes
	refreshing bool
	skip       map[uint64]bool // nodes a direct read failed to reach, until the next refresh
}

// primaryOf returns the base URL of key's primary, refreshing the table
// when it is stale (one caller refreshes; the others use what there is).
func (c *Client) primaryOf(ctx context.Context, key string) (string, uint64, bool) {
	rt := &c.router
	rt.mu.Lock()
	cur := rt.cur
	refresh := (cur == nil || time.Since(cur.fetched) > routeTTL) && !rt.refreshing
	if refresh {
		rt.refreshing = true
	}
	rt.mu.Unlock()
	if refresh {
		fresh := c.fetchRoutes(ctx)
		rt.mu.Lock()
		rt.refreshing = false
		if fresh != nil {
			rt.cur, rt.skip, cur = fresh, nil, fresh
		} else if cur != nil {
			cur.fetched = time.Now() // keep it a while rather than refetch on every read
		}
		rt.mu.Unlock()
	}
	if cur == nil || len(cur.primary) == 0 {
		return "", 0, false
	}
	id := cur.primary[shard.BucketOf(key, len(cur.primary))]
	rt.mu.Lock()
	skipped := rt.skip[id]
	rt.mu.Unlock()
	base, ok := cur.base[id]
	return base, id, ok && !skipped
}

// routeFailed notes that a direct read to node id went wrong: the node is
// skipped and the table refetched on the next read.
func (c *Client) routeFailed(id uint64) {
	rt := &c.router
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.skip == nil {
		rt.skip = map[uint64]bool{}
	}
	rt.skip[id] = true
	if rt.cur != nil {
		stale := *rt.cur
		stale.fetched = time.Time{}
		rt.cur = &stale
	}
}

// fetchRoutes reads the placement table and the nodes' addresses; nil
// when either cannot be had.
func (c *Client) fetchRoutes(ctx context.Context) *routes {
	var pl struct {
		Buckets [][]uint64 `json:"buckets"`
	}
	var ci ClusterInfo
	if c.getJSON(ctx, "placement", "/v1/placement", &pl) != nil || c.getJSON(ctx, "cluster", "/v1/cluster", &ci) != nil {
		return nil
	}
	scheme := "http"
	if strings.HasPrefix(c.endpoints[0], "https://") {
		scheme = "https"
	}
	r := &routes{fetched: time.Now(), primary: make([]uint64, len(pl.Buckets)), base: map[uint64]string{}}
	for b, reps := range pl.Buckets {
		if len(reps) > 0 {
			r.primary[b] = reps[0]
		}
	}
	for _, n := range ci.Nodes {
		host, port, err := net.SplitHostPort(n.HTTP)
		if err != nil || host == "" || n.State == "dead" {
			continue // no address to reach it by
		}
		r.base[n.ID] = scheme + "://" + net.JoinHostPort(host, port)
	}
	return r
}

// readDirect sends a read to key's primary once; ok is false when the
// read should take the ordinary path (no route, or an answer other than
// the value or its absence).
func (c *Client) readDirect(ctx context.Context, key string, r request) (*response, bool) {
	base, id, ok := c.primaryOf(ctx, key)
	if !ok {
		return nil, false
	}
	resp, err := c.send(ctx, base, r)
	switch {
	case err != nil:
		c.routeFailed(id)
		return nil, false
	case resp.status == http.StatusOK || resp.status == http.StatusNotFound:
		return resp, true
	case resp.status >= 500:
		c.routeFailed(id)
	}
	if resp.stream != nil {
		resp.stream.Close()
	}
	return nil, false
}

// read sends a read: to the key's primary first with WithPrimaryReads,
// else (or when that does not answer) as any request.
func (c *Client) read(ctx context.Context, key string, r request) (*response, error) {
	if c.cfg.primaryReads {
		if resp, ok := c.readDirect(ctx, key, r); ok {
			return resp, nil
		}
	}
	return c.do(ctx, r)
}
