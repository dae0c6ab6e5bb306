package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// ClusterInfo is the cluster as the answering node sees it (GET
// /v1/cluster).
type ClusterInfo struct {
	// Leader is the leader's node ID (0: none known).
	Leader uint64 `json:"leader"`
	Term   uint64 `json:"term"`
	// Epoch numbers the placement table.
	Epoch uint64 `json:"epoch"`
	// Replicas is the number of copies of each bucket in effect.
	Replicas int `json:"replicas"`
	// ReplicasWanted is the number of copies the leader was configured
	// with (--replicas), when that is not what is in effect; 0 otherwise
	// (or auto).
	ReplicasWanted int `json:"replicas_wanted,omitempty"`
	// Mode is the leader's: "read-write", "read-only" (exactly half of
	// the members reachable: writes are refused) or "no-quorum"; empty
	// while no leader answers.
	Mode string `json:"mode,omitempty"`
	// Warnings says, for a person, what is not as configured or not
	// fully working ("read-only: 1 of 2 members reachable, writes need a
	// majority"; "replicas: wanted 5, have 1").
	Warnings []string `json:"warnings,omitempty"`
	// Buckets is the number of buckets keys are hashed into.
	Buckets int        `json:"buckets"`
	Nodes   []NodeInfo `json:"nodes"`
}

// NodeInfo is one member in ClusterInfo.
type NodeInfo struct {
	ID uint64 `json:"id"`
	// Name is the node's --name (empty for nodes that have none).
	Name string `json:"name,omitempty"`
	HTTP string `json:"http"`
	Peer string `json:"peer"`
	// State is "alive", "suspect" or "dead".
	State string `json:"state"`
	// Role is "leader" or "follower".
	Role           string `json:"role"`
	BucketsPrimary int    `json:"buckets_primary"`
	BucketsBackup  int    `json:"buckets_backup"`
	// Keys counts the live keys the node holds, primary and backup copies.
	Keys int64 `json:"keys"`
}

// Status is one node's own view (GET /admin/status).
type Status struct {
	ID             uint64   `json:"id"`
	Name           string   `json:"name,omitempty"`
	Role           string   `json:"role"`
	Leader         uint64   `json:"leader"`
	Term           uint64   `json:"term"`
	Epoch          uint64   `json:"epoch"`
	Keys           int64    `json:"keys"`
	BucketsPrimary int      `json:"buckets_primary"`
	BucketsBackup  int      `json:"buckets_backup"`
	Members        []Member `json:"members"`
	Incarnation    uint64   `json:"incarnation"`
	InSync         bool     `json:"in_sync"`
	Mode           string   `json:"mode,omitempty"`
}

// Member is a member as a node sees it, in Status.
type Member struct {
	ID    uint64 `json:"id"`
	Name  string `json:"name,omitempty"`
	Peer  string `json:"peer"`
	HTTP  string `json:"http"`
	State string `json:"state"`
}

// Cluster returns the cluster's members, leader and placement summary, as
// the first endpoint that answers sees them.
func (c *Client) Cluster(ctx context.Context) (*ClusterInfo, error) {
	var ci ClusterInfo
	if err := c.getJSON(ctx, "cluster", "/v1/cluster", &ci); err != nil {
		return nil, err
	}
	return &ci, nil
}

// Status returns the own view of the first endpoint that answers (its ID
// tells which node that is).
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.getJSON(ctx, "status", "/admin/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Health returns nil once a node answers GET /healthz with 200: the
// process is up (not that it is ready to serve).
func (c *Client) Health(ctx context.Context) error {
	r, err := c.do(ctx, request{op: "health", method: http.MethodGet, path: "/healthz"})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return statusError("health", r)
	}
	return nil
}

// RemoveMember takes the member id out of the cluster for good: a dead
// node that will not come back. Its buckets are re-replicated from the
// other copies; if it returns, it joins again like a new node. The cluster
// refuses to remove a member that is alive (stop it, or let it leave with
// SIGTERM): ErrBadRequest; ErrNotFound for an ID that is not a member.
func (c *Client) RemoveMember(ctx context.Context, id uint64) error {
	op := "remove member " + strconv.FormatUint(id, 10)
	r, err := c.do(ctx, request{op: op, method: http.MethodDelete, path: "/v1/cluster/members/" + strconv.FormatUint(id, 10), write: true})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && r.status != http.StatusNoContent {
		return statusError(op, r)
	}
	return nil
}

// getJSON reads a JSON answer into v.
func (c *Client) getJSON(ctx context.Context, op, path string, v any) error {
	r, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return statusError(op, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &Error{Kind: ErrServer, Op: op, Endpoint: r.endpoint, Status: r.status, Message: "unreadable answer: " + err.Error()}
	}
	return nil
}
