package leader

import (
	"testing"
	"time"
)

// Leaving nodes (SetLeaving) and lease generations (LeaseGen), checked
// against their doc comments.

func TestLeavingSelfNeverStands(t *testing.T) {
	now := at(0)
	e := newTestElector(t, 3, 1, 2, 3)
	e.SetLeaving(3, true)
	if !e.Leaving(3) || e.Leaving(2) {
		t.Fatal("Leaving does not report what was set")
	}
	if a := e.Tick(now); a.Campaign {
		t.Fatal("a leaving node campaigned")
	}
	e.SetLeaving(3, false)
	if e.Leaving(3) {
		t.Fatal("SetLeaving(false) did not clear")
	}
	if a := e.Tick(now); !a.Campaign {
		t.Fatal("no campaign once no longer leaving")
	}

	// A leaving follower does not preempt a lower leader.
	f := newTestElector(t, 3, 1, 2, 3)
	f.ObserveTerm(2)
	f.RoundTrip(2, now)
	f.OnLeaderHeartbeat(2, 2, LeadingReadWrite, now)
	f.SetLeaving(3, true)
	if f.Tick(now).Preempt {
		t.Fatal("a leaving node preempted")
	}
	f.SetLeaving(3, false)
	if !f.Tick(now).Preempt {
		t.Fatal("setup: no preempt when not leaving")
	}

	// A leaving read-only leader does not stand again for read-write.
	l := newTestElector(t, 4, 1, 2, 3, 4)
	mustLead(t, l, now, LeadingReadOnly, 1)
	for _, p := range ids(1, 2, 3) {
		l.RoundTrip(p, now)
	}
	l.OnLeaderAck(1, now, l.Term(), 4)
	l.SetLeaving(4, true)
	if l.Tick(now.Add(2 * tHI)).Campaign {
		t.Fatal("a leaving read-only leader stood again")
	}
	l.SetLeaving(4, false)
	if !l.Tick(now.Add(2 * tHI)).Campaign {
		t.Fatal("setup: the read-only leader does not stand again")
	}
}

func TestLeavingHigherNodeIsPassedOver(t *testing.T) {
	now := at(0)
	// 2 campaigns though 3 is alive, when 3 is leaving.
	e := newTestElector(t, 2, 1, 2, 3)
	e.RoundTrip(3, now)
	if e.Tick(now).Campaign {
		t.Fatal("setup: campaigned below a live higher node")
	}
	e.SetLeaving(3, true)
	if !e.Tick(now).Campaign {
		t.Fatal("a live but leaving higher node blocked the campaign")
	}
	// Voters do not count it as a higher live node either.
	v := newTestElector(t, 1, 1, 2, 3)
	v.RoundTrip(3, now)
	if ok, reason := v.HandleVote(2, 1, true, now); ok || reason != "a higher node is alive" {
		t.Fatalf("setup: %v %q", ok, reason)
	}
	v.SetLeaving(3, true)
	if ok, reason := v.HandleVote(2, 1, true, now); !ok {
		t.Fatalf("a leaving higher node blocked the pre-vote: %q", reason)
	}
	if ok, reason := v.HandleVote(2, 1, false, now); !ok {
		t.Fatalf("a leaving higher node blocked the vote: %q", reason)
	}
	// A leaving voter still votes (it hands off; it does not obstruct).
	w := newTestElector(t, 3, 1, 2, 3)
	w.SetLeaving(3, true)
	if ok, reason := w.HandleVote(2, 1, false, now); !ok {
		t.Fatalf("a leaving voter refused a lower candidate: %q", reason)
	}
	// When everyone else is leaving too, the one that is not stands.
	x := newTestElector(t, 1, 1, 2, 3)
	x.RoundTrip(2, now)
	x.RoundTrip(3, now)
	x.SetLeaving(2, true)
	x.SetLeaving(3, true)
	if !x.Tick(now).Campaign {
		t.Fatal("the only node not leaving did not stand")
	}
	// And when all are leaving, nobody does.
	x.SetLeaving(1, true)
	if x.Tick(now.Add(time.Hour)).Campaign {
		t.Fatal("a cluster of leaving nodes elected one of them")
	}
}

func TestLeaseGen(t *testing.T) {
	now := at(0)
	e := newTestElector(t, 1, 1, 2, 3)
	e.ObserveTerm(4)
	e.OnLeaderHeartbeat(3, 4, LeadingReadWrite, now)
	if e.LeaseGen() != 0 {
		t.Fatalf("fresh LeaseGen %d", e.LeaseGen())
	}
	e.OnReadLease(3, 4, now)
	if e.LeaseGen() != 1 {
		t.Fatalf("first lease: gen %d, want 1", e.LeaseGen())
	}
	// Renewals while the lease lasts keep the generation.
	for _, d := range []time.Duration{0, 100 * time.Millisecond, tRL - 1} {
		e.OnReadLease(3, 4, now.Add(d))
		if e.LeaseGen() != 1 {
			t.Fatalf("renewal at +%v: gen %d, want 1", d, e.LeaseGen())
		}
		now = now.Add(d)
	}
	// A late answer sent before the lease ended still continues it.
	until := e.readLeaseUntil
	e.OnReadLease(3, 4, until.Add(-1))
	if e.LeaseGen() != 1 {
		t.Fatalf("a grant sent within the lease started a new generation: %d", e.LeaseGen())
	}
	// A grant for a heartbeat sent once the lease had ended starts anew.
	until = e.readLeaseUntil
	e.OnReadLease(3, 4, until)
	if e.LeaseGen() != 2 {
		t.Fatalf("grant after a gap: gen %d, want 2", e.LeaseGen())
	}
	// Refused grants change nothing.
	e.OnReadLease(2, 4, until.Add(time.Hour))
	e.OnReadLease(3, 3, until.Add(time.Hour))
	if e.LeaseGen() != 2 {
		t.Fatalf("a refused grant changed the generation: %d", e.LeaseGen())
	}
	// A lease ended early (newer term, resign, silent leader) leaves a gap.
	e.ObserveTerm(5)
	e.OnLeaderHeartbeat(3, 5, LeadingReadWrite, until)
	e.OnReadLease(3, 5, until)
	if e.LeaseGen() != 3 {
		t.Fatalf("lease after a newer term: gen %d, want 3", e.LeaseGen())
	}
	e.OnResign(3, 5, until)
	// A message of the resigned leader's term still on its way does not
	// make it leader again: it leads again only in a newer term.
	if ok, _ := e.OnLeaderHeartbeat(3, 5, LeadingReadWrite, until); ok || e.Leader() != 0 {
		t.Fatal("a heartbeat of the term its sender resigned made it leader again")
	}
	e.ObserveTerm(6)
	e.OnLeaderHeartbeat(3, 6, LeadingReadWrite, until)
	e.OnReadLease(3, 6, until)
	if e.LeaseGen() != 4 {
		t.Fatalf("lease after a resign: gen %d, want 4", e.LeaseGen())
	}
	if a := e.Tick(until.Add(tDA)); !a.LeaderLost {
		t.Fatal("setup: leader not lost")
	}
	e.OnLeaderHeartbeat(3, 6, LeadingReadWrite, until.Add(tDA))
	e.OnReadLease(3, 6, until.Add(tDA))
	if e.LeaseGen() != 5 {
		t.Fatalf("lease after the leader was lost: gen %d, want 5", e.LeaseGen())
	}
}
