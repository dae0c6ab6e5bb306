package leader

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// Role is a node's part in the election.
type Role int

// The roles.
const (
	Follower Role = iota
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return "follower"
}

// Mode is what a leader may do right now.
type Mode uint8

// The modes. A leader elected by more than half of the members, with a
// lease from more than half, reads and writes; one that has only half (an
// even cluster split in two, or half of it dead) serves reads only.
const (
	NotLeading       Mode = 0
	LeadingReadOnly  Mode = 1
	LeadingReadWrite Mode = 2
)

// Health is a peer's liveness as this node sees it.
type Health int

// The health states, as /v1/cluster names them.
const (
	Alive Health = iota
	Suspect
	Dead
)

func (h Health) String() string {
	switch h {
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return "alive"
}

// Action tells the driver what to do after a Tick.
type Action struct {
	// Campaign: run a pre-vote and, if it passes, an election.
	Campaign bool
	// Preempt: ask the current (lower) leader to resign in our favour.
	Preempt bool
	// SteppedDown: this node stopped leading (its lease ran out).
	SteppedDown bool
	// LeaderLost: the leader this node followed went silent and is forgotten.
	LeaderLost bool
}

// Grant is one granted vote.
type Grant struct {
	From shard.NodeID
	// AfterResign is set when the voter gave its vote because the previous
	// leader resigned (rather than because it fell silent).
	AfterResign bool
}

type peer struct {
	lastAck   time.Time // when the last heartbeat round trip with it completed
	ackedSend time.Time // as leader: send time of its newest ack of our leadership
}

// Elector is the election state machine of one node. It is not safe for
// concurrent use: the driver serialises calls (one mutex is enough).
type Elector struct {
	cfg     Config
	started time.Time

	// term is the newest term seen. It is the one field read without the
	// driver's lock (Term), so frames are stamped with the current term
	// without a copy kept by hand; it is written only under that lock.
	term      atomic.Uint64
	votedTerm uint64
	votedFor  shard.NodeID

	role       Role
	leader     shard.NodeID // the leader of term, 0 when unknown
	leaderMode Mode         // the mode the leader last announced

	// contactLeader and lastContact: the last heartbeat accepted from a
	// leader (of any term). Voters refuse others for DeadAfter after it.
	contactLeader shard.NodeID
	lastContact   time.Time
	resignedAt    time.Time // when the leader we followed resigned
	// resigned is the last leader known to have resigned, with its term:
	// a message of that leader and term still on its way (a heartbeat, a
	// replication sent just before the resign) must not make it leader
	// again, which would turn away the successor's votes for DeadAfter.
	resigned     shard.NodeID
	resignedTerm uint64

	majority        bool      // as leader: elected by more than half
	leaseRW         time.Time // as leader: when the read-write lease ends
	leaseRO         time.Time // as leader: when the read-only lease ends
	electedAt       time.Time
	switchAllowedAt time.Time

	readLeaseUntil time.Time // as follower: read lease granted by the leader
	lastGrant      time.Time // as leader: the last read lease granted
	leaseGen       uint64    // counts read leases begun after a gap

	members []shard.NodeID // sorted voting members, self included once a member
	peers   map[shard.NodeID]*peer

	nextCampaign time.Time
	nextPreempt  time.Time
	canCampaign  bool
	eligible     bool
	leaving      map[shard.NodeID]bool // nodes handing off to leave: never leaders
}

// New returns the elector of a node that started at now, a follower of
// nobody at term 0. Until DeadAfter has passed since now it neither votes
// nor campaigns: it keeps nothing across restarts, so it may have voted in
// the current term before.
func New(cfg Config, now time.Time) *Elector {
	return &Elector{cfg: cfg.WithDefaults(), started: now, peers: map[shard.NodeID]*peer{}, leaving: map[shard.NodeID]bool{}}
}

// Config returns the configuration in effect (defaults filled in).
func (e *Elector) Config() Config { return e.cfg }

// Term returns the newest term this node has seen. Unlike every other
// method it is safe to call without the driver's lock, from any goroutine.
func (e *Elector) Term() uint64 { return e.term.Load() }

// Leader returns the leader of the current term, or 0 when unknown.
func (e *Elector) Leader() shard.NodeID { return e.leader }

// Role returns this node's role.
func (e *Elector) Role() Role { return e.role }

// Members returns the voting members (sorted).
func (e *Elector) Members() []shard.NodeID { return slices.Clone(e.members) }

// SetMembers replaces the voting members. Liveness records are kept; a
// member never heard from counts as dead until a round trip succeeds.
func (e *Elector) SetMembers(ids []shard.NodeID) {
	ms := slices.Clone(ids)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	e.members = ms
	for _, id := range ms {
		if id != e.cfg.ID && e.peers[id] == nil {
			e.peers[id] = &peer{}
		}
	}
	e.recomputeLease()
}

// SetCampaignAllowed says whether this node may start elections: it has
// finished forming or joining and is a member.
func (e *Elector) SetCampaignAllowed(ok bool) { e.canCampaign = ok }

// SetEligible says whether this node is caught up enough to take over from
// a lower leader (bully preemption).
func (e *Elector) SetEligible(ok bool) { e.eligible = ok }

// SetLeaving records whether node id is leaving the cluster. A leaving node
// neither campaigns nor counts when voters look for a higher live node, so
// the others elect a successor among themselves.
func (e *Elector) SetLeaving(id shard.NodeID, leaving bool) {
	if leaving {
		e.leaving[id] = true
	} else {
		delete(e.leaving, id)
	}
}

// Leaving reports whether node id is known to be leaving.
func (e *Elector) Leaving(id shard.NodeID) bool { return e.leaving[id] }

// RoundTrip records that a heartbeat to p was answered at now. Liveness is
// tracked for any node, member or not (a joining node, say).
func (e *Elector) RoundTrip(p shard.NodeID, now time.Time) {
	if p == e.cfg.ID {
		return
	}
	pr := e.peers[p]
	if pr == nil {
		pr = &peer{}
		e.peers[p] = pr
	}
	if now.After(pr.lastAck) {
		pr.lastAck = now
	}
}

// Forget drops the liveness record of a node that is no longer known.
func (e *Elector) Forget(p shard.NodeID) {
	if !e.isMember(p) {
		delete(e.peers, p)
	}
}

// Health returns p's liveness at now. This node is always alive to itself;
// a node never heard from is dead.
func (e *Elector) Health(p shard.NodeID, now time.Time) Health {
	if p == e.cfg.ID {
		return Alive
	}
	pr := e.peers[p]
	if pr == nil || pr.lastAck.IsZero() {
		return Dead
	}
	switch silent := now.Sub(pr.lastAck); {
	case silent >= e.cfg.DeadAfter:
		return Dead
	case silent >= e.cfg.SuspectAfter:
		return Suspect
	}
	return Alive
}

// LastAck returns when p last answered a heartbeat (zero if never).
func (e *Elector) LastAck(p shard.NodeID) time.Time {
	if pr := e.peers[p]; pr != nil {
		return pr.lastAck
	}
	return time.Time{}
}

func (e *Elector) alive(p shard.NodeID, now time.Time) bool { return e.Health(p, now) != Dead }

// highestAlive returns the highest member ID (or self) alive at now and not
// leaving; 0 when only leaving nodes remain.
func (e *Elector) highestAlive(now time.Time) shard.NodeID {
	var best shard.NodeID
	if !e.leaving[e.cfg.ID] {
		best = e.cfg.ID
	}
	for _, m := range e.members {
		if m > best && e.alive(m, now) && !e.leaving[m] {
			best = m
		}
	}
	return best
}

func (e *Elector) isMember(id shard.NodeID) bool {
	_, ok := slices.BinarySearch(e.members, id)
	return ok
}

// ObserveTerm takes the term a message carried. A newer term makes this
// node a follower of an unknown leader; it reports whether this node was
// leading or campaigning and stopped.
func (e *Elector) ObserveTerm(term uint64) (steppedDown bool) {
	if term <= e.term.Load() {
		return false
	}
	steppedDown = e.role != Follower
	e.term.Store(term)
	e.becomeFollower()
	return steppedDown
}

func (e *Elector) becomeFollower() {
	e.role = Follower
	e.leader = 0
	e.leaderMode = NotLeading
	e.majority = false
	e.readLeaseUntil = time.Time{}
	e.leaseRW, e.leaseRO = time.Time{}, time.Time{}
}

// OnLeaderHeartbeat takes a heartbeat from a node that claims to lead term
// (after ObserveTerm). It reports whether the sender is accepted as leader
// and whether it is newly so (the moment to log "leader elected").
func (e *Elector) OnLeaderHeartbeat(from shard.NodeID, term uint64, mode Mode, now time.Time) (accepted, isNew bool) {
	if term < e.term.Load() || mode == NotLeading || from == e.resigned && term == e.resignedTerm {
		return false, false
	}
	switch {
	case e.role == Leader && from != e.cfg.ID:
		// Two leaders of one term can only both be read-only (each was
		// elected by exactly half): the higher ID wins.
		if from < e.cfg.ID {
			return false, false
		}
		e.becomeFollower()
	case e.role == Candidate:
		e.becomeFollower()
	case e.leader != 0 && e.leader != from && from < e.leader:
		return false, false
	}
	isNew = e.leader != from
	if isNew {
		e.readLeaseUntil = time.Time{} // a lease from another leader ends
	}
	e.leader = from
	e.leaderMode = mode
	e.contactLeader = from
	e.lastContact = now
	return true, isNew
}

// OnLeaderAck records, as leader, that from acknowledged our leadership of
// ackTerm in answer to a heartbeat sent at sentAt.
func (e *Elector) OnLeaderAck(from shard.NodeID, sentAt time.Time, ackTerm uint64, ackLeader shard.NodeID) {
	if e.role != Leader || ackTerm != e.term.Load() || ackLeader != e.cfg.ID {
		return
	}
	if pr := e.peers[from]; pr != nil && sentAt.After(pr.ackedSend) {
		pr.ackedSend = sentAt
		e.recomputeLease()
	}
}

// OnReadLease records, as follower, a read lease that our leader granted
// in answer to a heartbeat we sent at sentAt.
func (e *Elector) OnReadLease(from shard.NodeID, term uint64, sentAt time.Time) {
	if e.role != Follower || from != e.leader || term != e.term.Load() {
		return
	}
	if !sentAt.Before(e.readLeaseUntil) {
		e.leaseGen++ // the previous lease had ended: a new one begins
	}
	if until := sentAt.Add(e.cfg.ReadLease); until.After(e.readLeaseUntil) {
		e.readLeaseUntil = until
	}
}

// LeaseGen counts the read leases this follower began after a gap (or
// none). A replica that served reads under one lease must re-check its data
// before serving under the next: while it had none, the cluster may have
// moved on without it.
func (e *Elector) LeaseGen() uint64 { return e.leaseGen }

// Mode returns what this node may do as leader at now. It is O(1): the
// lease ends are worked out when acknowledgments or members change.
func (e *Elector) Mode(now time.Time) Mode {
	switch {
	case e.role != Leader:
		return NotLeading
	case e.majority && now.Before(e.leaseRW):
		return LeadingReadWrite
	case now.Before(e.leaseRO):
		return LeadingReadOnly
	}
	return NotLeading
}

// forever stands for the lease of a leader that needs no one else's ack.
var forever = time.Unix(1<<62, 0)

// recomputeLease works out when the leader's lease ends, for read-write
// (more than half of the members acknowledged a heartbeat sent within
// LeaderLease, this node counting as acknowledging always) and read-only
// (half of them).
func (e *Elector) recomputeLease() {
	e.leaseRW, e.leaseRO = time.Time{}, time.Time{}
	n := len(e.members)
	if e.role != Leader || n == 0 {
		return
	}
	self := e.isMember(e.cfg.ID)
	acks := make([]time.Time, 0, n)
	for _, m := range e.members {
		if m != e.cfg.ID {
			if pr := e.peers[m]; pr != nil {
				acks = append(acks, pr.ackedSend)
			}
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return b.Compare(a) })
	end := func(k int) time.Time { // when the k-th newest acknowledgment's lease ends
		if self {
			if k == 1 {
				return forever
			}
			k--
		}
		if k < 1 || k > len(acks) || acks[k-1].IsZero() {
			return time.Time{}
		}
		return acks[k-1].Add(e.cfg.LeaderLease)
	}
	if e.majority {
		e.leaseRW = end(n/2 + 1)
	}
	e.leaseRO = end((n + 1) / 2)
}

// Claim returns the mode this node announces in its heartbeats: the mode
// its election won while it leads (its lease is built from the answers),
// NotLeading otherwise.
func (e *Elector) Claim() Mode {
	switch {
	case e.role != Leader:
		return NotLeading
	case e.majority:
		return LeadingReadWrite
	}
	return LeadingReadOnly
}

// CanServeReads reports whether this node may answer reads as a primary:
// as leader while it leads in any mode, as follower while its read lease
// lasts.
func (e *Elector) CanServeReads(now time.Time) bool {
	if e.role == Leader {
		return e.Mode(now) != NotLeading
	}
	return e.leader != 0 && now.Before(e.readLeaseUntil)
}

// LeaderMode returns the mode our leader last announced (ours when leading).
func (e *Elector) LeaderMode(now time.Time) Mode {
	if e.role == Leader {
		return e.Mode(now)
	}
	return e.leaderMode
}

// NoteLeaseGranted records, as leader, that a read lease was granted at
// now. Until such leases end this node votes for nobody else, and if it
// leads again it waits them out before switching the placement.
func (e *Elector) NoteLeaseGranted(now time.Time) {
	if now.After(e.lastGrant) {
		e.lastGrant = now
	}
}

// leasesEnd returns when every read lease this node granted has ended.
func (e *Elector) leasesEnd() time.Time {
	if e.lastGrant.IsZero() {
		return time.Time{}
	}
	return e.lastGrant.Add(e.cfg.ReadLease * 5 / 4)
}

// AckLeader returns the leader this node names in its heartbeats and their
// answers, supporting that leader's lease: none while the node is in its
// first DeadAfter (it may have followed a newer leader before a restart it
// cannot remember, so a stale leader's delayed heartbeat must not earn it
// a quorum).
func (e *Elector) AckLeader(now time.Time) shard.NodeID {
	if now.Sub(e.started) < e.cfg.DeadAfter {
		return 0
	}
	return e.leader
}

// SwitchAllowedAt returns the earliest time this leader may switch to a new
// placement table: read leases that an earlier leader granted must have
// ended by then.
func (e *Elector) SwitchAllowedAt() time.Time { return e.switchAllowedAt }

// Tick advances time. Call it every HeartbeatInterval.
func (e *Elector) Tick(now time.Time) Action {
	var a Action
	switch e.role {
	case Leader:
		m := e.Mode(now)
		if m == NotLeading && now.Sub(e.electedAt) >= e.cfg.LeaderLease {
			e.becomeFollower()
			a.SteppedDown = true
			return a
		}
		if m != LeadingReadWrite && !e.majority && e.canStand(now) && e.aliveCount(now) > len(e.members)/2 {
			// Elected by only half; a majority is back: stand again for a
			// term in which writes are allowed.
			a.Campaign = true
		}
		return a
	case Candidate:
		return a
	}
	if e.leader != 0 && now.Sub(e.lastContact) >= e.cfg.DeadAfter {
		e.leader = 0
		e.leaderMode = NotLeading
		e.readLeaseUntil = time.Time{}
		a.LeaderLost = true
	}
	if e.leader != 0 {
		if e.eligible && !e.leaving[e.cfg.ID] && e.leader < e.cfg.ID && e.alive(e.leader, now) && !now.Before(e.nextPreempt) &&
			now.Sub(e.started) >= e.cfg.DeadAfter {
			e.nextPreempt = now.Add(e.cfg.DeadAfter)
			a.Preempt = true
		}
		return a
	}
	if e.canStand(now) && e.highestAlive(now) == e.cfg.ID {
		a.Campaign = true
	}
	return a
}

// canStand reports whether this node may start a campaign at now.
func (e *Elector) canStand(now time.Time) bool {
	return e.canCampaign && !e.leaving[e.cfg.ID] && e.isMember(e.cfg.ID) && !now.Before(e.nextCampaign) &&
		now.Sub(e.started) >= e.cfg.DeadAfter
}

func (e *Elector) aliveCount(now time.Time) int {
	n := 0
	for _, m := range e.members {
		if e.alive(m, now) {
			n++
		}
	}
	return n
}

// PreVoteTerm returns the term a campaign starting now would ask for, and
// notes the campaign so that the next is not before a backoff. The term is
// the next one, or the wall clock in microseconds if that is ahead: nodes keep
// nothing across restarts, and a cluster whose members all restarted one
// by one must not reuse a term (and so the versions written in it).
func (e *Elector) PreVoteTerm(now time.Time) uint64 {
	e.nextCampaign = now.Add(2 * e.cfg.HeartbeatInterval)
	cur := e.term.Load()
	if cur == math.MaxUint64 {
		return cur // no newer term exists: PreVotePassed refuses it
	}
	term := cur + 1
	if s := now.UnixMicro(); s > 0 && uint64(s) > term {
		term = uint64(s)
	}
	return term
}

// PreVotePassed reports whether pre-vote grants (self included) from at
// least half of the members allow a real election for term.
func (e *Elector) PreVotePassed(term uint64, grants []shard.NodeID) bool {
	return term > e.term.Load() && e.count(grants) >= (len(e.members)+1)/2
}

func (e *Elector) count(grants []shard.NodeID) int {
	seen := map[shard.NodeID]bool{}
	for _, g := range grants {
		if e.isMember(g) {
			seen[g] = true
		}
	}
	return len(seen)
}

// HandleVote decides a vote (or pre-vote) request from a candidate for
// term, after ObserveTerm of the request's header. A real vote that is
// granted is recorded; a pre-vote changes nothing.
func (e *Elector) HandleVote(from shard.NodeID, term uint64, preVote bool, now time.Time) (granted bool, reason string) {
	switch {
	case now.Sub(e.started) < e.cfg.DeadAfter:
		return false, "voter started recently"
	case term < e.term.Load() || (preVote && term == e.term.Load()):
		return false, "term is not newer"
	case !preVote && e.votedTerm == term && e.votedFor != from:
		return false, "already voted in this term"
	case e.role == Leader && from != e.cfg.ID && e.Mode(now) != NotLeading:
		return false, "voter is leading"
	case e.contactLeader != from && !e.lastContact.IsZero() && now.Sub(e.lastContact) < e.cfg.DeadAfter:
		return false, "voter hears a live leader"
	case from != e.cfg.ID && now.Before(e.leasesEnd()):
		return false, "voter led recently: read leases it granted may still run"
	}
	for _, m := range e.members {
		if m > from && e.alive(m, now) && !e.leaving[m] {
			return false, "a higher node is alive"
		}
	}
	if !preVote {
		e.votedTerm, e.votedFor = term, from
	}
	return true, ""
}

// VoteAfterResign reports whether this node's votes now follow a resign
// (rather than the silence of the previous leader).
func (e *Elector) VoteAfterResign(now time.Time) bool {
	return !e.resignedAt.IsZero() && now.Sub(e.resignedAt) < e.cfg.DeadAfter
}

// BeginElection starts the election for the term the pre-vote asked for:
// this node becomes a candidate and votes for itself.
func (e *Elector) BeginElection(term uint64) bool {
	if term <= e.term.Load() || e.role == Candidate {
		return false
	}
	e.term.Store(term)
	e.role = Candidate
	e.leader = 0
	e.votedTerm, e.votedFor = term, e.cfg.ID
	return true
}

// FinishElection counts the votes of term's election (self included) and
// returns the mode won: read-write with more than half of the members,
// read-only with exactly half, NotLeading otherwise.
func (e *Elector) FinishElection(term uint64, grants []Grant, now time.Time) Mode {
	if e.role != Candidate || e.term.Load() != term {
		return NotLeading
	}
	ids := make([]shard.NodeID, 0, len(grants))
	afterResign := e.VoteAfterResign(now)
	for _, g := range grants {
		ids = append(ids, g.From)
		afterResign = afterResign || g.AfterResign
	}
	n, c := len(e.members), e.count(ids)
	switch {
	case c > n/2:
		e.majority = true
	case c >= (n+1)/2:
		e.majority = false
	default:
		e.becomeFollower()
		e.nextCampaign = now.Add(2 * e.cfg.HeartbeatInterval)
		return NotLeading
	}
	e.role = Leader
	e.leader = e.cfg.ID
	e.electedAt = now
	e.switchAllowedAt = now
	if afterResign {
		e.switchAllowedAt = now.Add(e.cfg.ReadLease * 5 / 4)
	}
	if end := e.leasesEnd(); end.After(e.switchAllowedAt) {
		e.switchAllowedAt = end // leases this node granted when it led before
	}
	e.readLeaseUntil = time.Time{}
	for _, pr := range e.peers {
		pr.ackedSend = time.Time{}
	}
	e.recomputeLease()
	if e.majority {
		return LeadingReadWrite
	}
	return LeadingReadOnly
}

// Resign makes a leader step down of its own accord (to let a higher node
// lead). It stops leading at once.
func (e *Elector) Resign(now time.Time) {
	if e.role == Leader {
		e.resigned, e.resignedTerm = e.cfg.ID, e.term.Load()
		e.becomeFollower()
		e.resignedAt = now
		e.nextCampaign = now.Add(e.cfg.DeadAfter)
	}
}

// OnResign takes a Resign from from for term: if from was our leader, it is
// forgotten at once (so that a successor can be elected without waiting
// for it to fall silent) and our read lease ends.
func (e *Elector) OnResign(from shard.NodeID, term uint64, now time.Time) {
	if term != e.term.Load() || e.leader != from {
		return
	}
	e.resigned, e.resignedTerm = from, term
	e.leader = 0
	e.leaderMode = NotLeading
	e.readLeaseUntil = time.Time{}
	e.lastContact = time.Time{}
	e.resignedAt = now
}
