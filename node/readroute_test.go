package node

import "testing"

func TestPlanRead(t *testing.T) {
	// A follower that is the primary, holds a lease and has merged.
	primary := readFacts{self: 1, primary: 1, canServeReads: true, held: true, recognised: true, merged: true, holdsBucket: true}
	// The leader holding a backup copy merged with every co-replica.
	backupLeader := readFacts{self: 3, primary: 1, leading: true, leadTermCurrent: true, canServeReads: true,
		held: true, recognised: true, merged: true, mergedWithAll: true, holdsBucket: true}
	with := func(f readFacts, change func(*readFacts)) readFacts { change(&f); return f }
	for _, tc := range []struct {
		name  string
		f     readFacts
		local localRead
		route readRoute
	}{
		{"merged primary answers from its copy", primary, localPrimaryCopy, routePrimaryHere},
		{"primary without a lease asks after merging", with(primary, func(f *readFacts) { f.canServeReads = false }), noLocalRead, routePrimaryHere},
		{"primary not merged under this authority merges first", with(primary, func(f *readFacts) { f.merged = false }), noLocalRead, routePrimaryHere},
		{"primary of a restarted incarnation", with(primary, func(f *readFacts) { f.recognised = false }), noLocalRead, routePrimaryHere},
		{"primary not holding the data yet", with(primary, func(f *readFacts) { f.held = false }), noLocalRead, routePrimaryHere},
		{"leader's backup copy", backupLeader, leaderBackupCopy, routeRemotePrimary},
		{"leader's backup copy, merge missed a co-replica", with(backupLeader, func(f *readFacts) { f.mergedWithAll = false }), noLocalRead, routeRemotePrimary},
		{"leader of an older term", with(backupLeader, func(f *readFacts) { f.leadTermCurrent = false }), noLocalRead, routeRemotePrimary},
		{"leader without quorum", with(backupLeader, func(f *readFacts) { f.canServeReads = false }), noLocalRead, routeNoQuorum},
		{"follower backup never reads its copy", with(backupLeader, func(f *readFacts) { f.leading, f.leadTermCurrent = false, false }), noLocalRead, routeRemotePrimary},
		{"follower asked to go via the leader", with(primary, func(f *readFacts) { f.viaLeader = true }), noLocalRead, routeViaLeader},
		{"leader asked via itself reads the primary", with(backupLeader, func(f *readFacts) { f.viaLeader = true }), noLocalRead, routeRemotePrimary},
		{"bucket without replicas", readFacts{self: 2, canServeReads: true}, noLocalRead, routeNoReplica},
		{"follower without a lease still asks the primary", readFacts{self: 2, primary: 1}, noLocalRead, routeRemotePrimary},
	} {
		local, route := planRead(tc.f)
		if local != tc.local || route != tc.route {
			t.Errorf("%s: planRead = (%d, %d), want (%d, %d)", tc.name, local, route, tc.local, tc.route)
		}
	}
}
