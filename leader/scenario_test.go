package leader

// Hand-written scenarios, each driving a few electors step by step the way
// the node package does (node/heartbeat.go beat/onHeartbeat,
// node/election.go campaign/onVote), to pin down the properties the
// randomized simulation checks in situations it reaches only rarely.

import (
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// cluster holds electors by ID (a restart replaces one).
type cluster struct {
	t       *testing.T
	members []shard.NodeID
	el      map[shard.NodeID]*Elector
}

func newCluster(t *testing.T, members ...shard.NodeID) *cluster {
	c := &cluster{t: t, members: members, el: map[shard.NodeID]*Elector{}}
	for _, id := range members {
		c.el[id] = newTestElector(t, id, members...)
	}
	return c
}

// restart replaces id's elector with a fresh one started at now.
func (c *cluster) restart(id shard.NodeID, now time.Time) {
	e := New(DefaultConfig(id, tDA), now)
	e.SetMembers(c.members)
	e.SetCampaignAllowed(true)
	e.SetEligible(true)
	c.el[id] = e
}

// hbMsg is a heartbeat as sent; the sender keeps sentAt.
type hbMsg struct {
	from   shard.NodeID
	term   uint64
	leader shard.NodeID
	claim  Mode
	sentAt time.Time
}

// ackMsg is the answer to a heartbeat.
type ackMsg struct {
	from   shard.NodeID
	term   uint64
	leader shard.NodeID
	claim  Mode
	lease  bool
	sentAt time.Time
}

// send builds from's heartbeat at now (after its Tick, as node.tick does):
// the leader it names is AckLeader, as in node.heartbeatLocked.
func (c *cluster) send(from shard.NodeID, now time.Time) hbMsg {
	e := c.el[from]
	return hbMsg{from: from, term: e.Term(), leader: e.AckLeader(now), claim: e.Claim(), sentAt: now}
}

// recv is node.onHeartbeat on to at now. A lease granted is noted in the
// elector, as node.grantLeaseLocked does.
func (c *cluster) recv(to shard.NodeID, m hbMsg, now time.Time) ackMsg {
	e := c.el[to]
	e.ObserveTerm(m.term)
	if m.claim != NotLeading {
		e.OnLeaderHeartbeat(m.from, m.term, m.claim, now)
	}
	lease := e.Role() == Leader && m.leader == to && m.term == e.Term() && e.Mode(now) != NotLeading
	if lease {
		e.NoteLeaseGranted(now)
	}
	return ackMsg{from: to, term: e.Term(), leader: e.AckLeader(now), claim: e.Claim(), lease: lease, sentAt: m.sentAt}
}

// answer is node.beat taking the answer a on to (the heartbeat's sender) at now.
func (c *cluster) answer(to shard.NodeID, a ackMsg, now time.Time) {
	e := c.el[to]
	e.ObserveTerm(a.term)
	e.RoundTrip(a.from, now)
	if a.leader == to {
		e.OnLeaderAck(a.from, a.sentAt, a.term, a.leader)
	}
	if a.claim != NotLeading {
		e.OnLeaderHeartbeat(a.from, a.term, a.claim, now)
	}
	if a.lease {
		e.OnReadLease(a.from, a.term, a.sentAt)
	}
}

// beat is a whole heartbeat round trip from -> to, sent at now and
// answered within a millisecond.
func (c *cluster) beat(from, to shard.NodeID, now time.Time) ackMsg {
	a := c.recv(to, c.send(from, now), now.Add(time.Millisecond/2))
	c.answer(from, a, now.Add(time.Millisecond))
	return a
}

// tick calls Tick on each node at now.
func (c *cluster) tick(now time.Time, ids ...shard.NodeID) {
	for _, id := range ids {
		c.el[id].Tick(now)
	}
}

// campaign runs cand's campaign at now with the voters that its requests
// reach (answers arrive at once). It returns the mode won.
func (c *cluster) campaign(cand shard.NodeID, now time.Time, voters ...shard.NodeID) Mode {
	c.t.Helper()
	e := c.el[cand]
	term := e.PreVoteTerm(now)
	grants := []shard.NodeID{cand}
	for _, v := range voters {
		ve := c.el[v]
		ve.ObserveTerm(e.Term())
		ok, _ := ve.HandleVote(cand, term, true, now)
		e.ObserveTerm(ve.Term())
		if ok {
			grants = append(grants, v)
		}
	}
	if !e.PreVotePassed(term, grants) || !e.BeginElection(term) {
		return NotLeading
	}
	gs := []Grant{{From: cand}}
	for _, v := range voters {
		ve := c.el[v]
		ve.ObserveTerm(e.Term())
		ok, _ := ve.HandleVote(cand, term, false, now)
		after := ve.VoteAfterResign(now)
		e.ObserveTerm(ve.Term())
		if ok {
			gs = append(gs, Grant{From: v, AfterResign: after})
		}
	}
	return e.FinishElection(term, gs, now)
}

// requireLeasesCovered asserts the read-lease rule at the election of
// winner at e: every follower still serving reads on a lease of an older
// term must see it end by the winner's SwitchAllowedAt.
func (c *cluster) requireLeasesCovered(winner shard.NodeID, e time.Time) {
	c.t.Helper()
	w := c.el[winner]
	for id, f := range c.el {
		if id == winner || !f.CanServeReads(e) || f.Term() >= w.Term() {
			continue
		}
		if end := f.readLeaseUntil; end.After(w.SwitchAllowedAt()) {
			c.t.Errorf("node %d won term %d at %v with SwitchAllowedAt %v, but node %d serves reads on a term-%d lease (leader %d) until %v",
				winner, w.Term(), e.Sub(ready), w.SwitchAllowedAt().Sub(ready), id, f.Term(), f.Leader(), end.Sub(ready))
		}
	}
}

// reasonLedRecently is HandleVote's answer from a node whose read leases,
// granted as leader, may still run.
const reasonLedRecently = "voter led recently: read leases it granted may still run"

// TestScenarioReadOnlyLeaderRestandsOverItsOwnLeases: a leader elected by
// half of four members serves reads and grants read leases; when a
// majority is back it stands again (Tick's Campaign) and wins read-write.
// node's installEverywhere only waits out grants of the current term, so
// the new term's SwitchAllowedAt must wait out the leases granted in the
// read-only term: the elector remembers them (NoteLeaseGranted).
func TestScenarioReadOnlyLeaderRestandsOverItsOwnLeases(t *testing.T) {
	c := newCluster(t, 1, 2, 3, 4)
	now := at(0)
	c.el[1].RoundTrip(4, now)
	c.el[4].RoundTrip(1, now)
	if m := c.campaign(4, now, 1); m != LeadingReadOnly {
		t.Fatalf("setup: 4 won %v with half of the votes", m)
	}
	c.beat(4, 1, now.Add(10*time.Millisecond)) // 1 follows 4 and acks
	if m := c.el[4].Mode(now.Add(20 * time.Millisecond)); m != LeadingReadOnly {
		t.Fatalf("setup: 4 in mode %v", m)
	}
	// 1 asks for a read lease with its heartbeat; 4 grants it half a
	// millisecond later.
	g := now.Add(50 * time.Millisecond)
	if a := c.beat(1, 4, g); !a.lease {
		t.Fatal("setup: no read lease granted")
	}
	granted := g.Add(time.Millisecond / 2)
	if !c.el[1].CanServeReads(now.Add(60 * time.Millisecond)) {
		t.Fatal("setup: 1 serves no reads")
	}
	// 2 and 3 come back.
	for _, p := range ids(2, 3) {
		c.beat(p, 4, now.Add(70*time.Millisecond))
		c.beat(4, p, now.Add(70*time.Millisecond))
	}
	e := now.Add(2 * tHI) // after the campaign backoff
	if !c.el[4].Tick(e).Campaign {
		t.Fatal("setup: the read-only leader does not stand again")
	}
	if !c.el[1].CanServeReads(e) {
		t.Fatal("setup: 1's lease is over")
	}
	// The vote requests to 1 are lost; 2 and 3 vote.
	if m := c.campaign(4, e, 2, 3); m != LeadingReadWrite {
		t.Fatalf("setup: re-election gave %v", m)
	}
	if want := granted.Add(tRL * 5 / 4); !c.el[4].SwitchAllowedAt().Equal(want) {
		t.Errorf("SwitchAllowedAt +%v, want +%v (5/4 of a read lease after the last grant, +%v)",
			c.el[4].SwitchAllowedAt().Sub(now), want.Sub(now), granted.Sub(now))
	}
	c.requireLeasesCovered(4, e)
}

// TestScenarioLeaderReelectedAfterStepDown: a leader whose lease ran out
// steps down and, still the highest live node, is elected again at once.
// A read lease it granted in its previous term is still running: the new
// term's SwitchAllowedAt waits for it.
func TestScenarioLeaderReelectedAfterStepDown(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	now := at(0)
	for _, p := range ids(1, 2) {
		c.el[3].RoundTrip(p, now)
		c.el[p].RoundTrip(3, now)
	}
	if m := c.campaign(3, now, 1, 2); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	s := now.Add(100 * time.Millisecond)
	c.beat(3, 1, s) // the last ack 3 gets: its lease ends at s+LL
	g := s.Add(tLL - 50*time.Millisecond)
	if a := c.beat(1, 3, g); !a.lease {
		t.Fatal("setup: no lease")
	}
	granted := g.Add(time.Millisecond / 2)
	c.el[3].RoundTrip(2, g) // 2 is alive; its acks are lost
	e := s.Add(tLL)
	if a := c.el[3].Tick(e); !a.SteppedDown {
		t.Fatal("setup: no step-down")
	}
	if a := c.el[3].Tick(e.Add(tHI)); !a.Campaign {
		t.Fatal("setup: 3 does not stand again")
	}
	// 1's vote request is lost; 2 heard 3 lead, and votes for it.
	if m := c.campaign(3, e.Add(tHI), 2); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	if !c.el[1].CanServeReads(e.Add(tHI)) {
		t.Fatal("setup: 1's lease is over")
	}
	if want := granted.Add(tRL * 5 / 4); !c.el[3].SwitchAllowedAt().Equal(want) {
		t.Errorf("SwitchAllowedAt +%v, want +%v (5/4 of a read lease after the last grant)",
			c.el[3].SwitchAllowedAt().Sub(now), want.Sub(now))
	}
	c.requireLeasesCovered(3, e.Add(tHI))
}

// TestScenarioDeposedLeaderHoldsItsVote: the rule that keeps a read lease
// safe is that a voter which heard the leader refuses anyone else for
// dead-after. The leader itself never hears itself that way: once its
// lease lapses it would vote for the next candidate at once, and with one
// more vote from a node that never heard it, a new leader would be elected
// while a lease the old one granted still runs. So a node that granted read
// leases refuses votes, real and pre, until 5/4 of a read lease after its
// last grant.
func TestScenarioDeposedLeaderHoldsItsVote(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	now := at(0)
	c.el[1].RoundTrip(2, now)
	c.el[2].RoundTrip(1, now)
	if m := c.campaign(2, now, 1); m != LeadingReadWrite { // 3 is down
		t.Fatalf("setup: %v", m)
	}
	c.beat(2, 1, now.Add(100*time.Millisecond)) // 2's lease: until +900ms
	// From here 2's heartbeats to 1 are lost, but 1's heartbeats to 2 get
	// through and earn leases.
	var g time.Time
	for d := 150 * time.Millisecond; d < 900*time.Millisecond; d += tHI {
		g = now.Add(d)
		if a := c.beat(1, 2, g); !a.lease {
			t.Fatalf("setup: no lease at +%v", d)
		}
		c.tick(g, 1, 2)
	}
	lease := g.Add(tRL)
	leasesEnd := g.Add(time.Millisecond / 2).Add(tRL * 5 / 4) // from 2's last grant
	// 2's lease is over: it steps down.
	if a := c.el[2].Tick(now.Add(900 * time.Millisecond)); !a.SteppedDown {
		t.Fatal("setup: 2 did not step down")
	}
	// 3 comes up, and reaches 2 but not 1.
	t3 := now.Add(950 * time.Millisecond)
	c.beat(3, 2, t3)
	c.beat(2, 3, t3)
	if !c.el[3].Tick(t3).Campaign {
		t.Fatal("setup: 3 does not campaign")
	}
	e := t3.Add(time.Millisecond)
	for _, pre := range []bool{true, false} {
		if ok, reason := c.el[2].HandleVote(3, c.el[2].Term()+1, pre, e); ok || reason != reasonLedRecently {
			t.Fatalf("2 asked for a vote (pre %v) while its leases run: %v %q", pre, ok, reason)
		}
	}
	if m := c.campaign(3, e, 2); m != NotLeading {
		t.Fatalf("3 won %v at +%v with the vote of 2, whose read leases run until +%v", m, e.Sub(now), leasesEnd.Sub(now))
	}
	if !c.el[1].CanServeReads(e) || !c.el[1].readLeaseUntil.Equal(lease) {
		t.Fatal("setup: 1 lost its lease")
	}
	// 3 keeps campaigning; 2 votes for it once its leases are over.
	for tt := e.Add(tHI); tt.Before(e.Add(3 * tDA)); tt = tt.Add(tHI) {
		c.beat(3, 2, tt)
		c.beat(2, 3, tt)
		c.tick(tt, 2)
		if !c.el[3].Tick(tt).Campaign {
			continue
		}
		m := c.campaign(3, tt, 2)
		if tt.Before(leasesEnd) {
			if m != NotLeading {
				t.Fatalf("3 won %v at +%v, before 2's leases ended (+%v)", m, tt.Sub(now), leasesEnd.Sub(now))
			}
			continue
		}
		if m != LeadingReadWrite {
			t.Fatalf("3 not elected at +%v, after 2's leases ended (+%v): %v", tt.Sub(now), leasesEnd.Sub(now), m)
		}
		if tt.Sub(leasesEnd) > 2*tHI {
			t.Errorf("3 elected only at +%v, %v after 2's leases ended", tt.Sub(now), tt.Sub(leasesEnd))
		}
		c.requireLeasesCovered(3, tt)
		if c.el[1].CanServeReads(tt) {
			t.Fatalf("3 elected at +%v while 1 serves reads on 2's lease", tt.Sub(now))
		}
		return
	}
	t.Fatal("3 was never elected")
}

// TestScenarioRestartedVoterDoesNotReviveStaleLeader: a node votes for a
// new leader, restarts (keeping nothing), and then takes a heartbeat that
// the previous leader sent before, delayed in the network. It follows that
// leader; if it named it in its ack, the old leader would get a lease of
// the old term while the new one holds a lease of its own: two read-write
// leaders at once. In its first dead-after a node names no leader in its
// heartbeats and acks (AckLeader); by the end of it, every lease built on
// what it acknowledged before the restart has ended.
func TestScenarioRestartedVoterDoesNotReviveStaleLeader(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	r := at(0)
	// 1 and 2 see each other; 3 is down. 2 is elected.
	c.el[1].RoundTrip(2, r)
	c.el[2].RoundTrip(1, r)
	if !c.el[2].Tick(r).Campaign {
		t.Fatal("setup: 2 does not campaign")
	}
	if m := c.campaign(2, r, 1); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	// 2's first heartbeat to 1 is held up in the network.
	stale := c.send(2, r.Add(10*time.Millisecond))
	// 3 comes up beside 1; it cannot reach 2.
	t3 := r.Add(20 * time.Millisecond)
	c.beat(3, 1, t3)
	c.beat(1, 3, t3)
	if c.el[3].Term() != c.el[2].Term() {
		t.Fatalf("setup: 3 did not learn term %d from 1's ack", c.el[2].Term())
	}
	e := t3
	if !c.el[3].Tick(e).Campaign {
		t.Fatal("setup: 3 does not campaign")
	}
	if m := c.campaign(3, e, 1); m != LeadingReadWrite {
		t.Fatalf("setup: 3's election gave %v", m)
	}
	if c.el[3].Term() <= c.el[2].Term() {
		t.Fatalf("setup: 3 won term %d, not after 2's %d", c.el[3].Term(), c.el[2].Term())
	}
	c.beat(3, 1, e.Add(10*time.Millisecond)) // 3's lease: until +LL
	// 2 ticks on, within its first lease period: no acks yet, and no
	// step-down before a lease period has passed since its election.
	for d := tHI; d <= 3*tHI; d += tHI {
		if a := c.el[2].Tick(r.Add(d)); a.SteppedDown {
			t.Fatal("setup: 2 stepped down")
		}
	}
	// 1 restarts, and the stale heartbeat arrives.
	x := r.Add(3*tHI + 50*time.Millisecond)
	c.restart(1, x)
	ack := c.recv(1, stale, x.Add(time.Millisecond))
	if c.el[1].Leader() != 2 {
		t.Fatalf("setup: the restarted node follows %d, not 2", c.el[1].Leader())
	}
	if ack.leader != 0 {
		t.Errorf("a node restarted %v ago names leader %d in its ack", time.Millisecond, ack.leader)
	}
	now := x.Add(2 * time.Millisecond)
	if now.Sub(stale.sentAt) >= tDA/2 {
		t.Fatal("setup: the answer would time out")
	}
	c.answer(2, ack, now)
	if c.el[3].Mode(now) != LeadingReadWrite {
		t.Fatal("setup: 3 lost its lease")
	}
	if m2, m3 := c.el[2].Mode(now), c.el[3].Mode(now); m2 == LeadingReadWrite && m3 == LeadingReadWrite {
		t.Errorf("two read-write leaders at once: 2 of term %d (lease from 1's ack of a heartbeat sent at +%v) and 3 of term %d",
			c.el[2].Term(), stale.sentAt.Sub(r), c.el[3].Term())
	}
	if m := c.el[2].Mode(now); m != NotLeading {
		t.Errorf("the stale leader 2 leads %v on the restarted node's ack", m)
	}
	// Its own heartbeats name no leader either, so it asks for no lease.
	if hb := c.send(1, now); hb.leader != 0 {
		t.Errorf("the restarted node's heartbeat names leader %d", hb.leader)
	}
	// Once the window is over it supports the leader it follows; by then
	// the lease 3 built on its ack before the restart is long over.
	w := x.Add(tDA)
	if got := c.el[1].AckLeader(w.Add(-1)); got != 0 {
		t.Errorf("AckLeader 1ns before the window ends: %d", got)
	}
	if got := c.el[1].AckLeader(w); got != 2 {
		t.Errorf("AckLeader when the window ends: %d, want 2", got)
	}
	if c.el[3].Mode(w) != NotLeading {
		t.Error("3's lease on the pre-restart ack outlived the restarted node's window")
	}
}

// TestScenarioFollowerLeaseEndsOnLeaderSwitch: two read-only leaders of
// one term (each elected by half of four members). A follower holding a
// read lease from the lower one hears the higher one and follows it: the
// lease it holds was granted by a leader it no longer follows, and ends.
func TestScenarioFollowerLeaseEndsOnLeaderSwitch(t *testing.T) {
	c := newCluster(t, 1, 2, 3, 4)
	now := at(0)
	if m := c.campaign(2, now, 1); m != LeadingReadOnly {
		t.Fatalf("setup: 2 won %v", m)
	}
	if m := c.campaign(4, now, 3); m != LeadingReadOnly {
		t.Fatalf("setup: 4 won %v", m)
	}
	if c.el[2].Term() != c.el[4].Term() {
		t.Fatalf("setup: terms %d and %d", c.el[2].Term(), c.el[4].Term())
	}
	c.beat(2, 1, now.Add(10*time.Millisecond))
	if a := c.beat(1, 2, now.Add(20*time.Millisecond)); !a.lease {
		t.Fatal("setup: 2 granted 1 no lease")
	}
	s := now.Add(30 * time.Millisecond)
	if !c.el[1].CanServeReads(s) || c.el[1].Leader() != 2 {
		t.Fatal("setup: 1 does not serve reads for 2")
	}
	// 4's heartbeat reaches 1: 1 follows the higher claimant (and acks).
	c.beat(4, 1, s)
	if c.el[1].Leader() != 4 {
		t.Fatalf("1 follows %d, want 4", c.el[1].Leader())
	}
	if c.el[1].CanServeReads(s) {
		t.Error("1 serves reads for 4 on a lease that 2 granted")
	}
	// A lease from 4 starts a new generation.
	gen := c.el[1].LeaseGen()
	if a := c.beat(1, 4, s.Add(10*time.Millisecond)); !a.lease {
		t.Fatal("4 granted 1 no lease")
	}
	if !c.el[1].CanServeReads(s.Add(20*time.Millisecond)) || c.el[1].LeaseGen() != gen+1 {
		t.Errorf("lease from 4: serving %v, generation %d (was %d)", c.el[1].CanServeReads(s.Add(20*time.Millisecond)), c.el[1].LeaseGen(), gen)
	}
}

// TestScenarioTermsDoNotRepeatAfterRestarts: a node keeps nothing across a
// restart, so once every member has restarted nobody remembers the terms
// used before. The next election must still ask for a newer term: a term
// won twice would have its versions written twice.
func TestScenarioTermsDoNotRepeatAfterRestarts(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	now := at(0)
	for _, p := range ids(1, 2) {
		c.el[3].RoundTrip(p, now)
		c.el[p].RoundTrip(3, now)
	}
	if m := c.campaign(3, now, 1, 2); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	old := c.el[3].Term()
	// The members restart one by one, each before it hears from another.
	x := now.Add(300 * time.Millisecond)
	for i, id := range ids(1, 2, 3) {
		c.restart(id, x.Add(time.Duration(i)*tHI))
		if c.el[id].Term() != 0 {
			t.Fatal("setup: a restarted node remembers a term")
		}
	}
	y := x.Add(2*tHI + tDA) // the last startup window is over
	for _, a := range ids(1, 2, 3) {
		for _, b := range ids(1, 2, 3) {
			if a != b {
				c.beat(a, b, y)
			}
		}
	}
	if !c.el[3].Tick(y).Campaign {
		t.Fatal("setup: 3 does not campaign")
	}
	if m := c.campaign(3, y, 1, 2); m != LeadingReadWrite {
		t.Fatalf("setup: the election after the restarts gave %v", m)
	}
	if term := c.el[3].Term(); term <= old {
		t.Errorf("term %d won after every member restarted; term %d was won before", term, old)
	}
}

// TestScenarioResignedLeaderLeasesWaitedOut is the designed counterpart: a
// leader that resigns in favour of a higher node lets the followers that
// heard the resign vote for it at once (their own leases end with the
// resign), and the new leader's SwitchAllowedAt waits 5/4 of a read lease,
// which covers every lease the resigned leader granted to followers that
// did not hear the resign. The resigned leader itself holds its vote while
// its leases may run.
func TestScenarioResignedLeaderLeasesWaitedOut(t *testing.T) {
	c := newCluster(t, 1, 2, 3, 4, 5)
	now := at(0)
	for _, p := range ids(1, 2) {
		c.el[3].RoundTrip(p, now)
		c.el[p].RoundTrip(3, now)
	}
	// 4 and 5 are down.
	if m := c.campaign(3, now, 1, 2); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	c.beat(3, 1, now.Add(10*time.Millisecond))
	c.beat(3, 2, now.Add(10*time.Millisecond))
	g := now.Add(20 * time.Millisecond)
	for _, f := range ids(1, 2) {
		if a := c.beat(f, 3, g); !a.lease {
			t.Fatalf("setup: no lease for %d", f)
		}
	}
	// 4 and 5 are back and follow 3; 5 preempts it.
	p := now.Add(30 * time.Millisecond)
	for _, f := range ids(4, 5) {
		c.beat(3, f, p)
		c.beat(f, 3, p)
	}
	if c.el[5].Leader() != 3 || !c.el[5].Tick(p).Preempt {
		t.Fatal("setup: 5 does not preempt")
	}
	c.el[3].Resign(p)
	// The Resign to 2 is lost: 2 keeps its lease; 1, 4 and 5 hear it.
	for _, f := range ids(1, 4, 5) {
		c.el[f].OnResign(3, c.el[3].Term(), p)
	}
	if c.el[1].CanServeReads(p) {
		t.Fatal("1 kept its lease after the resign")
	}
	e := p.Add(time.Millisecond)
	if !c.el[5].Tick(e).Campaign {
		t.Fatal("setup: 5 does not campaign after the resign")
	}
	if ok, reason := c.el[3].HandleVote(5, c.el[3].Term()+1, true, e); ok || reason != reasonLedRecently {
		t.Fatalf("the resigned leader, whose leases run, voted: %v %q", ok, reason)
	}
	if ok, reason := c.el[2].HandleVote(5, c.el[2].Term()+1, true, e); ok || reason != "voter hears a live leader" {
		t.Fatalf("setup: 2 (no resign heard) voted: %v %q", ok, reason)
	}
	// The vote requests to 2 are lost (their newer term would end its lease).
	if m := c.campaign(5, e, 1, 3, 4); m != LeadingReadWrite {
		t.Fatalf("election after resign: %v", m)
	}
	if !c.el[2].CanServeReads(e) {
		t.Fatal("setup: 2 has no lease")
	}
	if want := e.Add(tRL * 5 / 4); !c.el[5].SwitchAllowedAt().Equal(want) {
		t.Fatalf("SwitchAllowedAt +%v, want +%v", c.el[5].SwitchAllowedAt().Sub(e), want.Sub(e))
	}
	c.requireLeasesCovered(5, e)
}

// TestScenarioResignedLeaderVotesOnceItsLeasesEnd: of three members, the
// resign reaches the preempting node but not the follower that holds a
// read lease. That follower still hears a live leader and the resigned
// leader waits for its leases: the handoff waits until they end (5/4 of
// a read lease after the last grant, well within dead-after), then
// completes.
func TestScenarioResignedLeaderVotesOnceItsLeasesEnd(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	now := at(0)
	for _, p := range ids(1, 3) {
		c.el[2].RoundTrip(p, now)
		c.el[p].RoundTrip(2, now)
	}
	c.el[1].RoundTrip(3, now.Add(-tDA)) // 3 has been down
	c.el[2].RoundTrip(3, now.Add(-tDA))
	if m := c.campaign(2, now, 1); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	c.beat(2, 1, now.Add(10*time.Millisecond))
	g := now.Add(20 * time.Millisecond)
	if a := c.beat(1, 2, g); !a.lease {
		t.Fatal("setup: no lease")
	}
	leasesEnd := g.Add(time.Millisecond / 2).Add(tRL * 5 / 4)
	// 3 is back and follows 2, then preempts it.
	p := now.Add(30 * time.Millisecond)
	c.beat(2, 3, p)
	c.beat(3, 2, p)
	if c.el[3].Leader() != 2 || !c.el[3].Tick(p).Preempt {
		t.Fatal("setup: 3 does not preempt")
	}
	c.el[2].Resign(p)
	// The Resign to 1 is lost: 1 keeps its lease; 3 hears it.
	c.el[3].OnResign(2, c.el[2].Term(), p)
	for tt := p.Add(time.Millisecond); tt.Before(p.Add(tDA)); tt = tt.Add(tHI) {
		c.beat(3, 2, tt)
		c.beat(2, 3, tt)
		if !c.el[3].Tick(tt).Campaign {
			continue
		}
		m := c.campaign(3, tt, 2)
		if tt.Before(leasesEnd) {
			if m != NotLeading {
				t.Fatalf("3 won %v at +%v with the vote of 2, whose leases run until +%v", m, tt.Sub(now), leasesEnd.Sub(now))
			}
			continue
		}
		if m != LeadingReadWrite {
			t.Fatalf("3 not elected at +%v, after 2's leases ended: %v", tt.Sub(now), m)
		}
		if want := tt.Add(tRL * 5 / 4); !c.el[3].SwitchAllowedAt().Equal(want) {
			t.Errorf("SwitchAllowedAt +%v, want +%v (within dead-after of the resign)", c.el[3].SwitchAllowedAt().Sub(now), want.Sub(now))
		}
		c.requireLeasesCovered(3, tt)
		return
	}
	t.Fatal("3 was not elected within dead-after of the resign")
}

// TestScenarioVotersThatHeardLeaderHoldOff is the rule the leases rest on,
// end to end: a follower that acknowledged a leader refuses other
// candidates for dead-after, by which time every lease that leader built
// on its ack (leader lease and read leases) is over.
func TestScenarioVotersThatHeardLeaderHoldOff(t *testing.T) {
	c := newCluster(t, 1, 2, 3)
	now := at(0)
	c.el[1].RoundTrip(2, now)
	c.el[2].RoundTrip(1, now)
	if m := c.campaign(2, now, 1); m != LeadingReadWrite {
		t.Fatalf("setup: %v", m)
	}
	s := now.Add(10 * time.Millisecond)
	c.beat(2, 1, s)
	g := s.Add(10 * time.Millisecond)
	if a := c.beat(1, 2, g); !a.lease {
		t.Fatal("setup: no lease")
	}
	// 2 vanishes; 3 appears beside 1.
	for d := time.Duration(0); d < 3*tDA; d += tHI {
		tt := s.Add(d)
		c.beat(1, 3, tt)
		c.beat(3, 1, tt)
		c.tick(tt, 1)
		if !c.el[3].Tick(tt).Campaign {
			continue
		}
		if m := c.campaign(3, tt, 1); m == NotLeading {
			continue
		}
		// Elected: both of 2's leases are over.
		if c.el[1].CanServeReads(tt) && c.el[1].Leader() == 2 {
			t.Fatalf("3 elected at +%v while 1 serves reads for 2", tt.Sub(s))
		}
		if end := s.Add(tLL).Add(tRL); tt.Before(end) {
			t.Fatalf("3 elected at +%v, before 2's leases could end (+%v)", tt.Sub(s), end.Sub(s))
		}
		if tt.Before(g.Add(tDA)) {
			t.Fatalf("3 elected at +%v, within dead-after of 1 hearing 2", tt.Sub(s))
		}
		return
	}
	t.Fatal("3 was never elected")
}
