package node

import "github.com/jumpkv/jumpkv/shard"

// Why every read path is linearizable (the one place this is argued; the
// code that acts on it is read.go, doubt.go and sync.go).
//
// A write is applied to a bucket's backups first and to its primary last
// (replication.Write), so a value readable at the primary is on every
// replica. A replica accepts a write only from the leader of the newest
// term it knows, under the assignment it has installed, checked and
// applied in one hold of mu (replication.FenceWrite). A read can be served
// seven ways:
//
//  1. From this node's own copy as primary (localPrimaryCopy): it holds a
//     read lease (the leader vouched for it within the lease, which ends
//     before any voter that heard the leader elects another) or leads with
//     a quorum lease, and it merged the bucket with its co-replicas under
//     the current authority (term, assignment epoch, lease generation), so
//     it holds every write acknowledged under any earlier authority.
//  2. From the leader's own backup copy (leaderBackupCopy): the leader
//     coordinates every write, so when no write of the key's stripe is in
//     flight (writeStripes) and the key's last write did not fail (inDoubt)
//     and its merge under this term reached every co-replica, every replica
//     holds the same newest version as the primary.
//  3. By the remote primary (routeRemotePrimary), which serves as in 1.
//  4. Through the leader (routeViaLeader), when the primary cannot vouch
//     for itself (its lease is being renewed) or cannot be reached: the
//     leader reads from the primary on its own authority, which needs no
//     read lease.
//  5. By the leader through the backups (leaderRead), only while the
//     leader is read-only (exactly half of the members are down): no
//     write is accepted anywhere, so any live copy, merged first, is
//     current.
//  6. Raw, for a conditional write (readForWrite), under the key's lock:
//     the newest version any replica holds is completed on every replica
//     before the condition is judged, so the write builds on what readers
//     may see next.
//  7. As primary after merging first (routePrimaryHere): a bucket not yet
//     merged under the current authority is merged, then served as in 1.
//
// Anything else refuses: no leader, a leader that lost its quorum, or a
// bucket with no replica.

// readFacts is what planRead decides on: a snapshot of the node's state
// for one read of one bucket, taken under mu.
type readFacts struct {
	self, primary   shard.NodeID
	viaLeader       bool // the read is asked of the leader (route 4 from a follower)
	leading         bool
	leadTermCurrent bool // leading, and the leadership is of the current term
	canServeReads   bool // a read lease, or a leader's quorum lease
	held            bool // this node holds the bucket's data
	recognised      bool // the installed state counts this incarnation
	merged          bool // merged under the current authority
	mergedWithAll   bool // that merge reached every co-replica
	holdsBucket     bool // the table makes this node a replica
}

// localRead is a read this node may answer from its own copy at once.
type localRead int

const (
	noLocalRead      localRead = iota
	localPrimaryCopy           // way 1
	leaderBackupCopy           // way 2 (if the key turns out settled)
)

// readRoute is where a read goes when no local copy answers it.
type readRoute int

const (
	routeRemotePrimary readRoute = iota // way 3
	routeViaLeader                      // way 4
	routePrimaryHere                    // way 7
	routeNoReplica                      // refuse: the bucket has no replica
	routeNoQuorum                       // refuse: the leader lost its quorum
)

// planRead decides how a read is served: a local copy to try first (which
// may still fall through when the key turns out unsettled or the bucket
// was dropped meanwhile), and the route otherwise.
func planRead(f readFacts) (localRead, readRoute) {
	mayRead := !f.leading || f.canServeReads
	local := noLocalRead
	if !f.viaLeader && f.canServeReads && f.held && f.recognised && f.merged {
		switch {
		case f.primary == f.self:
			local = localPrimaryCopy
		case f.leadTermCurrent && f.mergedWithAll && f.holdsBucket:
			local = leaderBackupCopy
		}
	}
	switch {
	case f.viaLeader && !f.leading:
		return local, routeViaLeader
	case f.primary == 0:
		return local, routeNoReplica
	case !mayRead:
		return local, routeNoQuorum
	case f.primary == f.self:
		return local, routePrimaryHere
	}
	return local, routeRemotePrimary
}
