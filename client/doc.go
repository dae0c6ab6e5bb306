// Package client is the Go client of jumpkv's HTTP API.
//
//	c, err := client.New([]string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"})
//	if err != nil { ... }
//	defer c.Close()
//	version, err := c.Put(ctx, "sensors/room1/temp", []byte("21.5"), client.ContentType("text/plain"))
//	v, err := c.Get(ctx, "sensors/room1/temp") // v.Data, v.Version, v.ContentType
//	for key, err := range c.List(ctx, "sensors/") { ... }
//	for ev, err := range c.Watch(ctx, "sensors/", "") { ... }
//
// A Client talks to any node of a cluster (every node serves every key,
// forwarding to the leader or the key's primary as needed) and hides what
// a cluster does while it heals:
//
//   - Failover. New takes several endpoints. A request that cannot reach a
//     node (connection refused, no route, DNS failure) goes to the next one
//     at once, and later requests start from the node that last answered.
//   - Retries. A 503 (no leader yet, too few replicas reachable), 429 or
//     408 means the server did not perform the request: the client waits
//     (at least the server's Retry-After, with jittered exponential backoff)
//     and sends it again, to the next endpoint, up to RetryPolicy's bounds.
//     Reads are also retried after a 504 or a connection that failed
//     mid-request.
//   - No silent replays of writes. A write (Put, Create, Append, Delete)
//     that got a 504, or whose connection failed after it may have been
//     sent, returns ErrUnknownOutcome and is never sent again by the client:
//     it may or may not have taken effect. Read the key to learn which. An
//     unconditional Put may be repeated safely; Create and Append may not.
//   - Typed errors. Every failure is an *Error wrapping one sentinel
//     (ErrNotFound, ErrExists, ErrPrecondition, ErrUnknownOutcome,
//     ErrUnavailable, ErrUnauthorized, ErrForbidden, ErrTooLarge,
//     ErrKeyTooLong, ErrInsufficientStorage, ErrBadRequest, ErrServer):
//     test with errors.Is; the *Error carries the server's status, code
//     and message.
//
// Watch streams changes under a prefix over the node's WebSocket and
// resumes by itself after a drop, from the last version it delivered, at
// the next endpoint; when changes may have been missed it delivers an event
// of type EventReset, after which a mirror should re-read what it holds.
//
// With WithPrimaryReads, reads go straight to the key's primary (the client
// hashes keys as the nodes do), saving the hop a node makes when it is not
// the primary; GetReader streams values too large to hold in memory.
//
// A Client is safe for concurrent use. Close releases its idle connections.
// docs/client.md in the repository says more, with measurements.
package client
