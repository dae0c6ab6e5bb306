// Package replication holds the decisions of jumpkv's replication, free of
// I/O: the order and outcome of a write's fan-out to a bucket's replicas,
// a conditional write's judgement of the key's current state, and the plan
// by which anti-entropy gives every replica the newest version of every key.
// The node package drives them over the transport.
package replication
