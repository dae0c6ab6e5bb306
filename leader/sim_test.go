package leader

// A deterministic simulation of a cluster of electors driven the way the
// node package drives them (node/heartbeat.go, node/election.go), over a
// virtual network with delays, drops, partitions that come and go, process
// pauses and restarts. Every elector reads the simulation's one virtual
// clock, so the clocks are perfectly consistent with real time.
//
// The safety properties are checked at every instant: a node's Mode and
// read lease only decay while nothing happens to it, so a violation can
// only begin at an event on a node that gains authority, at an election,
// or at a SwitchAllowedAt instant (scheduled as a check). A seed that
// violates a property is replayed with tracing on, up to the violation,
// and the events leading to it are printed.

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// Violation kinds, one per property.
type violationKind int

const (
	vRWOverlap   violationKind = iota // two read-write leaders at one instant
	vRWWithRO                         // a read-write leader and a read-only one at one instant
	vTermTwoRW                        // two read-write winners of one term
	vTermRWAndRO                      // a term won read-write and read-only by different nodes
	vReadLease                        // a read lease outlives a newer leader's election (or switch time)
	vLiveness                         // no stable highest leader 10 dead-afters after the faults end
	vRunaway                          // the simulation did not end
	numViolationKinds
)

func (k violationKind) String() string {
	return [...]string{
		"at most one read-write leader at any instant",
		"no read-only leader alongside a read-write one",
		"no two read-write winners of one term",
		"no read-only winner of a term won read-write",
		"read leases of earlier leaders end by the new leader's election (or SwitchAllowedAt after a resign)",
		"liveness: the highest node leads within 10 dead-afters without faults",
		"the simulation ends",
	}[k]
}

type msgKind uint8

const (
	mHeartbeat msgKind = iota
	mAck
	mVote
	mVoteResp
	mPreempt
	mResign
)

func (k msgKind) String() string {
	return [...]string{"heartbeat", "ack", "vote", "vote-resp", "preempt", "resign"}[k]
}

// simMsg is one message; term is its header term (the sender's Term() when
// it was stamped).
type simMsg struct {
	kind     msgKind
	from, to shard.NodeID
	term     uint64

	// Heartbeats and acks: the sender's view.
	leader shard.NodeID
	claim  Mode
	// Acks: a read lease granted, and when.
	lease     bool
	grantedAt time.Time
	// Heartbeats and acks: the heartbeat's send time (kept by the caller).
	sentAt time.Time

	// Votes.
	voteTerm    uint64
	pre         bool
	granted     bool
	afterResign bool
	reason      string

	// Calls: the caller's incarnation and call, so that answers to a dead
	// incarnation or to a call that timed out are dropped.
	callerGen int
	callID    uint64
}

type evKind uint8

const (
	evTick evKind = iota
	evDeliver
	evBeatTimeout
	evVoteDeadline
	evFault
	evCheck
)

type simEvent struct {
	at     time.Time
	seq    uint64
	kind   evKind
	node   shard.NodeID
	gen    int
	peer   shard.NodeID
	callID uint64
	m      *simMsg
	fn     func()
}

type eventQueue []*simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type simCampaign struct {
	id      uint64 // call ID of the current phase
	term    uint64
	pre     bool
	waiting int
	asked   []shard.NodeID
	answers map[shard.NodeID]*simMsg
	knownBy []shard.NodeID // running nodes already at the term when the election began
}

// leaseOrigin is the grant that set a follower's current read lease.
type leaseOrigin struct {
	leader    shard.NodeID
	term      uint64
	grantedAt time.Time
	until     time.Time
}

type simNode struct {
	id       shard.NodeID
	el       *Elector // nil while crashed
	gen      int
	paused   bool
	held     []*simEvent
	tickHeld bool
	inflight map[shard.NodeID]uint64 // heartbeats awaiting an answer
	camp     *simCampaign
	lease    leaseOrigin
}

type simWin struct {
	id        shard.NodeID
	term      uint64
	mode      Mode
	at        time.Time
	threshold time.Time // SwitchAllowedAt
}

// simParams are one seed's knobs.
type simParams struct {
	n                 int
	cfg               Config // timing (ID is set per node)
	faultFor          time.Duration
	dropP             float64
	medDelayP         float64
	longDelayP        float64
	faultEvery        time.Duration // mean gap between faults
	pauseW            int           // relative weights of the fault kinds
	restartW          int
	partitionW        int
	oneWayW           int
	restartAfterVoteP float64 // chance a voter crashes soon after a real vote
	eligibleP         float64 // chance a node is eligible to preempt (per start)
	maxEvents         int
	liveFor           time.Duration // fault-free period for the liveness check
	stableFor         time.Duration // the liveness phase ends once stable this long

	// Driver faults, for checking that the checkers see them: name
	// Leader() rather than AckLeader() in heartbeats and acks, and grant
	// read leases without NoteLeaseGranted.
	ackWithLeader bool
	unnotedGrants bool
}

func (p simParams) String() string {
	return fmt.Sprintf("n=%d dead-after=%v heartbeat=%v leader-lease=%v read-lease=%v faults-for=%v drop=%v med-delay=%v long-delay=%v fault-every=%v weights pause/restart/partition/one-way=%d/%d/%d/%d restart-after-vote=%v",
		p.n, p.cfg.DeadAfter, p.cfg.HeartbeatInterval, p.cfg.LeaderLease, p.cfg.ReadLease, p.faultFor, p.dropP, p.medDelayP, p.longDelayP,
		p.faultEvery, p.pauseW, p.restartW, p.partitionW, p.oneWayW, p.restartAfterVoteP)
}

type sim struct {
	seed   uint64
	p      simParams
	rng    *rand.Rand
	start  time.Time
	now    time.Time
	q      eventQueue
	seq    uint64
	nodes  []*simNode
	byID   map[shard.NodeID]*simNode
	ids    []shard.NodeID
	block  map[[2]shard.NodeID]int
	healed bool
	calls  uint64
	events int
	wins   []simWin

	elections int // elections begun (BeginElection accepted)
	grants    int // read leases granted
	withheld  int // heartbeats and acks naming no leader in the startup window

	// violations holds the first message of each kind seen.
	violations [numViolationKinds]string
	stopOn     violationKind // with trace: stop at the first violation of this kind
	stopped    bool

	trace bool
	lines []string
}

func (s *sim) rel(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Sub(s.start).String()
}

func (s *sim) logf(format string, args ...any) {
	if !s.trace {
		return
	}
	s.lines = append(s.lines, fmt.Sprintf("%14s  ", s.now.Sub(s.start))+fmt.Sprintf(format, args...))
}

func (s *sim) violate(k violationKind, format string, args ...any) {
	msg := fmt.Sprintf("at %v: ", s.now.Sub(s.start)) + fmt.Sprintf(format, args...)
	if s.violations[k] == "" {
		s.violations[k] = msg
	}
	s.logf("VIOLATION (%v): %s", k, msg)
	if s.trace && k == s.stopOn || k == vRunaway {
		s.stopped = true
	}
}

func (s *sim) push(e *simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func (s *sim) after(d time.Duration, e *simEvent) {
	e.at = s.now.Add(d)
	s.push(e)
}

func newSim(seed uint64, p simParams) *sim {
	s := &sim{
		seed:  seed,
		p:     p,
		rng:   rand.New(rand.NewPCG(seed, 0x5eed)),
		start: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		byID:  map[shard.NodeID]*simNode{},
		block: map[[2]shard.NodeID]int{},
	}
	s.now = s.start
	// Distinct IDs, not necessarily consecutive.
	for len(s.ids) < p.n {
		id := shard.NodeID(1 + s.rng.IntN(20))
		if !slices.Contains(s.ids, id) {
			s.ids = append(s.ids, id)
		}
	}
	slices.Sort(s.ids)
	for _, id := range s.ids {
		n := &simNode{id: id}
		s.nodes = append(s.nodes, n)
		s.byID[id] = n
		// Nodes start at slightly different times.
		s.boot(n, time.Duration(s.rng.Int64N(int64(p.cfg.DeadAfter/2))))
	}
	return s
}

// boot starts a fresh incarnation of n after d.
func (s *sim) boot(n *simNode, d time.Duration) {
	s.after(d, &simEvent{kind: evFault, fn: func() {
		n.gen++
		cfg := s.p.cfg
		cfg.ID = n.id
		n.el = New(cfg, s.now)
		n.el.SetMembers(s.ids)
		n.el.SetCampaignAllowed(true)
		n.el.SetEligible(s.healed || s.rng.Float64() < s.p.eligibleP)
		n.paused, n.held, n.tickHeld = false, nil, false
		n.inflight = map[shard.NodeID]uint64{}
		n.camp = nil
		n.lease = leaseOrigin{}
		s.logf("node %d starts (incarnation %d)", n.id, n.gen)
		// The ticker's phase is arbitrary.
		s.after(time.Duration(s.rng.Int64N(int64(s.p.cfg.HeartbeatInterval))), &simEvent{kind: evTick, node: n.id, gen: n.gen})
	}})
}

// crash stops n at once; it restarts (with nothing kept) after d.
func (s *sim) crash(n *simNode, d time.Duration) {
	s.logf("node %d crashes, restarts in %v", n.id, d)
	n.el = nil
	n.gen++
	n.paused, n.held, n.tickHeld = false, nil, false
	s.boot(n, d)
}

// delay draws a network delay.
func (s *sim) delay() time.Duration {
	d := 100*time.Microsecond + time.Duration(s.rng.Int64N(int64(2*time.Millisecond)))
	if s.healed {
		return d
	}
	switch r := s.rng.Float64(); {
	case r < s.p.longDelayP:
		d += time.Duration(s.rng.Int64N(int64(s.p.cfg.DeadAfter * 3 / 4)))
	case r < s.p.longDelayP+s.p.medDelayP:
		d += time.Duration(s.rng.Int64N(int64(s.p.cfg.HeartbeatInterval)))
	}
	return d
}

func (s *sim) send(m *simMsg) {
	if s.block[[2]shard.NodeID{m.from, m.to}] > 0 {
		s.logf("    %d->%d %v lost (partition)", m.from, m.to, m.kind)
		return
	}
	if !s.healed && s.rng.Float64() < s.p.dropP {
		s.logf("    %d->%d %v dropped", m.from, m.to, m.kind)
		return
	}
	d := s.delay()
	if d > s.p.cfg.HeartbeatInterval {
		s.logf("    %d->%d %v delayed %v", m.from, m.to, m.kind, d)
	}
	s.after(d, &simEvent{kind: evDeliver, node: m.to, m: m})
}

// run plays the simulation to its end (or, replaying, to the violation
// looked for).
func (s *sim) run() {
	faultEnd := s.start.Add(s.p.faultFor)
	if s.p.faultFor > 0 {
		s.scheduleFault()
	}
	s.push(&simEvent{at: faultEnd, kind: evFault, fn: s.heal})
	liveEnd := faultEnd.Add(s.p.liveFor)
	var stableSince time.Time
	for s.q.Len() > 0 && !s.stopped {
		e := heap.Pop(&s.q).(*simEvent)
		if e.at.After(liveEnd) {
			s.now = liveEnd
			break
		}
		s.now = e.at
		if s.events++; s.events > s.p.maxEvents {
			s.violate(vRunaway, "more than %d events", s.p.maxEvents)
			return
		}
		s.dispatch(e)
		if !s.healed || s.stopped {
			continue
		}
		if s.stable() {
			if stableSince.IsZero() {
				stableSince = s.now
			}
			if s.now.Sub(stableSince) >= s.p.stableFor {
				return
			}
		} else {
			stableSince = time.Time{}
		}
	}
	if !s.stopped {
		s.violate(vLiveness, "%v without faults and no stable leader: %s", s.p.liveFor, s.describe())
	}
}

// stable reports whether the highest ID leads read-write and everyone
// follows it in its term.
func (s *sim) stable() bool {
	top := s.nodes[len(s.nodes)-1]
	if top.el == nil || top.el.Role() != Leader || top.el.Mode(s.now) != LeadingReadWrite {
		return false
	}
	for _, n := range s.nodes {
		if n.el == nil || n.el.Leader() != top.id || n.el.Term() != top.el.Term() {
			return false
		}
	}
	return true
}

func (s *sim) describe() string {
	var b strings.Builder
	for _, n := range s.nodes {
		if n.el == nil {
			fmt.Fprintf(&b, "[%d down] ", n.id)
			continue
		}
		fmt.Fprintf(&b, "[%d %v term %d leader %d mode %s reads %v paused %v] ", n.id, n.el.Role(), n.el.Term(), n.el.Leader(),
			modeName(n.el.Mode(s.now)), n.el.CanServeReads(s.now), n.paused)
	}
	return b.String()
}

func (s *sim) dispatch(e *simEvent) {
	switch e.kind {
	case evFault:
		e.fn()
		s.check(nil)
		return
	case evCheck:
		s.check(nil)
		return
	}
	n := s.byID[e.node]
	if n.el == nil {
		return // down: nothing listens
	}
	if e.kind != evDeliver && e.gen != n.gen {
		return // a timer of a dead incarnation
	}
	if n.paused {
		if e.kind == evTick {
			n.tickHeld = true
		} else {
			n.held = append(n.held, e)
		}
		return
	}
	s.handle(n, e)
	s.check(n)
}

func (s *sim) handle(n *simNode, e *simEvent) {
	switch e.kind {
	case evTick:
		s.tick(n)
		s.after(s.p.cfg.HeartbeatInterval, &simEvent{kind: evTick, node: n.id, gen: n.gen})
	case evBeatTimeout:
		if n.inflight[e.peer] == e.callID {
			delete(n.inflight, e.peer)
		}
	case evVoteDeadline:
		if n.camp != nil && n.camp.id == e.callID {
			s.logf("node %d: %s phase of term %d times out", n.id, phase(n.camp.pre), n.camp.term)
			s.advanceCampaign(n)
		}
	case evDeliver:
		s.deliver(n, e.m)
	}
}

func modeName(m Mode) string {
	switch m {
	case LeadingReadWrite:
		return "read-write"
	case LeadingReadOnly:
		return "read-only"
	}
	return "not-leading"
}

func phase(pre bool) string {
	if pre {
		return "pre-vote"
	}
	return "vote"
}

// tick is node.tick: the elector's decisions, then a heartbeat to every
// member whose previous heartbeat has been answered (or timed out).
func (s *sim) tick(n *simNode) {
	now := s.now
	a := n.el.Tick(now)
	if a.SteppedDown {
		s.logf("node %d steps down (lease over), term %d", n.id, n.el.Term())
	}
	if a.LeaderLost {
		s.logf("node %d: leader silent, forgotten", n.id)
	}
	// The leader named is AckLeader, as node.heartbeatLocked names it: none
	// in the node's first dead-after.
	hb := simMsg{kind: mHeartbeat, from: n.id, term: n.el.Term(), leader: s.ackLeader(n), claim: n.el.Claim(), sentAt: now, callerGen: n.gen}
	for _, p := range s.ids {
		if p == n.id {
			continue
		}
		if _, busy := n.inflight[p]; busy {
			continue
		}
		s.calls++
		m := hb
		m.to, m.callID = p, s.calls
		n.inflight[p] = s.calls
		s.send(&m)
		s.after(s.p.cfg.DeadAfter/2, &simEvent{kind: evBeatTimeout, node: n.id, gen: n.gen, peer: p, callID: s.calls})
	}
	if a.Campaign && n.camp == nil {
		s.startCampaign(n)
	}
	if a.Preempt {
		s.logf("node %d asks leader %d to resign", n.id, n.el.Leader())
		s.send(&simMsg{kind: mPreempt, from: n.id, to: n.el.Leader(), term: n.el.Term()})
	}
}

// ackLeader is the leader n names in its heartbeats and acks.
func (s *sim) ackLeader(n *simNode) shard.NodeID {
	if s.p.ackWithLeader {
		return n.el.Leader()
	}
	l := n.el.AckLeader(s.now)
	if l == 0 && n.el.Leader() != 0 {
		s.withheld++
	}
	return l
}

func (s *sim) startCampaign(n *simNode) {
	term := n.el.PreVoteTerm(s.now)
	s.logf("node %d campaigns for term %d", n.id, term)
	n.camp = &simCampaign{term: term, pre: true}
	s.askVotes(n)
}

func (s *sim) askVotes(n *simNode) {
	c := n.camp
	s.calls++
	c.id = s.calls
	c.answers = map[shard.NodeID]*simMsg{}
	c.asked = c.asked[:0]
	for _, p := range n.el.Members() {
		if p != n.id {
			c.asked = append(c.asked, p)
		}
	}
	c.waiting = len(c.asked)
	if c.waiting == 0 {
		s.advanceCampaign(n)
		return
	}
	for _, p := range c.asked {
		s.send(&simMsg{kind: mVote, from: n.id, to: p, term: n.el.Term(), voteTerm: c.term, pre: c.pre, callerGen: n.gen, callID: c.id})
	}
	s.after(s.p.cfg.DeadAfter/4, &simEvent{kind: evVoteDeadline, node: n.id, gen: n.gen, callID: c.id})
}

// advanceCampaign ends the current phase of n's campaign (all answers in,
// or the deadline passed).
func (s *sim) advanceCampaign(n *simNode) {
	c := n.camp
	if c.pre {
		grants := []shard.NodeID{n.id}
		for _, p := range c.asked {
			if a := c.answers[p]; a != nil && a.granted {
				grants = append(grants, p)
			}
		}
		if !n.el.PreVotePassed(c.term, grants) || !n.el.BeginElection(c.term) {
			s.logf("node %d: pre-vote for term %d fails (grants %v, term now %d)", n.id, c.term, grants, n.el.Term())
			n.camp = nil
			return
		}
		s.elections++
		c.knownBy = nil
		for _, o := range s.nodes {
			if o != n && o.el != nil && o.el.Term() >= c.term {
				c.knownBy = append(c.knownBy, o.id)
			}
		}
		s.logf("node %d: pre-vote passed (grants %v), election for term %d", n.id, grants, c.term)
		c.pre = false
		s.askVotes(n)
		return
	}
	grants := []Grant{{From: n.id}}
	for _, p := range c.asked {
		if a := c.answers[p]; a != nil && a.granted {
			grants = append(grants, Grant{From: p, AfterResign: a.afterResign})
		}
	}
	n.camp = nil
	mode := n.el.FinishElection(c.term, grants, s.now)
	s.logf("node %d: election for term %d with grants %v: %s (switch allowed at %s)", n.id, c.term, grants, modeName(mode), s.rel(n.el.SwitchAllowedAt()))
	if mode == NotLeading {
		return
	}
	w := simWin{id: n.id, term: c.term, mode: mode, at: s.now, threshold: n.el.SwitchAllowedAt()}
	for _, o := range s.wins {
		if o.term != w.term || o.id == w.id || (o.mode != LeadingReadWrite && w.mode != LeadingReadWrite) {
			continue
		}
		k := vTermTwoRW
		if o.mode != w.mode {
			k = vTermRWAndRO
		}
		known := fmt.Sprintf("running nodes already at term %d when %d began its election: %v", w.term, w.id, c.knownBy)
		if len(c.knownBy) == 0 {
			known = fmt.Sprintf("no running node remembered term %d when %d began its election (all that had seen it restarted)", w.term, w.id)
		}
		s.violate(k, "term %d won by node %d (%s) at %s and by node %d (%s) now; %s",
			w.term, o.id, modeName(o.mode), s.rel(o.at), w.id, modeName(w.mode), known)
	}
	s.wins = append(s.wins, w)
	if w.threshold.After(s.now) {
		s.push(&simEvent{at: w.threshold, kind: evCheck})
	}
	s.check(nil)
}

func (s *sim) deliver(n *simNode, m *simMsg) {
	now := s.now
	switch m.kind {
	case mHeartbeat:
		s.observe(n, m)
		if m.claim != NotLeading {
			ok, isNew := n.el.OnLeaderHeartbeat(m.from, m.term, m.claim, now)
			switch {
			case isNew:
				s.logf("node %d follows %d (term %d, %s) on a heartbeat sent at %s", n.id, m.from, m.term, modeName(m.claim), s.rel(m.sentAt))
			case !ok:
				s.logf("node %d refuses %d's claim to lead term %d (at term %d)", n.id, m.from, m.term, n.el.Term())
			}
		}
		ack := &simMsg{kind: mAck, from: n.id, to: m.from, sentAt: m.sentAt, callerGen: m.callerGen, callID: m.callID}
		if n.el.Role() == Leader && m.leader == n.id && m.term == n.el.Term() && n.el.Mode(now) != NotLeading {
			// node.grantLeaseLocked: the grant is noted in the elector.
			ack.lease, ack.grantedAt = true, now
			if !s.p.unnotedGrants {
				n.el.NoteLeaseGranted(now)
			}
			s.grants++
		}
		ack.term, ack.leader, ack.claim = n.el.Term(), s.ackLeader(n), n.el.Claim()
		s.send(ack)
	case mAck:
		if m.callerGen != n.gen || n.inflight[m.from] != m.callID {
			return // the call timed out or its caller restarted
		}
		delete(n.inflight, m.from)
		s.observe(n, m)
		n.el.RoundTrip(m.from, now)
		if m.leader == n.id {
			before := n.el.Mode(now)
			n.el.OnLeaderAck(m.from, m.sentAt, m.term, m.leader)
			if after := n.el.Mode(now); after != before {
				s.logf("node %d: ack from %d of a heartbeat sent at %s: mode %s -> %s (term %d)", n.id, m.from, s.rel(m.sentAt), modeName(before), modeName(after), n.el.Term())
			}
		}
		if m.claim != NotLeading {
			if _, isNew := n.el.OnLeaderHeartbeat(m.from, m.term, m.claim, now); isNew {
				s.logf("node %d follows %d (term %d, %s) on an ack", n.id, m.from, m.term, modeName(m.claim))
			}
		}
		if m.lease {
			before := n.el.readLeaseUntil
			n.el.OnReadLease(m.from, m.term, m.sentAt)
			if n.el.readLeaseUntil.After(before) {
				n.lease = leaseOrigin{leader: m.from, term: m.term, grantedAt: m.grantedAt, until: n.el.readLeaseUntil}
				s.logf("node %d holds a read lease from %d (term %d, granted at %s) until %s", n.id, m.from, m.term, s.rel(m.grantedAt), s.rel(n.lease.until))
			}
		}
	case mVote:
		s.observe(n, m)
		ok, reason := n.el.HandleVote(m.from, m.voteTerm, m.pre, now)
		s.logf("node %d: %s for %d in term %d: %v %s", n.id, phase(m.pre), m.from, m.voteTerm, ok, reason)
		s.send(&simMsg{kind: mVoteResp, from: n.id, to: m.from, term: n.el.Term(), granted: ok, reason: reason,
			afterResign: n.el.VoteAfterResign(now), callerGen: m.callerGen, callID: m.callID})
		if ok && !m.pre && !s.healed && s.rng.Float64() < s.p.restartAfterVoteP {
			// A crash soon after voting: the vote is forgotten.
			gen := n.gen
			s.after(time.Duration(s.rng.Int64N(int64(s.p.cfg.LeaderLease))), &simEvent{kind: evFault, fn: func() {
				if n.gen == gen && n.el != nil && !s.healed {
					s.crash(n, time.Duration(s.rng.Int64N(int64(s.p.cfg.HeartbeatInterval))))
				}
			}})
		}
	case mVoteResp:
		if m.callerGen != n.gen {
			return
		}
		s.observe(n, m)
		c := n.camp
		if c == nil || c.id != m.callID || c.answers[m.from] != nil {
			return
		}
		c.answers[m.from] = m
		if c.waiting--; c.waiting == 0 {
			s.advanceCampaign(n)
		}
	case mPreempt:
		s.observe(n, m)
		if n.el.Role() == Leader && m.from > n.id && slices.Contains(s.ids, m.from) && n.el.Health(m.from, now) == Alive {
			term := n.el.Term()
			n.el.Resign(now)
			s.logf("node %d resigns term %d in favour of %d", n.id, term, m.from)
			for _, p := range s.ids {
				if p != n.id {
					s.send(&simMsg{kind: mResign, from: n.id, to: p, term: term})
				}
			}
		}
	case mResign:
		s.observe(n, m)
		had := n.el.Leader()
		n.el.OnResign(m.from, m.term, now)
		if had != 0 && n.el.Leader() == 0 {
			s.logf("node %d: leader %d resigned", n.id, m.from)
		}
	}
}

func (s *sim) observe(n *simNode, m *simMsg) {
	was := n.el.Role()
	if n.el.ObserveTerm(m.term) {
		s.logf("node %d (%v) steps down: %v from %d carries term %d", n.id, was, m.kind, m.from, m.term)
	}
}

// check asserts the safety properties at s.now after an event on z (nil:
// any node may have changed, or a threshold was reached).
func (s *sim) check(z *simNode) {
	now := s.now
	if z == nil || (z.el != nil && z.el.Mode(now) != NotLeading) {
		var rw, leading []string
		for _, n := range s.nodes {
			if n.el == nil {
				continue
			}
			switch n.el.Mode(now) {
			case LeadingReadWrite:
				rw = append(rw, fmt.Sprintf("%d (term %d)", n.id, n.el.Term()))
				leading = append(leading, fmt.Sprintf("%d read-write (term %d)", n.id, n.el.Term()))
			case LeadingReadOnly:
				leading = append(leading, fmt.Sprintf("%d read-only (term %d)", n.id, n.el.Term()))
			}
		}
		switch {
		case len(rw) > 1:
			s.violate(vRWOverlap, "read-write leaders %v at once; %s", rw, s.describe())
		case len(rw) == 1 && len(leading) > 1:
			s.violate(vRWWithRO, "leaders %v at once; %s", leading, s.describe())
		}
	}
	if z != nil {
		s.checkLease(z)
		return
	}
	for _, f := range s.nodes {
		s.checkLease(f)
	}
}

func (s *sim) checkLease(f *simNode) {
	now := s.now
	if f.el == nil || f.el.Role() != Follower || !f.el.CanServeReads(now) {
		return
	}
	o := f.lease
	// Only elections after the grant matter: scan back from the newest.
	for i := len(s.wins) - 1; i >= 0 && s.wins[i].at.After(o.grantedAt); i-- {
		w := s.wins[i]
		if w.mode != LeadingReadWrite || w.term <= o.term || now.Before(w.threshold) {
			continue
		}
		who := "another node"
		if w.id == o.leader {
			who = "the same node re-elected"
		}
		s.violate(vReadLease, "node %d serves reads on a lease from leader %d (term %d, granted at %s, until %s) after node %d (%s) won term %d read-write at %s (switch allowed at %s)",
			f.id, o.leader, o.term, s.rel(o.grantedAt), s.rel(o.until), w.id, who, w.term, s.rel(w.at), s.rel(w.threshold))
		return
	}
}

// Faults.

func (s *sim) scheduleFault() {
	gap := time.Duration(s.rng.ExpFloat64() * float64(s.p.faultEvery))
	s.after(gap, &simEvent{kind: evFault, fn: func() {
		if s.healed {
			return
		}
		s.fault()
		s.scheduleFault()
	}})
}

func (s *sim) fault() {
	total := s.p.pauseW + s.p.restartW + s.p.partitionW + s.p.oneWayW
	if total == 0 {
		return
	}
	da := s.p.cfg.DeadAfter
	r := s.rng.IntN(total)
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	switch {
	case r < s.p.pauseW:
		if n.el == nil || n.paused {
			return
		}
		d := time.Duration(s.rng.Int64N(int64(3 * da / 2)))
		n.paused = true
		gen := n.gen
		s.logf("node %d pauses for %v", n.id, d)
		s.after(d, &simEvent{kind: evFault, fn: func() {
			if n.gen == gen && n.paused {
				s.resume(n)
			}
		}})
	case r < s.p.pauseW+s.p.restartW:
		if n.el == nil {
			return
		}
		s.crash(n, time.Duration(s.rng.Int64N(int64(da/2))))
	case r < s.p.pauseW+s.p.restartW+s.p.partitionW:
		// Split into two sides, both ways.
		var side []bool
		for range s.nodes {
			side = append(side, s.rng.IntN(2) == 0)
		}
		var links [][2]shard.NodeID
		for i, a := range s.nodes {
			for j, b := range s.nodes {
				if i != j && side[i] != side[j] {
					links = append(links, [2]shard.NodeID{a.id, b.id})
				}
			}
		}
		s.blockFor(links, time.Duration(s.rng.Int64N(int64(3*da))))
	default:
		// One link, one way.
		a, b := s.nodes[s.rng.IntN(len(s.nodes))], s.nodes[s.rng.IntN(len(s.nodes))]
		if a == b {
			return
		}
		s.blockFor([][2]shard.NodeID{{a.id, b.id}}, time.Duration(s.rng.Int64N(int64(3*da))))
	}
}

func (s *sim) blockFor(links [][2]shard.NodeID, d time.Duration) {
	if len(links) == 0 {
		return
	}
	for _, l := range links {
		s.block[l]++
	}
	s.logf("links %v cut for %v", links, d)
	s.after(d, &simEvent{kind: evFault, fn: func() {
		if s.healed {
			return
		}
		for _, l := range links {
			if s.block[l]--; s.block[l] <= 0 {
				delete(s.block, l)
			}
		}
		s.logf("links %v restored", links)
	}})
}

// resume lets a paused node run: it takes what arrived meanwhile, and its
// ticker fires once (before or after the backlog, as the scheduler likes).
func (s *sim) resume(n *simNode) {
	s.logf("node %d resumes (%d events held)", n.id, len(n.held))
	held, tick := n.held, n.tickHeld
	n.paused, n.held, n.tickHeld = false, nil, false
	gen := n.gen
	tickFirst := s.rng.IntN(2) == 0
	if tick && tickFirst {
		s.handle(n, &simEvent{kind: evTick, node: n.id, gen: gen})
		s.check(n)
	}
	for _, e := range held {
		if n.gen != gen || n.paused || s.stopped {
			return
		}
		s.handle(n, e)
		s.check(n)
	}
	if tick && !tickFirst {
		s.handle(n, &simEvent{kind: evTick, node: n.id, gen: gen})
		s.check(n)
	}
}

// heal ends the faults: links restored, paused nodes resumed, no drops or
// long delays from now on (messages already in flight still arrive).
func (s *sim) heal() {
	s.logf("faults end")
	s.healed = true
	clear(s.block)
	for _, n := range s.nodes {
		if n.el != nil {
			n.el.SetEligible(true)
		}
		if n.paused {
			s.resume(n)
		}
	}
}

// simDeadAfter is the dead-after of the random scenarios: the SPEC's 2s,
// or LEADER_SIM_DEAD_AFTER (a Go duration, at least 10ms), for exploring
// shorter timings. The network's base delay (0.1 to 2.1ms) does not scale.
func simDeadAfter() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("LEADER_SIM_DEAD_AFTER")); err == nil && d >= 10*time.Millisecond {
		return d
	}
	return 2 * time.Second
}

// randomParams draws a seed's scenario.
func randomParams(rng *rand.Rand) simParams {
	da := simDeadAfter()
	cfg := Config{DeadAfter: da}.WithDefaults()
	// Most seeds use the default leases; some split the allowed 4/5 of
	// dead-after differently (Validate accepts any split).
	if rng.IntN(4) == 0 {
		ll := da * time.Duration(1+rng.IntN(7)) / 10
		cfg.LeaderLease, cfg.ReadLease = ll, da*8/10-ll
	}
	return simParams{
		n:                 3 + rng.IntN(5),
		cfg:               cfg,
		faultFor:          time.Duration(5+rng.IntN(11)) * da,
		dropP:             []float64{0, 0.01, 0.05, 0.2}[rng.IntN(4)],
		medDelayP:         []float64{0, 0.1, 0.3}[rng.IntN(3)],
		longDelayP:        []float64{0, 0.005, 0.02, 0.1}[rng.IntN(4)],
		faultEvery:        []time.Duration{da / 4, da, 3 * da}[rng.IntN(3)],
		pauseW:            rng.IntN(4),
		restartW:          rng.IntN(4),
		partitionW:        rng.IntN(4),
		oneWayW:           rng.IntN(3),
		restartAfterVoteP: []float64{0, 0, 0.1, 0.5}[rng.IntN(4)],
		eligibleP:         rng.Float64(),
		maxEvents:         2_000_000,
		liveFor:           10 * da,
		stableFor:         2 * da,
	}
}

// replay plays seed again with tracing, up to the first violation of kind
// k, and returns the last lines of its trace.
func replay(seed uint64, p simParams, k violationKind, lines int) []string {
	s := newSim(seed, p)
	s.trace, s.stopOn = true, k
	s.run()
	out := s.lines
	if len(out) > lines {
		out = out[len(out)-lines:]
	}
	return out
}
