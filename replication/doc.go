// Package replication holds the rules of jumpkv's replication: the order
// and outcome of a write's fan-out to a bucket's replicas (Write, which
// runs the sends to the backups concurrently, the only part here that
// starts goroutines), a conditional write's judgement of the key's current
// state, the fencing a replica applies to writes and repairs (FenceWrite),
// which node copies which bucket from where in a placement change
// (FillPlan), which tombstones may be purged (PurgeDecision), and the plan
// by which anti-entropy gives every replica the newest version of every
// key (PlanMerge). Everything but Write is a pure function. The node
// package drives them over the transport.
package replication
