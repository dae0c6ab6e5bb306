package replication

import (
	"fmt"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// ReplicaView is what a replica knows of one bucket when a write or a
// repair for it arrives: read under the lock that also guards the apply,
// so that the check and the apply are one step.
type ReplicaView struct {
	// Term is the newest term the replica has seen.
	Term uint64
	// Assigned reports whether the installed table makes this process a
	// replica of the bucket; Held whether it holds the bucket's data.
	Assigned, Held bool
	// Since is the epoch the bucket was assigned at in the installed table.
	Since uint64
}

// FenceWrite decides whether a replica applies a write (or a repair) of
// entries planned by a sender of term under the assignment since. It
// refuses, with the sentinel the sender acts on:
//   - a sender of an older term than the replica knows (wire.ErrStaleTerm):
//     a deposed leader's write must never land after the new leader's
//     merge has read this copy;
//   - a bucket the replica is not assigned or does not hold yet
//     (wire.ErrNotOwner);
//   - another assignment of the bucket (wire.ErrStaleEpoch): a write
//     planned under an old table would bypass the copy the new one counts;
//   - an entry whose version's term is newer than any term the replica
//     knows (wire.ErrBadRequest): no leader can have issued it, so it is a
//     forgery that would shadow every real write of the key (a repair with
//     version MAX.MAX once made later PUTs and DELETEs silently do
//     nothing).
//
// The caller has already taken the sender's term into its view (a newer
// term is adopted before this check), so view.Term >= term holds for any
// sender it accepted.
func FenceWrite(view ReplicaView, term, since uint64, entries ...store.Entry) error {
	switch {
	case term < view.Term:
		return fmt.Errorf("%w: write from term %d, this node is at %d", wire.ErrStaleTerm, term, view.Term)
	case !view.Assigned || !view.Held:
		return wire.ErrNotOwner
	case since != view.Since:
		return fmt.Errorf("%w: bucket assigned at epoch %d here, %d in the write", wire.ErrStaleEpoch, view.Since, since)
	}
	for _, e := range entries {
		if e.Version.Term > view.Term {
			return fmt.Errorf("%w: entry %q has version %s, newer than any term this node knows (%d)",
				wire.ErrBadRequest, e.Key, e.Version, view.Term)
		}
	}
	return nil
}
