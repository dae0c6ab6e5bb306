package leader

import (
	"slices"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// The unit tests use the default timing for dead-after 2s: heartbeats every
// 100ms, suspicion after 1s, leases of 800ms.
const (
	tDA = 2 * time.Second
	tHI = 100 * time.Millisecond
	tSA = time.Second
	tLL = 800 * time.Millisecond
	tRL = 800 * time.Millisecond
)

// t0 is when every test elector starts; ready is when its startup window
// (no votes, no campaign) is over.
var (
	t0    = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ready = t0.Add(tDA)
)

func at(d time.Duration) time.Time { return ready.Add(d) }

// newTestElector returns an elector for id among members, started at t0,
// allowed to campaign and eligible to preempt.
func newTestElector(t *testing.T, id shard.NodeID, members ...shard.NodeID) *Elector {
	t.Helper()
	e := New(DefaultConfig(id, tDA), t0)
	if got := e.Config(); got.HeartbeatInterval != tHI || got.SuspectAfter != tSA || got.LeaderLease != tLL || got.ReadLease != tRL {
		t.Fatalf("unexpected default timing %+v", got)
	}
	e.SetMembers(members)
	e.SetCampaignAllowed(true)
	e.SetEligible(true)
	return e
}

func ids(xs ...shard.NodeID) []shard.NodeID { return xs }

// elect runs a whole campaign for e at now with the given other voters
// granting, and returns the mode won.
func elect(t *testing.T, e *Elector, now time.Time, voters ...shard.NodeID) Mode {
	t.Helper()
	term := e.PreVoteTerm(now)
	if !e.BeginElection(term) {
		t.Fatalf("node %d: BeginElection(%d) refused at term %d", e.cfg.ID, term, e.Term())
	}
	if e.Role() != Candidate || e.Term() != term {
		t.Fatalf("node %d: after BeginElection role %v term %d, want candidate of %d", e.cfg.ID, e.Role(), e.Term(), term)
	}
	gs := []Grant{{From: e.cfg.ID}}
	for _, v := range voters {
		gs = append(gs, Grant{From: v})
	}
	return e.FinishElection(term, gs, now)
}

// mustLead elects e with the voters and fails unless it wins want.
func mustLead(t *testing.T, e *Elector, now time.Time, want Mode, voters ...shard.NodeID) {
	t.Helper()
	if got := elect(t, e, now, voters...); got != want {
		t.Fatalf("node %d elected with %v: mode %v, want %v", e.cfg.ID, voters, got, want)
	}
	if e.Role() != Leader || e.Leader() != e.cfg.ID {
		t.Fatalf("node %d after winning: role %v leader %d", e.cfg.ID, e.Role(), e.Leader())
	}
}

func TestStrings(t *testing.T) {
	for r, want := range map[Role]string{Follower: "follower", Candidate: "candidate", Leader: "leader", Role(9): "follower"} {
		if r.String() != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), r.String(), want)
		}
	}
	for h, want := range map[Health]string{Alive: "alive", Suspect: "suspect", Dead: "dead", Health(9): "alive"} {
		if h.String() != want {
			t.Errorf("Health(%d).String() = %q, want %q", int(h), h.String(), want)
		}
	}
}

func TestNewElectorState(t *testing.T) {
	e := New(Config{ID: 4}, t0)
	if e.Term() != 0 || e.Leader() != 0 || e.Role() != Follower || e.Claim() != NotLeading {
		t.Fatalf("fresh elector: term %d leader %d role %v claim %v", e.Term(), e.Leader(), e.Role(), e.Claim())
	}
	if len(e.Members()) != 0 {
		t.Fatalf("fresh elector has members %v", e.Members())
	}
	if e.Mode(ready) != NotLeading || e.CanServeReads(ready) || e.LeaderMode(ready) != NotLeading {
		t.Fatal("fresh elector leads or serves reads")
	}
	if !e.SwitchAllowedAt().IsZero() {
		t.Fatalf("fresh SwitchAllowedAt %v", e.SwitchAllowedAt())
	}
	// No members: even a campaign-allowed node does not stand.
	e.SetCampaignAllowed(true)
	if a := e.Tick(at(time.Hour)); a.Campaign {
		t.Fatal("a node that is not a member campaigned")
	}
}

func TestSetMembersSortsDedupsAndCopies(t *testing.T) {
	e := newTestElector(t, 2)
	in := ids(5, 2, 9, 5, 1)
	e.SetMembers(in)
	if got := e.Members(); !slices.Equal(got, ids(1, 2, 5, 9)) {
		t.Fatalf("Members() = %v", got)
	}
	in[0] = 100
	got := e.Members()
	got[0] = 100
	if m := e.Members(); !slices.Equal(m, ids(1, 2, 5, 9)) {
		t.Fatalf("members aliased the caller's slice: %v", m)
	}
	// Peers of new members count as dead until heard from.
	if h := e.Health(9, at(0)); h != Dead {
		t.Fatalf("new member health %v, want dead", h)
	}
}

func TestHealthThresholds(t *testing.T) {
	e := newTestElector(t, 1, 1, 2, 3)
	heard := at(time.Second)
	e.RoundTrip(2, heard)
	cases := []struct {
		now  time.Time
		want Health
	}{
		{heard, Alive},
		{heard.Add(tSA - 1), Alive},
		{heard.Add(tSA), Suspect},
		{heard.Add(tDA - 1), Suspect},
		{heard.Add(tDA), Dead},
		{heard.Add(time.Hour), Dead},
	}
	for _, c := range cases {
		if got := e.Health(2, c.now); got != c.want {
			t.Errorf("Health(2) %v after the round trip = %v, want %v", c.now.Sub(heard), got, c.want)
		}
	}
	if got := e.Health(3, heard); got != Dead {
		t.Errorf("never-heard member: %v, want dead", got)
	}
	if got := e.Health(42, heard); got != Dead {
		t.Errorf("unknown node: %v, want dead", got)
	}
	if got := e.Health(1, t0.Add(-time.Hour)); got != Alive {
		t.Errorf("self: %v, want alive", got)
	}
	// An older round trip (a late answer) does not move liveness back.
	e.RoundTrip(2, heard.Add(-time.Second))
	if got := e.LastAck(2); !got.Equal(heard) {
		t.Errorf("LastAck after an older round trip = %v, want %v", got, heard)
	}
	if !e.LastAck(42).IsZero() {
		t.Error("LastAck of unknown node is not zero")
	}
	// A round trip with self is ignored; self stays alive.
	e.RoundTrip(1, heard)
	if !e.LastAck(1).IsZero() {
		t.Error("round trip with self was recorded")
	}
}

func TestRoundTripAndForgetNonMembers(t *testing.T) {
	e := newTestElector(t, 1, 1, 2)
	e.RoundTrip(7, at(0)) // a joining node, not a member
	if e.Health(7, at(0)) != Alive {
		t.Fatal("non-member liveness not tracked")
	}
	e.Forget(7)
	if e.Health(7, at(0)) != Dead || !e.LastAck(7).IsZero() {
		t.Fatal("Forget kept a non-member")
	}
	e.RoundTrip(2, at(0))
	e.Forget(2) // a member: kept
	if e.Health(2, at(0)) != Alive {
		t.Fatal("Forget dropped a member's record")
	}
	// Liveness survives a membership change.
	e.SetMembers(ids(1, 2, 3))
	if e.Health(2, at(0)) != Alive {
		t.Fatal("SetMembers lost a liveness record")
	}
}

func TestStartupWindow(t *testing.T) {
	t.Run("no votes", func(t *testing.T) {
		e := newTestElector(t, 1, 1, 2)
		e.RoundTrip(2, t0.Add(tDA-time.Millisecond))
		for _, pre := range []bool{true, false} {
			ok, reason := e.HandleVote(2, 1, pre, t0)
			if ok || reason != "voter started recently" {
				t.Fatalf("pre=%v at start: %v %q", pre, ok, reason)
			}
			ok, reason = e.HandleVote(2, 1, pre, t0.Add(tDA-1))
			if ok || reason != "voter started recently" {
				t.Fatalf("pre=%v 1ns before the window ends: %v %q", pre, ok, reason)
			}
		}
		if ok, reason := e.HandleVote(2, 1, true, t0.Add(tDA)); !ok {
			t.Fatalf("pre-vote when the window ends refused: %q", reason)
		}
		if ok, reason := e.HandleVote(2, 1, false, t0.Add(tDA)); !ok {
			t.Fatalf("vote when the window ends refused: %q", reason)
		}
	})
	t.Run("no campaign", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2)
		for _, d := range []time.Duration{0, tHI, tDA / 2, tDA - 1} {
			if a := e.Tick(t0.Add(d)); a.Campaign {
				t.Fatalf("campaigned %v after start", d)
			}
		}
		if a := e.Tick(t0.Add(tDA)); !a.Campaign {
			t.Fatal("no campaign when the startup window ended")
		}
	})
	t.Run("single node", func(t *testing.T) {
		e := newTestElector(t, 1, 1)
		if e.Tick(t0.Add(tDA - 1)).Campaign {
			t.Fatal("campaigned in the startup window")
		}
		if !e.Tick(t0.Add(tDA)).Campaign {
			t.Fatal("single node did not campaign")
		}
		mustLead(t, e, t0.Add(tDA), LeadingReadWrite)
		if e.Mode(t0.Add(tDA)) != LeadingReadWrite || e.Mode(t0.Add(time.Hour)) != LeadingReadWrite {
			t.Fatal("a single-member leader needs no acks")
		}
	})
	t.Run("no preempt", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.RoundTrip(2, t0.Add(tDA/2))
		e.ObserveTerm(4)
		if ok, _ := e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, t0.Add(tDA/2)); !ok {
			t.Fatal("leader heartbeat not accepted")
		}
		if a := e.Tick(t0.Add(tDA/2 + tHI)); a.Preempt {
			t.Fatal("preempted in the startup window")
		}
		e.RoundTrip(2, t0.Add(tDA))
		e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, t0.Add(tDA))
		if a := e.Tick(t0.Add(tDA)); !a.Preempt {
			t.Fatal("no preempt after the startup window")
		}
	})
}

func TestOnlyHighestAliveCampaigns(t *testing.T) {
	now := at(time.Second)
	cases := []struct {
		name  string
		id    shard.NodeID
		alive []shard.NodeID // peers with a round trip just now
		stale []shard.NodeID // peers last heard exactly dead-after ago
		want  bool
	}{
		{"highest with all alive", 3, ids(1, 2), nil, true},
		{"middle with highest alive", 2, ids(1, 3), nil, false},
		{"lowest with others alive", 1, ids(2, 3), nil, false},
		{"middle with highest dead", 2, ids(1), ids(3), true},
		{"middle with highest never heard", 2, ids(1), nil, true},
		{"lowest alone", 1, nil, ids(2, 3), true},
		{"middle with highest suspect", 2, ids(1), nil, false}, // suspect counts as alive, see below
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestElector(t, c.id, 1, 2, 3)
			for _, p := range c.alive {
				e.RoundTrip(p, now)
			}
			for _, p := range c.stale {
				e.RoundTrip(p, now.Add(-tDA))
			}
			if c.name == "middle with highest suspect" {
				e.RoundTrip(3, now.Add(-tSA))
				if e.Health(3, now) != Suspect {
					t.Fatal("setup: 3 not suspect")
				}
			}
			if got := e.Tick(now).Campaign; got != c.want {
				t.Fatalf("Campaign = %v, want %v", got, c.want)
			}
		})
	}
	t.Run("non-member higher node does not stop a campaign", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2)
		e.RoundTrip(9, now) // alive but not a voting member
		if !e.Tick(now).Campaign {
			t.Fatal("a live non-member blocked the campaign")
		}
	})
	t.Run("not allowed", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.SetCampaignAllowed(false)
		if e.Tick(now).Campaign {
			t.Fatal("campaigned without being allowed")
		}
	})
	t.Run("not a member", func(t *testing.T) {
		e := newTestElector(t, 4, 1, 2, 3)
		if e.Tick(now).Campaign {
			t.Fatal("a non-member campaigned")
		}
	})
	t.Run("known leader", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.ObserveTerm(2)
		e.OnLeaderHeartbeat(2, 2, LeadingReadWrite, now)
		if a := e.Tick(now); a.Campaign {
			t.Fatal("campaigned while following a live leader")
		}
	})
	t.Run("backoff", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		if !e.Tick(now).Campaign {
			t.Fatal("no first campaign")
		}
		if term := e.PreVoteTerm(now); term != uint64(now.UnixMicro()) {
			t.Fatalf("PreVoteTerm = %d, want the clock's microseconds %d", term, now.UnixMicro())
		}
		if e.Term() != 0 {
			t.Fatal("PreVoteTerm changed the term")
		}
		if e.Tick(now.Add(2*tHI - 1)).Campaign {
			t.Fatal("campaigned again within the backoff")
		}
		if !e.Tick(now.Add(2 * tHI)).Campaign {
			t.Fatal("no campaign after the backoff")
		}
	})
	t.Run("candidate does nothing", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.BeginElection(e.PreVoteTerm(now))
		if a := e.Tick(now.Add(time.Hour)); a != (Action{}) {
			t.Fatalf("candidate Tick = %+v", a)
		}
	})
}

func TestPreVotePassedAndBeginElection(t *testing.T) {
	cases := []struct {
		members []shard.NodeID
		grants  []shard.NodeID
		want    bool
	}{
		{ids(1), ids(1), true},
		{ids(1, 2), ids(2), true}, // half of two
		{ids(1, 2, 3), ids(3), false},
		{ids(1, 2, 3), ids(3, 1), true},
		{ids(1, 2, 3, 4), ids(4, 1), true}, // half of four
		{ids(1, 2, 3, 4), ids(4), false},
		{ids(1, 2, 3, 4, 5), ids(5, 1), false},
		{ids(1, 2, 3, 4, 5), ids(5, 1, 2), true},
		{ids(1, 2, 3, 4, 5), ids(5, 1, 1, 1), false},    // duplicates count once
		{ids(1, 2, 3, 4, 5), ids(5, 1, 8, 9), false},    // non-members do not count
		{ids(1, 2, 3, 4, 5), ids(5, 1, 2, 1), true},     // duplicates harmless
		{ids(1, 2, 3, 4, 5, 6), ids(6, 8, 9), false},    // non-members
		{ids(1, 2, 3, 4, 5, 6), ids(6, 1, 2), true},     // half of six
		{ids(1, 2, 3, 4, 5, 6, 7), ids(7, 1, 2), false}, // three of seven
	}
	for _, c := range cases {
		id := c.members[len(c.members)-1]
		e := newTestElector(t, id, c.members...)
		term := e.PreVoteTerm(at(0))
		if got := e.PreVotePassed(term, c.grants); got != c.want {
			t.Errorf("members %v grants %v: PreVotePassed = %v, want %v", c.members, c.grants, got, c.want)
		}
		// Any newer term will do (terms may jump to the clock's seconds);
		// the current one or an older one will not.
		if got := e.PreVotePassed(term+7, c.grants); got != c.want {
			t.Errorf("members %v grants %v: PreVotePassed for a later term = %v, want %v", c.members, c.grants, got, c.want)
		}
		e.ObserveTerm(term)
		if e.PreVotePassed(term, c.members) || e.PreVotePassed(term-1, c.members) {
			t.Errorf("members %v: pre-vote for a term not newer than %d passed", c.members, term)
		}
	}

	e := newTestElector(t, 3, 1, 2, 3)
	e.ObserveTerm(5)
	if e.BeginElection(5) || e.BeginElection(4) || e.BeginElection(0) {
		t.Fatal("BeginElection accepted a term not newer than the current one")
	}
	if e.Term() != 5 || e.Role() != Follower {
		t.Fatalf("a refused BeginElection changed the state: term %d role %v", e.Term(), e.Role())
	}
	if !e.BeginElection(9) {
		t.Fatal("BeginElection of a later term (skipping some) refused")
	}
	if e.Term() != 9 || e.Role() != Candidate || e.Leader() != 0 {
		t.Fatalf("candidate: term %d role %v leader %d", e.Term(), e.Role(), e.Leader())
	}
	if e.BeginElection(10) {
		t.Fatal("a candidate began a second election")
	}
	// The candidate voted for itself: another candidate of term 9 is refused.
	if ok, reason := e.HandleVote(2, 9, false, at(0)); ok || reason != "already voted in this term" {
		t.Fatalf("candidate voting for another: %v %q", ok, reason)
	}
	// Idempotent vote for itself.
	if ok, reason := e.HandleVote(3, 9, false, at(0)); !ok {
		t.Fatalf("candidate refused itself: %q", reason)
	}
	// Skipped terms stay skipped: a candidate of one of them is refused.
	if ok, reason := e.HandleVote(2, 7, false, at(0)); ok || reason != "term is not newer" {
		t.Fatalf("vote for a skipped term: %v %q", ok, reason)
	}
	// Term+1 is still accepted.
	f := newTestElector(t, 3, 1, 2, 3)
	f.ObserveTerm(5)
	if !f.PreVotePassed(6, ids(3, 1)) || !f.BeginElection(6) || f.Term() != 6 {
		t.Fatal("the next term was refused")
	}
}

func TestPreVoteTerm(t *testing.T) {
	now := at(0)
	secs := uint64(now.UnixMicro())
	t.Run("clock ahead of the term", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		if got := e.PreVoteTerm(now); got != secs {
			t.Fatalf("fresh elector: PreVoteTerm = %d, want the clock's microseconds %d", got, secs)
		}
		if e.Term() != 0 {
			t.Fatal("PreVoteTerm changed the term")
		}
		e.ObserveTerm(7)
		if got := e.PreVoteTerm(now.Add(time.Second)); got != secs+1_000_000 {
			t.Fatalf("term 7: PreVoteTerm a second later = %d, want %d", got, secs+1_000_000)
		}
	})
	t.Run("term ahead of the clock", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.ObserveTerm(secs)
		if got := e.PreVoteTerm(now); got != secs+1 {
			t.Fatalf("term at the clock's seconds: PreVoteTerm = %d, want %d", got, secs+1)
		}
		e.ObserveTerm(secs + 100)
		if got := e.PreVoteTerm(now); got != secs+101 {
			t.Fatalf("term ahead of the clock: PreVoteTerm = %d, want %d", got, secs+101)
		}
	})
	t.Run("elections within one second", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		var last uint64
		for i := range 5 {
			tt := now.Add(time.Duration(i) * 2 * tHI)
			term := e.PreVoteTerm(tt)
			if term <= last || term <= e.Term() {
				t.Fatalf("campaign %d asks for term %d after %d (current %d)", i, term, last, e.Term())
			}
			if !e.BeginElection(term) {
				t.Fatalf("BeginElection(%d) refused", term)
			}
			e.FinishElection(term, nil, tt) // lost
			last = term
		}
	})
	t.Run("clock at or before the epoch", func(t *testing.T) {
		for _, clock := range []time.Time{time.Unix(0, 0), time.Unix(-5, 0), time.Unix(0, 999), {}} {
			e := New(DefaultConfig(3, tDA), clock.Add(-tDA))
			e.ObserveTerm(4)
			if got := e.PreVoteTerm(clock); got != 5 {
				t.Errorf("clock %v: PreVoteTerm = %d, want term+1 = 5", clock, got)
			}
		}
	})
	t.Run("backoff", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.PreVoteTerm(now)
		if e.Tick(now.Add(2*tHI-1)).Campaign || !e.Tick(now.Add(2*tHI)).Campaign {
			t.Fatal("PreVoteTerm did not set a backoff of two heartbeats")
		}
	})
}

func TestHandleVote(t *testing.T) {
	now := at(10 * time.Second)
	type setup func(t *testing.T, e *Elector)
	cases := []struct {
		name    string
		id      shard.NodeID
		members []shard.NodeID
		setup   setup
		from    shard.NodeID
		term    uint64 // 0: the voter's term after setup, plus one
		pre     bool
		ok      bool
		reason  string
	}{
		{name: "grant", id: 1, members: ids(1, 2, 3), from: 3, term: 1, ok: true},
		{name: "pre-vote grant", id: 1, members: ids(1, 2, 3), from: 3, term: 1, pre: true, ok: true},
		{name: "stale term", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) { e.ObserveTerm(5) },
			from: 3, term: 4, reason: "term is not newer"},
		{name: "stale term pre-vote", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) { e.ObserveTerm(5) },
			from: 3, term: 4, pre: true, reason: "term is not newer"},
		{name: "pre-vote for current term", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) { e.ObserveTerm(5) },
			from: 3, term: 5, pre: true, reason: "term is not newer"},
		{name: "vote for current term", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) { e.ObserveTerm(5) },
			from: 3, term: 5, ok: true},
		{name: "already voted for another", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			if ok, r := e.HandleVote(3, 5, false, now); !ok {
				t.Fatalf("setup vote refused: %q", r)
			}
		}, from: 2, term: 5, reason: "already voted in this term"},
		{name: "re-grant same candidate", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.HandleVote(3, 5, false, now)
		}, from: 3, term: 5, ok: true},
		{name: "pre-vote after a vote for another", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.HandleVote(3, 5, false, now)
		}, from: 2, term: 6, pre: true, ok: true},
		{name: "vote in a later term after a vote for another", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.HandleVote(3, 5, false, now)
		}, from: 2, term: 6, ok: true},
		{name: "pre-vote records nothing", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			if ok, r := e.HandleVote(3, 5, true, now); !ok {
				t.Fatalf("setup pre-vote refused: %q", r)
			}
		}, from: 2, term: 5, ok: true},
		{name: "live leader", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-tDA+1))
		}, from: 3, term: 5, reason: "voter hears a live leader"},
		{name: "live leader pre-vote", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-tDA+1))
		}, from: 3, term: 5, pre: true, reason: "voter hears a live leader"},
		{name: "leader silent exactly dead-after", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-tDA))
		}, from: 3, term: 5, ok: true},
		{name: "live leader forgotten on a newer term still blocks", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-time.Millisecond))
			e.ObserveTerm(5) // forgets the leader, not the contact
		}, from: 3, term: 5, reason: "voter hears a live leader"},
		{name: "live leader is the candidate", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(3, 4, LeadingReadWrite, now.Add(-time.Millisecond))
		}, from: 3, term: 5, ok: true},
		{name: "read-only leader heard", id: 1, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadOnly, now.Add(-time.Millisecond))
		}, from: 4, term: 5, reason: "voter hears a live leader"},
		{name: "leader resigned", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.ObserveTerm(4)
			e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-time.Millisecond))
			e.OnResign(2, 4, now)
		}, from: 3, term: 5, ok: true},
		{name: "higher node alive", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.RoundTrip(3, now.Add(-tDA+1))
		}, from: 2, term: 1, reason: "a higher node is alive"},
		{name: "higher node alive pre-vote", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.RoundTrip(3, now)
		}, from: 2, term: 1, pre: true, reason: "a higher node is alive"},
		{name: "higher node dead", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.RoundTrip(3, now.Add(-tDA))
		}, from: 2, term: 1, ok: true},
		{name: "higher node suspect still blocks", id: 1, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			e.RoundTrip(3, now.Add(-tSA))
		}, from: 2, term: 1, reason: "a higher node is alive"},
		{name: "higher non-member alive", id: 1, members: ids(1, 2), setup: func(t *testing.T, e *Elector) {
			e.RoundTrip(3, now)
		}, from: 2, term: 1, ok: true},
		{name: "voter itself is higher", id: 3, members: ids(1, 2, 3), from: 2, term: 1, reason: "a higher node is alive"},
		{name: "voter leading with a lease", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1, 2)
			e.OnLeaderAck(1, now.Add(-tLL+1), e.Term(), 3)
			e.OnLeaderAck(2, now.Add(-tLL+1), e.Term(), 3)
			if e.Mode(now) != LeadingReadWrite {
				t.Fatal("setup: not leading")
			}
		}, from: 4, pre: true, reason: "voter is leading"},
		{name: "voter leading read-only", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadOnly, 1)
			e.OnLeaderAck(1, now.Add(-tLL+1), e.Term(), 3)
			if e.Mode(now) != LeadingReadOnly {
				t.Fatal("setup: not leading read-only")
			}
		}, from: 4, pre: true, reason: "voter is leading"},
		{name: "voter leading but lease over", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1, 2)
			e.OnLeaderAck(1, now.Add(-tLL), e.Term(), 3)
			e.OnLeaderAck(2, now.Add(-tLL), e.Term(), 3)
		}, from: 4, pre: true, ok: true},
		{name: "voter granted a read lease that may run", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1, 2)
			e.NoteLeaseGranted(now.Add(-tRL*5/4 + 1))
			e.ObserveTerm(e.Term() + 1) // deposed: a follower now
		}, from: 4, reason: reasonLedRecently},
		{name: "voter granted a read lease that may run, real vote", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1, 2)
			e.NoteLeaseGranted(now.Add(-tRL*5/4 + 1))
		}, from: 4, reason: reasonLedRecently},
		{name: "voter's read leases over", id: 3, members: ids(1, 2, 3, 4), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1, 2)
			e.NoteLeaseGranted(now.Add(-tRL * 5 / 4))
		}, from: 4, pre: true, ok: true},
		{name: "voter's read leases do not stop its own vote", id: 3, members: ids(1, 2, 3), setup: func(t *testing.T, e *Elector) {
			mustLead(t, e, now.Add(-time.Second), LeadingReadWrite, 1)
			e.NoteLeaseGranted(now)
			e.ObserveTerm(e.Term() + 1)
		}, from: 3, ok: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestElector(t, c.id, c.members...)
			if c.setup != nil {
				c.setup(t, e)
			}
			termBefore, votedBefore, forBefore := e.Term(), e.votedTerm, e.votedFor
			term := c.term
			if term == 0 {
				term = e.Term() + 1
			}
			ok, reason := e.HandleVote(c.from, term, c.pre, now)
			if ok != c.ok || reason != c.reason {
				t.Fatalf("HandleVote(from %d, term %d, pre %v) = %v %q, want %v %q", c.from, term, c.pre, ok, reason, c.ok, c.reason)
			}
			if e.Term() != termBefore {
				t.Fatalf("HandleVote changed the term %d -> %d", termBefore, e.Term())
			}
			switch {
			case c.pre || !ok:
				if e.votedTerm != votedBefore || e.votedFor != forBefore {
					t.Fatalf("a pre-vote or a refusal recorded a vote (%d,%d) -> (%d,%d)", votedBefore, forBefore, e.votedTerm, e.votedFor)
				}
			default:
				if e.votedTerm != term || e.votedFor != c.from {
					t.Fatalf("granted vote recorded as (%d,%d), want (%d,%d)", e.votedTerm, e.votedFor, term, c.from)
				}
			}
		})
	}
}

// TestVoteIsRecordedOncePerTerm checks through the public API that a real
// vote binds the voter for its term and that pre-votes bind nothing.
func TestVoteIsRecordedOncePerTerm(t *testing.T) {
	now := at(0)
	e := newTestElector(t, 1, 1, 2, 3)
	for i := 0; i < 3; i++ {
		if ok, r := e.HandleVote(2, 3, true, now); !ok {
			t.Fatalf("pre-vote %d refused: %q", i, r)
		}
	}
	if ok, r := e.HandleVote(3, 3, true, now); !ok {
		t.Fatalf("pre-vote for 3 refused: %q", r)
	}
	if ok, r := e.HandleVote(2, 3, false, now); !ok {
		t.Fatalf("vote for 2 refused: %q", r)
	}
	if ok, _ := e.HandleVote(3, 3, false, now); ok {
		t.Fatal("voted for 3 after voting for 2 in the same term")
	}
	if ok, r := e.HandleVote(2, 3, false, now.Add(time.Second)); !ok {
		t.Fatalf("re-grant to 2 refused: %q", r)
	}
	if ok, r := e.HandleVote(3, 4, false, now); !ok {
		t.Fatalf("vote in the next term refused: %q", r)
	}
	if ok, _ := e.HandleVote(2, 4, false, now); ok {
		t.Fatal("voted twice in term 4")
	}
}

func TestFinishElection(t *testing.T) {
	cases := []struct {
		members []shard.NodeID
		voters  []shard.NodeID // besides the candidate (the highest member)
		want    Mode
	}{
		{ids(1), nil, LeadingReadWrite},
		{ids(1, 2), nil, LeadingReadOnly},
		{ids(1, 2), ids(1), LeadingReadWrite},
		{ids(1, 2, 3), nil, NotLeading},
		{ids(1, 2, 3), ids(1), LeadingReadWrite},
		{ids(1, 2, 3), ids(1, 2), LeadingReadWrite},
		{ids(1, 2, 3, 4), nil, NotLeading},
		{ids(1, 2, 3, 4), ids(1), LeadingReadOnly},
		{ids(1, 2, 3, 4), ids(1, 2), LeadingReadWrite},
		{ids(1, 2, 3, 4), ids(1, 1, 1), LeadingReadOnly}, // duplicates once
		{ids(1, 2, 3, 4), ids(1, 8, 9), LeadingReadOnly}, // non-members ignored
		{ids(1, 2, 3, 4, 5), ids(1), NotLeading},
		{ids(1, 2, 3, 4, 5), ids(1, 2), LeadingReadWrite},
		{ids(1, 2, 3, 4, 5, 6), ids(1, 2), LeadingReadOnly},
		{ids(1, 2, 3, 4, 5, 6), ids(1, 2, 3), LeadingReadWrite},
		{ids(1, 2, 3, 4, 5, 6), ids(1), NotLeading},
		{ids(1, 2, 3, 4, 5, 6, 7), ids(1, 2), NotLeading},
		{ids(1, 2, 3, 4, 5, 6, 7), ids(1, 2, 3), LeadingReadWrite},
	}
	for _, c := range cases {
		id := c.members[len(c.members)-1]
		e := newTestElector(t, id, c.members...)
		now := at(time.Second)
		got := elect(t, e, now, c.voters...)
		if got != c.want {
			t.Errorf("members %v voters %v: mode %v, want %v", c.members, c.voters, got, c.want)
			continue
		}
		switch got {
		case NotLeading:
			if e.Role() != Follower || e.Leader() != 0 || e.Claim() != NotLeading {
				t.Errorf("members %v: loser is %v leader %d claim %v", c.members, e.Role(), e.Leader(), e.Claim())
			}
			// A fresh elector's PreVoteTerm is the clock's seconds.
			if e.Term() != uint64(now.UnixMicro()) {
				t.Errorf("members %v: loser's term %d, want the one it stood for, %d", c.members, e.Term(), now.UnixMicro())
			}
			// Backoff before the next campaign.
			if e.Tick(now.Add(2*tHI - 1)).Campaign {
				t.Errorf("members %v: loser campaigned again within the backoff", c.members)
			}
			if !e.Tick(now.Add(2 * tHI)).Campaign {
				t.Errorf("members %v: loser did not campaign after the backoff", c.members)
			}
		default:
			if e.Role() != Leader || e.Leader() != id || e.Claim() != got {
				t.Errorf("members %v: winner is %v leader %d claim %v", c.members, e.Role(), e.Leader(), e.Claim())
			}
			if !e.SwitchAllowedAt().Equal(now) {
				t.Errorf("members %v: SwitchAllowedAt %v, want the election time", c.members, e.SwitchAllowedAt())
			}
		}
	}

	t.Run("wrong term or role", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		if m := e.FinishElection(1, []Grant{{From: 3}, {From: 1}}, at(0)); m != NotLeading || e.Role() != Follower {
			t.Fatalf("FinishElection without a candidacy: %v, role %v", m, e.Role())
		}
		term := e.PreVoteTerm(at(0))
		e.BeginElection(term)
		if m := e.FinishElection(term+1, []Grant{{From: 3}, {From: 1}}, at(0)); m != NotLeading || e.Role() != Candidate {
			t.Fatalf("FinishElection of a wrong term: %v, role %v", m, e.Role())
		}
		if m := e.FinishElection(term, []Grant{{From: 3}, {From: 1}}, at(0)); m != LeadingReadWrite {
			t.Fatalf("FinishElection = %v", m)
		}
		if m := e.FinishElection(term, []Grant{{From: 3}, {From: 1}}, at(0)); m != NotLeading || e.Role() != Leader {
			t.Fatalf("second FinishElection: %v, role %v", m, e.Role())
		}
	})
	t.Run("candidate deposed by newer term", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		term := e.PreVoteTerm(at(0))
		e.BeginElection(term)
		if !e.ObserveTerm(term + 1) {
			t.Fatal("a candidate seeing a newer term did not report stepping down")
		}
		if m := e.FinishElection(term, []Grant{{From: 3}, {From: 1}, {From: 2}}, at(0)); m != NotLeading || e.Role() != Follower {
			t.Fatalf("a deposed candidate won: %v %v", m, e.Role())
		}
	})
}

func TestModeAndLeaseExpiry(t *testing.T) {
	t.Run("three members", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		// No acks yet: the leader does not act, though it claims its mode.
		if e.Mode(el) != NotLeading || e.Claim() != LeadingReadWrite || e.CanServeReads(el) {
			t.Fatalf("before acks: mode %v claim %v", e.Mode(el), e.Claim())
		}
		s := el.Add(50 * time.Millisecond)
		e.OnLeaderAck(1, s, e.Term(), 3)
		for _, c := range []struct {
			now  time.Time
			want Mode
		}{
			{s, LeadingReadWrite},
			{s.Add(tLL - 1), LeadingReadWrite},
			{s.Add(tLL), NotLeading},
		} {
			if got := e.Mode(c.now); got != c.want {
				t.Errorf("Mode at ack+%v = %v, want %v", c.now.Sub(s), got, c.want)
			}
			if got := e.LeaderMode(c.now); got != c.want {
				t.Errorf("LeaderMode at ack+%v = %v, want %v", c.now.Sub(s), got, c.want)
			}
			if got := e.CanServeReads(c.now); got != (c.want != NotLeading) {
				t.Errorf("CanServeReads at ack+%v = %v", c.now.Sub(s), got)
			}
		}
		// An older ack does not shorten the lease; a newer extends it.
		e.OnLeaderAck(1, s.Add(-time.Millisecond), e.Term(), 3)
		if e.Mode(s.Add(tLL-1)) != LeadingReadWrite {
			t.Error("an older ack shortened the lease")
		}
		e.OnLeaderAck(2, s.Add(100*time.Millisecond), e.Term(), 3)
		if e.Mode(s.Add(100*time.Millisecond+tLL-1)) != LeadingReadWrite || e.Mode(s.Add(100*time.Millisecond+tLL)) != NotLeading {
			t.Error("the newest ack does not set the lease's end")
		}
	})
	t.Run("ignored acks", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		e.OnLeaderAck(1, el, e.Term()-1, 3) // stale term
		e.OnLeaderAck(1, el, e.Term()+1, 3) // future term
		e.OnLeaderAck(1, el, e.Term(), 2)   // names another leader
		e.OnLeaderAck(9, el, e.Term(), 3)   // unknown node
		e.RoundTrip(8, el)                  // known, not a member
		e.OnLeaderAck(8, el, e.Term(), 3)
		if m := e.Mode(el); m != NotLeading {
			t.Fatalf("ignored acks gave mode %v", m)
		}
		f := newTestElector(t, 1, 1, 2, 3)
		f.OnLeaderAck(2, el, 0, 1) // a follower records nothing
		if f.peers[2].ackedSend != (time.Time{}) {
			t.Fatal("follower recorded a leader ack")
		}
	})
	t.Run("five members need two acks", func(t *testing.T) {
		e := newTestElector(t, 5, 1, 2, 3, 4, 5)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1, 2)
		a, b, c := el.Add(10*time.Millisecond), el.Add(20*time.Millisecond), el.Add(30*time.Millisecond)
		e.OnLeaderAck(1, a, e.Term(), 5)
		if e.Mode(a) != NotLeading {
			t.Fatal("one ack of four led five members")
		}
		e.OnLeaderAck(2, b, e.Term(), 5)
		e.OnLeaderAck(3, c, e.Term(), 5)
		// The lease lasts until the second newest ack (b) expires.
		if e.Mode(b.Add(tLL-1)) != LeadingReadWrite || e.Mode(b.Add(tLL)) != NotLeading {
			t.Fatalf("lease of five: %v at b+LL-1, %v at b+LL", e.Mode(b.Add(tLL-1)), e.Mode(b.Add(tLL)))
		}
	})
	t.Run("four members elected by three", func(t *testing.T) {
		e := newTestElector(t, 4, 1, 2, 3, 4)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1, 2)
		a, b := el.Add(10*time.Millisecond), el.Add(20*time.Millisecond)
		e.OnLeaderAck(1, a, e.Term(), 4)
		if e.Mode(a) != LeadingReadOnly {
			t.Fatalf("half of four acked: %v, want read-only", e.Mode(a))
		}
		e.OnLeaderAck(2, b, e.Term(), 4)
		cases := []struct {
			now  time.Time
			want Mode
		}{
			{b, LeadingReadWrite},
			{a.Add(tLL - 1), LeadingReadWrite},
			{a.Add(tLL), LeadingReadOnly}, // one ack left: half
			{b.Add(tLL - 1), LeadingReadOnly},
			{b.Add(tLL), NotLeading},
		}
		for _, c := range cases {
			if got := e.Mode(c.now); got != c.want {
				t.Errorf("Mode at %v = %v, want %v", c.now.Sub(el), got, c.want)
			}
		}
		if e.Claim() != LeadingReadWrite {
			t.Errorf("Claim %v", e.Claim())
		}
	})
	t.Run("four members elected by two", func(t *testing.T) {
		e := newTestElector(t, 4, 1, 2, 3, 4)
		el := at(0)
		mustLead(t, e, el, LeadingReadOnly, 1)
		for _, p := range ids(1, 2, 3) {
			e.OnLeaderAck(p, el, e.Term(), 4)
		}
		// Elected by half: read-only even with every ack.
		if e.Mode(el) != LeadingReadOnly || e.Claim() != LeadingReadOnly {
			t.Fatalf("read-only leader with all acks: mode %v claim %v", e.Mode(el), e.Claim())
		}
		if e.Mode(el.Add(tLL)) != NotLeading {
			t.Fatal("read-only lease outlived its acks")
		}
	})
	t.Run("two members", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		// Self alone is half of two.
		if e.Mode(el) != LeadingReadOnly {
			t.Fatalf("leader of two without acks: %v, want read-only", e.Mode(el))
		}
		e.OnLeaderAck(1, el, e.Term(), 2)
		if e.Mode(el.Add(tLL-1)) != LeadingReadWrite || e.Mode(el.Add(tLL)) != LeadingReadOnly {
			t.Fatal("two-member lease")
		}
	})
	t.Run("new election clears old acks", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		e.OnLeaderAck(1, el, e.Term(), 3)
		e.ObserveTerm(e.Term() + 1)
		mustLead(t, e, el.Add(time.Millisecond), LeadingReadWrite, 1)
		if e.Mode(el.Add(time.Millisecond)) != NotLeading {
			t.Fatal("an ack of the previous term counted for the new one")
		}
	})
	t.Run("membership change", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		e.OnLeaderAck(1, el, e.Term(), 3)
		if e.Mode(el) != LeadingReadWrite {
			t.Fatal("setup")
		}
		e.SetMembers(ids(1, 2, 3, 4, 5))
		if e.Mode(el) != NotLeading {
			t.Fatal("two acks of five kept a lease")
		}
		e.SetMembers(nil)
		if e.Mode(el) != NotLeading {
			t.Fatal("a leader of no members leads")
		}
	})
}

func TestTickStepsDownAfterLease(t *testing.T) {
	t.Run("no acks", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		if a := e.Tick(el.Add(tLL - 1)); a.SteppedDown || e.Role() != Leader {
			t.Fatal("stepped down within the first lease period")
		}
		a := e.Tick(el.Add(tLL))
		if !a.SteppedDown || e.Role() != Follower || e.Leader() != 0 || e.Claim() != NotLeading {
			t.Fatalf("no step-down a lease after the election: %+v role %v", a, e.Role())
		}
		if a.Campaign || a.Preempt || a.LeaderLost {
			t.Fatalf("step-down action %+v", a)
		}
	})
	t.Run("after acks", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		el := at(0)
		mustLead(t, e, el, LeadingReadWrite, 1)
		s := el.Add(500 * time.Millisecond)
		e.OnLeaderAck(2, s, e.Term(), 3)
		if a := e.Tick(s.Add(tLL - 1)); a.SteppedDown {
			t.Fatal("stepped down within the lease")
		}
		if a := e.Tick(s.Add(tLL)); !a.SteppedDown {
			t.Fatal("no step-down when the lease ended")
		}
		if e.Mode(s) != NotLeading {
			t.Fatal("a former leader reports a mode")
		}
	})
	t.Run("read-only stands again once a majority is alive", func(t *testing.T) {
		e := newTestElector(t, 4, 1, 2, 3, 4)
		el := at(0)
		mustLead(t, e, el, LeadingReadOnly, 1)
		e.RoundTrip(1, el)
		e.OnLeaderAck(1, el, e.Term(), 4)
		if a := e.Tick(el.Add(tHI)); a.Campaign {
			t.Fatal("campaigned with only half alive")
		}
		e.RoundTrip(2, el.Add(tHI))
		if a := e.Tick(el.Add(2 * tHI)); !a.Campaign || a.SteppedDown {
			t.Fatalf("read-only leader with a live majority: %+v", a)
		}
		// Backoff applies.
		e.PreVoteTerm(el.Add(2 * tHI))
		if a := e.Tick(el.Add(3 * tHI)); a.Campaign {
			t.Fatal("campaigned within the backoff")
		}
		// A read-write leader never re-stands.
		f := newTestElector(t, 4, 1, 2, 3, 4)
		mustLead(t, f, el, LeadingReadWrite, 1, 2)
		for _, p := range ids(1, 2, 3) {
			f.RoundTrip(p, el)
			f.OnLeaderAck(p, el, f.Term(), 4)
		}
		if a := f.Tick(el.Add(tHI)); a != (Action{}) {
			t.Fatalf("read-write leader Tick = %+v", a)
		}
	})
}

func TestObserveTerm(t *testing.T) {
	now := at(0)
	t.Run("leader", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		e.OnLeaderAck(1, now, e.Term(), 3)
		if e.ObserveTerm(e.Term()) || e.ObserveTerm(0) {
			t.Fatal("an old term deposed the leader")
		}
		if e.Role() != Leader || e.Mode(now) != LeadingReadWrite {
			t.Fatal("leader changed on an old term")
		}
		newer := e.Term() + 1
		if !e.ObserveTerm(newer) {
			t.Fatal("newer term: no step-down reported")
		}
		if e.Role() != Follower || e.Leader() != 0 || e.Mode(now) != NotLeading || e.Claim() != NotLeading || e.Term() != newer {
			t.Fatalf("after newer term: role %v leader %d term %d", e.Role(), e.Leader(), e.Term())
		}
	})
	t.Run("follower", func(t *testing.T) {
		e := newTestElector(t, 1, 1, 2, 3)
		e.ObserveTerm(4)
		e.OnLeaderHeartbeat(3, 4, LeadingReadWrite, now)
		e.OnReadLease(3, 4, now)
		if !e.CanServeReads(now) || e.LeaderMode(now) != LeadingReadWrite {
			t.Fatal("setup")
		}
		if e.ObserveTerm(5) {
			t.Fatal("a follower reported stepping down")
		}
		if e.Leader() != 0 || e.CanServeReads(now) || e.LeaderMode(now) != NotLeading || e.Term() != 5 {
			t.Fatal("a newer term kept the old leader or its read lease")
		}
	})
}

func TestOnLeaderHeartbeat(t *testing.T) {
	now := at(0)
	t.Run("follow and report new", func(t *testing.T) {
		e := newTestElector(t, 1, 1, 2, 3)
		e.ObserveTerm(3)
		if ok, isNew := e.OnLeaderHeartbeat(2, 3, LeadingReadWrite, now); !ok || !isNew {
			t.Fatalf("first heartbeat: %v %v", ok, isNew)
		}
		if ok, isNew := e.OnLeaderHeartbeat(2, 3, LeadingReadWrite, now); !ok || isNew {
			t.Fatalf("second heartbeat: %v %v", ok, isNew)
		}
		if e.Leader() != 2 || e.LeaderMode(now) != LeadingReadWrite {
			t.Fatal("leader not recorded")
		}
		if ok, _ := e.OnLeaderHeartbeat(2, 3, LeadingReadOnly, now); !ok || e.LeaderMode(now) != LeadingReadOnly {
			t.Fatal("mode change not recorded")
		}
		// A lower claimant of the same term is refused; a higher one wins.
		if ok, _ := e.OnLeaderHeartbeat(1, 3, LeadingReadOnly, now); ok || e.Leader() != 2 {
			t.Fatal("lower claimant accepted")
		}
		if ok, isNew := e.OnLeaderHeartbeat(3, 3, LeadingReadOnly, now); !ok || !isNew || e.Leader() != 3 {
			t.Fatal("higher claimant of the same term refused")
		}
		// Stale term and non-claims are refused.
		if ok, _ := e.OnLeaderHeartbeat(3, 2, LeadingReadWrite, now); ok {
			t.Fatal("stale term accepted")
		}
		if ok, _ := e.OnLeaderHeartbeat(3, 3, NotLeading, now); ok {
			t.Fatal("NotLeading accepted")
		}
	})
	t.Run("two read-only leaders of one term", func(t *testing.T) {
		lo := newTestElector(t, 2, 1, 2, 3, 4)
		hi := newTestElector(t, 4, 1, 2, 3, 4)
		mustLead(t, lo, now, LeadingReadOnly, 1)
		mustLead(t, hi, now, LeadingReadOnly, 3)
		if lo.Term() != hi.Term() {
			t.Fatal("setup: terms differ")
		}
		term := lo.Term()
		if ok, _ := hi.OnLeaderHeartbeat(2, term, LeadingReadOnly, now); ok || hi.Role() != Leader || hi.Leader() != 4 {
			t.Fatal("the higher leader yielded to the lower")
		}
		ok, isNew := lo.OnLeaderHeartbeat(4, term, LeadingReadOnly, now)
		if !ok || !isNew || lo.Role() != Follower || lo.Leader() != 4 || lo.Mode(now) != NotLeading {
			t.Fatalf("the lower leader did not yield: %v %v role %v leader %d", ok, isNew, lo.Role(), lo.Leader())
		}
		// Its own heartbeat (from == self) changes nothing for a leader.
		if ok, isNew := hi.OnLeaderHeartbeat(4, term, LeadingReadOnly, now); !ok || isNew || hi.Role() != Leader {
			t.Fatal("a leader's own claim")
		}
	})
	t.Run("candidate yields", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		term := e.PreVoteTerm(now)
		e.BeginElection(term)
		if ok, _ := e.OnLeaderHeartbeat(2, term, LeadingReadWrite, now); !ok || e.Role() != Follower || e.Leader() != 2 {
			t.Fatal("a candidate kept campaigning against a leader of its term")
		}
		if m := e.FinishElection(term, []Grant{{From: 3}, {From: 1}}, now); m != NotLeading {
			t.Fatal("a yielded candidate won")
		}
	})
	t.Run("leader lost after silence", func(t *testing.T) {
		e := newTestElector(t, 1, 1, 2, 3)
		e.ObserveTerm(2)
		e.OnLeaderHeartbeat(2, 2, LeadingReadWrite, now)
		e.OnReadLease(2, 2, now)
		if a := e.Tick(now.Add(tDA - 1)); a.LeaderLost || e.Leader() != 2 {
			t.Fatal("leader forgotten early")
		}
		a := e.Tick(now.Add(tDA))
		if !a.LeaderLost || e.Leader() != 0 || e.LeaderMode(now) != NotLeading || e.CanServeReads(now.Add(tDA)) {
			t.Fatalf("leader kept after dead-after of silence: %+v", a)
		}
		// 3 is dead to 1, 2 is dead: 1 stands in the same tick.
		if !a.Campaign {
			t.Fatal("no campaign once the leader was lost")
		}
	})
}

func TestReadLease(t *testing.T) {
	now := at(0)
	follower := func(t *testing.T) *Elector {
		e := newTestElector(t, 1, 1, 2, 3)
		e.ObserveTerm(4)
		e.OnLeaderHeartbeat(3, 4, LeadingReadWrite, now)
		return e
	}
	t.Run("grant and expiry", func(t *testing.T) {
		e := follower(t)
		if e.CanServeReads(now) {
			t.Fatal("reads without a lease")
		}
		s := now.Add(10 * time.Millisecond)
		e.OnReadLease(3, 4, s)
		if !e.CanServeReads(s) || !e.CanServeReads(s.Add(tRL-1)) || e.CanServeReads(s.Add(tRL)) {
			t.Fatal("the read lease does not last exactly ReadLease from the request")
		}
		// An older grant does not shorten it.
		e.OnReadLease(3, 4, s.Add(-5*time.Millisecond))
		if !e.CanServeReads(s.Add(tRL - 1)) {
			t.Fatal("an older grant shortened the lease")
		}
		e.OnReadLease(3, 4, s.Add(time.Millisecond))
		if !e.CanServeReads(s.Add(tRL)) {
			t.Fatal("a newer grant did not extend the lease")
		}
	})
	t.Run("refused grants", func(t *testing.T) {
		e := follower(t)
		e.OnReadLease(2, 4, now) // not our leader
		e.OnReadLease(3, 3, now) // old term
		e.OnReadLease(3, 5, now) // future term
		if e.CanServeReads(now) {
			t.Fatal("a bad grant was taken")
		}
		l := newTestElector(t, 3, 1, 2, 3)
		mustLead(t, l, now, LeadingReadWrite, 1)
		l.OnReadLease(3, l.Term(), now)
		if l.readLeaseUntil != (time.Time{}) {
			t.Fatal("a leader took a read lease")
		}
		c := newTestElector(t, 3, 1, 2, 3)
		c.BeginElection(c.PreVoteTerm(now))
		c.OnReadLease(0, c.Term(), now)
		if c.CanServeReads(now) {
			t.Fatal("a candidate serves reads")
		}
	})
	t.Run("ends on newer term", func(t *testing.T) {
		e := follower(t)
		e.OnReadLease(3, 4, now)
		e.ObserveTerm(5)
		if e.CanServeReads(now) {
			t.Fatal("a newer term kept the read lease")
		}
		// The old leader cannot renew it.
		e.OnReadLease(3, 4, now)
		if e.CanServeReads(now) {
			t.Fatal("renewed by the old term")
		}
	})
	t.Run("ends on resign", func(t *testing.T) {
		e := follower(t)
		e.OnReadLease(3, 4, now)
		e.OnResign(2, 4, now) // not our leader: ignored
		e.OnResign(3, 3, now) // old term: ignored
		if !e.CanServeReads(now) || e.Leader() != 3 {
			t.Fatal("an unrelated resign ended the lease")
		}
		e.OnResign(3, 4, now)
		if e.CanServeReads(now) || e.Leader() != 0 || e.LeaderMode(now) != NotLeading {
			t.Fatal("the leader's resign kept the read lease")
		}
	})
	t.Run("ends on following another leader", func(t *testing.T) {
		// Two read-only leaders of term 4: the follower of 2 hears 3.
		e := newTestElector(t, 1, 1, 2, 3, 4)
		e.ObserveTerm(4)
		e.OnLeaderHeartbeat(2, 4, LeadingReadOnly, now)
		e.OnReadLease(2, 4, now)
		gen := e.LeaseGen()
		e.OnLeaderHeartbeat(2, 4, LeadingReadOnly, now.Add(tHI)) // same leader: kept
		if !e.CanServeReads(now.Add(tHI)) {
			t.Fatal("a heartbeat of the same leader ended the lease")
		}
		if ok, _ := e.OnLeaderHeartbeat(1, 4, LeadingReadOnly, now.Add(tHI)); ok || !e.CanServeReads(now.Add(tHI)) {
			t.Fatal("a refused lower claimant ended the lease")
		}
		if ok, isNew := e.OnLeaderHeartbeat(3, 4, LeadingReadOnly, now.Add(tHI)); !ok || !isNew {
			t.Fatal("setup: the higher claimant was refused")
		}
		if e.CanServeReads(now.Add(tHI)) {
			t.Fatal("the lease of the previous leader survived the switch")
		}
		e.OnReadLease(2, 4, now.Add(tHI)) // a late grant of the previous leader
		if e.CanServeReads(now.Add(tHI)) {
			t.Fatal("the previous leader's grant was taken")
		}
		e.OnReadLease(3, 4, now.Add(2*tHI))
		if !e.CanServeReads(now.Add(2*tHI)) || e.LeaseGen() != gen+1 {
			t.Fatalf("new leader's lease: serving %v, generation %d (was %d)", e.CanServeReads(now.Add(2*tHI)), e.LeaseGen(), gen)
		}
	})
	t.Run("new leader drops its follower lease", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.ObserveTerm(4)
		e.OnLeaderHeartbeat(2, 4, LeadingReadWrite, now.Add(-tDA))
		e.OnReadLease(2, 4, now)
		mustLead(t, e, now, LeadingReadWrite, 1)
		if !e.readLeaseUntil.IsZero() {
			t.Fatal("a follower lease survived the election")
		}
		e.Resign(now)
		e.ObserveTerm(e.Term()) // no-op
		if e.CanServeReads(now) {
			t.Fatal("a resigned leader serves reads")
		}
	})
}

func TestResignAndSwitchAllowedAt(t *testing.T) {
	now := at(0)
	t.Run("resigning leader", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		e.OnLeaderAck(1, now, e.Term(), 2)
		e.Resign(now)
		if e.Role() != Follower || e.Leader() != 0 || e.Mode(now) != NotLeading || e.CanServeReads(now) || e.Claim() != NotLeading {
			t.Fatal("a resigned leader still leads")
		}
		if !e.VoteAfterResign(now) || !e.VoteAfterResign(now.Add(tDA-1)) || e.VoteAfterResign(now.Add(tDA)) {
			t.Fatal("VoteAfterResign window")
		}
		// 2 is the highest alive (3 never heard) yet waits dead-after.
		if e.Tick(now.Add(tDA - 1)).Campaign {
			t.Fatal("a resigned leader stood again at once")
		}
		if !e.Tick(now.Add(tDA)).Campaign {
			t.Fatal("a resigned leader never stands again")
		}
		// Resigning when not leading does nothing.
		f := newTestElector(t, 1, 1, 2, 3)
		f.Resign(now)
		if f.VoteAfterResign(now) {
			t.Fatal("a follower's Resign counted")
		}
	})
	t.Run("election after resign is delayed", func(t *testing.T) {
		// 2 led term 1; 3 preempted; 2 resigned; 1 heard the resign.
		v := newTestElector(t, 1, 1, 2, 3)
		v.ObserveTerm(1)
		v.OnLeaderHeartbeat(2, 1, LeadingReadWrite, now)
		v.OnReadLease(2, 1, now)
		v.RoundTrip(3, now)
		if ok, reason := v.HandleVote(3, 2, true, now); ok || reason != "voter hears a live leader" {
			t.Fatalf("setup: pre-vote %v %q", ok, reason)
		}
		rs := now.Add(time.Millisecond)
		v.OnResign(2, 1, rs)
		if v.CanServeReads(rs) {
			t.Fatal("read lease kept after the resign")
		}
		if ok, reason := v.HandleVote(3, 2, true, rs); !ok {
			t.Fatalf("pre-vote after resign refused: %q", reason)
		}
		if !v.VoteAfterResign(rs) {
			t.Fatal("voter does not report the resign")
		}
		if v.VoteAfterResign(rs.Add(tDA)) {
			t.Fatal("the resign counts forever")
		}

		c := newTestElector(t, 3, 1, 2, 3)
		c.ObserveTerm(1)
		e := rs.Add(2 * time.Millisecond)
		term := c.PreVoteTerm(e)
		c.BeginElection(term)
		if m := c.FinishElection(term, []Grant{{From: 3}, {From: 1, AfterResign: true}}, e); m != LeadingReadWrite {
			t.Fatalf("mode %v", m)
		}
		if want := e.Add(tRL * 5 / 4); !c.SwitchAllowedAt().Equal(want) {
			t.Fatalf("SwitchAllowedAt = %v after the election, want %v", c.SwitchAllowedAt().Sub(e), want.Sub(e))
		}
	})
	t.Run("candidate that heard the resign itself", func(t *testing.T) {
		c := newTestElector(t, 3, 1, 2, 3)
		c.ObserveTerm(1)
		c.OnLeaderHeartbeat(2, 1, LeadingReadWrite, now)
		c.OnResign(2, 1, now)
		e := now.Add(tDA - 1)
		term := c.PreVoteTerm(e)
		c.BeginElection(term)
		c.FinishElection(term, []Grant{{From: 3}, {From: 1}}, e)
		if want := e.Add(tRL * 5 / 4); !c.SwitchAllowedAt().Equal(want) {
			t.Fatalf("SwitchAllowedAt = +%v, want +%v", c.SwitchAllowedAt().Sub(e), want.Sub(e))
		}
	})
	t.Run("no resign, no delay", func(t *testing.T) {
		c := newTestElector(t, 3, 1, 2, 3)
		c.ObserveTerm(1)
		c.OnLeaderHeartbeat(2, 1, LeadingReadWrite, now)
		c.OnResign(2, 1, now) // long ago
		e := now.Add(tDA)
		term := c.PreVoteTerm(e)
		c.BeginElection(term)
		c.FinishElection(term, []Grant{{From: 3}, {From: 1}}, e)
		if !c.SwitchAllowedAt().Equal(e) {
			t.Fatalf("SwitchAllowedAt = +%v, want the election time", c.SwitchAllowedAt().Sub(e))
		}
		// A losing election after a resign records nothing.
		d := newTestElector(t, 3, 1, 2, 3)
		term = d.PreVoteTerm(e)
		d.BeginElection(term)
		if m := d.FinishElection(term, []Grant{{From: 3}, {From: 1, AfterResign: true}, {From: 1, AfterResign: true}}, e); m != LeadingReadWrite {
			t.Fatal("setup")
		}
		if !d.SwitchAllowedAt().Equal(e.Add(tRL * 5 / 4)) {
			t.Fatal("a grant flagged AfterResign did not delay the switch")
		}
		// Re-election without resign resets the delay.
		d.ObserveTerm(d.Term() + 1)
		e2 := e.Add(time.Hour)
		term = d.PreVoteTerm(e2)
		d.BeginElection(term)
		d.FinishElection(term, []Grant{{From: 3}, {From: 1}}, e2)
		if !d.SwitchAllowedAt().Equal(e2) {
			t.Fatal("a delay carried over to a later election")
		}
	})
}

func TestPreempt(t *testing.T) {
	now := at(0)
	// setup: a follower of the given ID following leader l at term 3, with
	// l's last round trip at lastAck.
	setup := func(t *testing.T, id, l shard.NodeID, lastAck time.Time) *Elector {
		e := newTestElector(t, id, 1, 2, 3)
		e.ObserveTerm(3)
		if !lastAck.IsZero() {
			e.RoundTrip(l, lastAck)
		}
		if ok, _ := e.OnLeaderHeartbeat(l, 3, LeadingReadWrite, now); !ok {
			t.Fatal("setup: heartbeat refused")
		}
		return e
	}
	t.Run("eligible higher follower", func(t *testing.T) {
		e := setup(t, 3, 2, now)
		a := e.Tick(now)
		if !a.Preempt || a.Campaign {
			t.Fatalf("Tick = %+v, want a preempt", a)
		}
		// Rate-limited to one per dead-after.
		e.OnLeaderHeartbeat(2, 3, LeadingReadWrite, now.Add(tDA/2))
		e.RoundTrip(2, now.Add(tDA-1))
		e.OnLeaderHeartbeat(2, 3, LeadingReadWrite, now.Add(tDA-1))
		for _, d := range []time.Duration{tHI, tDA / 2, tDA - 1} {
			if e.Tick(now.Add(d)).Preempt {
				t.Fatalf("preempted again after %v", d)
			}
		}
		if !e.Tick(now.Add(tDA)).Preempt {
			t.Fatal("no second preempt after dead-after")
		}
	})
	t.Run("not eligible", func(t *testing.T) {
		e := setup(t, 3, 2, now)
		e.SetEligible(false)
		if e.Tick(now).Preempt {
			t.Fatal("an ineligible node preempted")
		}
		e.SetEligible(true)
		if !e.Tick(now).Preempt {
			t.Fatal("no preempt once eligible")
		}
	})
	t.Run("leader higher", func(t *testing.T) {
		e := setup(t, 2, 3, now)
		if e.Tick(now).Preempt {
			t.Fatal("preempted a higher leader")
		}
	})
	t.Run("leader not alive", func(t *testing.T) {
		e := setup(t, 3, 2, time.Time{}) // heard its heartbeat, no round trip
		if e.Tick(now).Preempt {
			t.Fatal("preempted a leader with no round trip")
		}
		e2 := setup(t, 3, 2, now.Add(-tDA))
		if e2.Tick(now).Preempt {
			t.Fatal("preempted a leader whose round trips stopped")
		}
		e3 := setup(t, 3, 2, now.Add(-tSA)) // suspect counts as alive
		if !e3.Tick(now).Preempt {
			t.Fatal("no preempt of a suspect leader")
		}
	})
	t.Run("not following", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		e.RoundTrip(2, now)
		if e.Tick(now).Preempt {
			t.Fatal("preempted with no leader")
		}
	})
}

func TestNoteLeaseGranted(t *testing.T) {
	now := at(0)
	t.Run("votes refused until the leases end", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		g := now.Add(100 * time.Millisecond)
		e.NoteLeaseGranted(g)
		e.NoteLeaseGranted(g.Add(-50 * time.Millisecond)) // an older grant changes nothing
		e.ObserveTerm(e.Term() + 1)                       // deposed
		end := g.Add(tRL * 5 / 4)
		for _, pre := range []bool{true, false} {
			for _, tt := range []time.Time{g, end.Add(-1)} {
				if ok, reason := e.HandleVote(3, e.Term()+1, pre, tt); ok || reason != reasonLedRecently {
					t.Fatalf("pre %v at grant+%v: %v %q", pre, tt.Sub(g), ok, reason)
				}
			}
		}
		if ok, reason := e.HandleVote(3, e.Term()+1, true, end); !ok {
			t.Fatalf("pre-vote when the leases ended refused: %q", reason)
		}
		if ok, reason := e.HandleVote(3, e.Term()+1, false, end); !ok {
			t.Fatalf("vote when the leases ended refused: %q", reason)
		}
	})
	t.Run("a later grant extends the refusal", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		e.NoteLeaseGranted(now)
		e.NoteLeaseGranted(now.Add(300 * time.Millisecond))
		e.Resign(now.Add(300 * time.Millisecond))
		if ok, _ := e.HandleVote(3, e.Term()+1, true, now.Add(tRL*5/4)); ok {
			t.Fatal("the refusal ended with the first grant's leases")
		}
		if ok, r := e.HandleVote(3, e.Term()+1, true, now.Add(300*time.Millisecond+tRL*5/4)); !ok {
			t.Fatalf("refused after the last grant's leases: %q", r)
		}
	})
	t.Run("re-elected leader waits its leases out", func(t *testing.T) {
		e := newTestElector(t, 3, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		g := now.Add(500 * time.Millisecond)
		e.NoteLeaseGranted(g)
		e.ObserveTerm(e.Term() + 1)
		el := g.Add(100 * time.Millisecond)
		mustLead(t, e, el, LeadingReadWrite, 1)
		if want := g.Add(tRL * 5 / 4); !e.SwitchAllowedAt().Equal(want) {
			t.Fatalf("SwitchAllowedAt = grant+%v, want grant+%v", e.SwitchAllowedAt().Sub(g), want.Sub(g))
		}
		// Once they have ended, the switch is free at the election.
		e.ObserveTerm(e.Term() + 1)
		el = g.Add(tRL * 5 / 4)
		mustLead(t, e, el, LeadingReadWrite, 1)
		if !e.SwitchAllowedAt().Equal(el) {
			t.Fatalf("SwitchAllowedAt = election+%v after the leases ended", e.SwitchAllowedAt().Sub(el))
		}
	})
	t.Run("the later of resign delay and own leases", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			grant time.Duration // before the election
		}{{"own leases end first", 500 * time.Millisecond}, {"own leases end last", -100 * time.Millisecond}} {
			e := newTestElector(t, 3, 1, 2, 3)
			mustLead(t, e, now, LeadingReadWrite, 1)
			el := now.Add(time.Second)
			g := el.Add(-c.grant)
			e.NoteLeaseGranted(g)
			e.ObserveTerm(e.Term() + 1)
			term := e.PreVoteTerm(el)
			e.BeginElection(term)
			e.FinishElection(term, []Grant{{From: 3}, {From: 1, AfterResign: true}}, el)
			want := el.Add(tRL * 5 / 4)
			if end := g.Add(tRL * 5 / 4); end.After(want) {
				want = end
			}
			if !e.SwitchAllowedAt().Equal(want) {
				t.Errorf("%s: SwitchAllowedAt = election+%v, want election+%v", c.name, e.SwitchAllowedAt().Sub(el), want.Sub(el))
			}
		}
	})
	t.Run("never granted", func(t *testing.T) {
		e := newTestElector(t, 2, 1, 2, 3)
		mustLead(t, e, now, LeadingReadWrite, 1)
		e.ObserveTerm(e.Term() + 1)
		if ok, r := e.HandleVote(3, e.Term()+1, true, now); !ok {
			t.Fatalf("a leader that granted no lease refused: %q", r)
		}
	})
}

func TestAckLeader(t *testing.T) {
	start := at(time.Hour)
	e := New(DefaultConfig(1, tDA), start)
	e.SetMembers(ids(1, 2, 3))
	e.ObserveTerm(4)
	if ok, _ := e.OnLeaderHeartbeat(3, 4, LeadingReadWrite, start); !ok {
		t.Fatal("setup: heartbeat refused")
	}
	for _, d := range []time.Duration{0, tHI, tDA - 1} {
		if got := e.AckLeader(start.Add(d)); got != 0 {
			t.Fatalf("AckLeader %v after start = %d, want none", d, got)
		}
	}
	if e.Leader() != 3 {
		t.Fatalf("Leader() = %d in the window, want 3: only the acks hold back", e.Leader())
	}
	if got := e.AckLeader(start.Add(tDA)); got != 3 {
		t.Fatalf("AckLeader when the window ends = %d, want 3", got)
	}
	if got := e.AckLeader(start.Add(time.Hour)); got != 3 {
		t.Fatalf("AckLeader later = %d, want 3", got)
	}
	// No leader, none named.
	e.ObserveTerm(5)
	if got := e.AckLeader(start.Add(time.Hour)); got != 0 {
		t.Fatalf("AckLeader without a leader = %d", got)
	}
	// A leader names itself once out of its window.
	l := newTestElector(t, 3, 1, 2, 3)
	mustLead(t, l, at(0), LeadingReadWrite, 1)
	if got := l.AckLeader(at(0)); got != 3 {
		t.Fatalf("leader's AckLeader = %d, want itself", got)
	}
}
