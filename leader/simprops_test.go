package leader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// simSeeds is how many random scenarios the property tests play (all
// properties are checked in the same runs). LEADER_SIM_SEEDS overrides it,
// for exploring.
const simSeeds = 300

type simResults struct {
	seeds     uint64
	events    int
	elections int
	grants    int
	withheld  int
	// failing[k] lists the seeds violating property k.
	failing [numViolationKinds][]uint64
	first   [numViolationKinds]string
}

var (
	simOnce sync.Once
	simRes  simResults
)

func simSeedParams(seed uint64) simParams {
	return randomParams(rand.New(rand.NewPCG(seed, 1)))
}

// runSimSeeds plays every seed once and records which properties each
// violates.
func runSimSeeds(t *testing.T) *simResults {
	simOnce.Do(func() {
		seeds := uint64(simSeeds)
		if testing.Short() {
			seeds = 60
		}
		if v, err := strconv.ParseUint(os.Getenv("LEADER_SIM_SEEDS"), 10, 64); err == nil && v > 0 {
			seeds = v
		}
		simRes.seeds = seeds
		// The seeds are independent: play them on every CPU, then merge
		// the outcomes in seed order.
		outcomes := make([]*sim, seeds)
		var next atomic.Uint64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for {
					seed := next.Add(1)
					if seed > seeds {
						return
					}
					s := newSim(seed, simSeedParams(seed))
					s.run()
					s.q, s.nodes, s.byID, s.wins = nil, nil, nil, nil // keep only the outcome
					outcomes[seed-1] = s
				}
			})
		}
		wg.Wait()
		for i, s := range outcomes {
			seed := uint64(i) + 1
			simRes.events += s.events
			simRes.elections += s.elections
			simRes.grants += s.grants
			simRes.withheld += s.withheld
			for k, msg := range s.violations {
				if msg != "" {
					simRes.failing[k] = append(simRes.failing[k], seed)
					if simRes.first[k] == "" {
						simRes.first[k] = msg
					}
				}
			}
		}
	})
	t.Logf("%d seeds (dead-after %v): %d events, %d elections, %d read leases granted, %d leaders unnamed in a startup window, in all",
		simRes.seeds, simDeadAfter(), simRes.events, simRes.elections, simRes.grants, simRes.withheld)
	return &simRes
}

// simEnvHint repeats a non-default LEADER_SIM_DEAD_AFTER for a replay.
func simEnvHint() string {
	if d := simDeadAfter(); d != 2*time.Second {
		return fmt.Sprintf("LEADER_SIM_DEAD_AFTER=%v ", d)
	}
	return ""
}

// requireProperty fails t with a counterexample if any seed violated k.
func requireProperty(t *testing.T, k violationKind) {
	r := runSimSeeds(t)
	bad := r.failing[k]
	if len(bad) == 0 {
		return
	}
	seed := bad[0]
	p := simSeedParams(seed)
	shown := bad
	if len(shown) > 20 {
		shown = shown[:20]
	}
	t.Errorf("property %q violated in %d of %d seeds (first seeds: %v)\n"+
		"counterexample: seed %d (replay: %sLEADER_SIM_SEED=%d go test -run TestSimulationReplay -v ./leader)\n"+
		"scenario: %v\n%s\nlast events before the violation:\n%s",
		k, len(bad), r.seeds, shown, seed, simEnvHint(), seed, p, r.first[k], strings.Join(replay(seed, p, k, 120), "\n"))
}

// TestSimAtMostOneReadWriteLeader: at no instant are two electors in Mode
// LeadingReadWrite, across all terms.
func TestSimAtMostOneReadWriteLeader(t *testing.T) { requireProperty(t, vRWOverlap) }

// TestSimNoReadOnlyLeaderBesideReadWrite: a read-only leader needs half of
// the members' acks, a read-write one more than half, so the two cannot
// hold leases at one instant either.
func TestSimNoReadOnlyLeaderBesideReadWrite(t *testing.T) { requireProperty(t, vRWWithRO) }

// TestSimOneReadWriteWinnerPerTerm: no two electors win LeadingReadWrite
// for the same term.
func TestSimOneReadWriteWinnerPerTerm(t *testing.T) { requireProperty(t, vTermTwoRW) }

// TestSimNoOtherWinnerOfReadWriteTerm: a term won read-write (more than
// half of the votes) has no read-only winner (half of them) either.
func TestSimNoOtherWinnerOfReadWriteTerm(t *testing.T) { requireProperty(t, vTermRWAndRO) }

// TestSimReadLeasesEndBeforeNewLeader: when an elector wins read-write at
// E, every read lease granted before E by a leader of an older term has
// ended by E, or by SwitchAllowedAt() when the election followed a resign.
func TestSimReadLeasesEndBeforeNewLeader(t *testing.T) { requireProperty(t, vReadLease) }

// TestSimLiveness: once the faults stop, within 10 dead-afters the highest
// ID leads read-write, everyone follows it in its term, and it stays so.
func TestSimLiveness(t *testing.T) {
	requireProperty(t, vLiveness)
	requireProperty(t, vRunaway)
}

// TestSimFaultFree checks liveness from a cold start of every size, and
// that a fault-free cluster needs no more than a couple of terms.
func TestSimFaultFree(t *testing.T) {
	for n := 1; n <= 7; n++ {
		p := simSeedParams(uint64(n))
		p.n, p.faultFor = n, 0
		p.cfg = Config{DeadAfter: p.cfg.DeadAfter}.WithDefaults() // default leases
		s := newSim(uint64(n), p)
		s.run()
		for k, msg := range s.violations {
			if msg != "" {
				t.Errorf("%d nodes, no faults: %v: %s\n%s", n, violationKind(k), msg, strings.Join(replay(uint64(n), p, violationKind(k), 60), "\n"))
			}
		}
		if !s.stable() {
			t.Errorf("%d nodes: not stable at the end: %s", n, s.describe())
			continue
		}
		if s.elections > 2 {
			t.Errorf("%d nodes: %d elections without any fault", n, s.elections)
		}
		// Elected within a few dead-afters of the cold start (every node
		// waits dead-after before voting).
		if d := s.now.Sub(s.start); d > 6*p.cfg.DeadAfter+p.stableFor {
			t.Errorf("%d nodes: stable only after %v", n, d-p.stableFor)
		}
	}
}

// TestSimCheckerCatchesBrokenLeases makes sure the checkers are not blind:
// leases longer than dead-after (which Validate rejects) must show up as
// overlapping read-write leaders, and over-long read leases as reads served
// after a newer leader's election, under the same kind of faults. So must a
// driver that grants read leases without telling the elector
// (NoteLeaseGranted), with valid leases.
func TestSimCheckerCatchesBrokenLeases(t *testing.T) {
	cases := []struct {
		name    string
		ll, rl  time.Duration // in dead-afters/10
		unnoted bool
		seeds   uint64
		kind    violationKind
		want    string
	}{
		{"leader lease of 4 dead-afters", 40, 4, false, 100, vRWOverlap, ""},
		{"read lease of 4 dead-afters", 4, 40, false, 100, vReadLease, "(another node)"},
		{"grants not noted (valid leases of 1/10 and 7/10)", 1, 7, true, 1000, vReadLease, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= c.seeds; seed++ {
				p := simSeedParams(seed)
				p.cfg.LeaderLease, p.cfg.ReadLease = p.cfg.DeadAfter*c.ll/10, p.cfg.DeadAfter*c.rl/10
				p.unnotedGrants = c.unnoted
				p.pauseW, p.partitionW, p.restartAfterVoteP = 3, 3, 0
				s := newSim(seed, p)
				s.run()
				if msg := s.violations[c.kind]; msg != "" && strings.Contains(msg, c.want) {
					t.Logf("seed %d: %s", seed, msg)
					return
				}
			}
			t.Fatalf("no violation of %q found: the checker is blind", c.kind)
		})
	}
}

// TestSimulationReplay prints the whole trace of one seed of the property
// tests: LEADER_SIM_SEED=429 go test -run TestSimulationReplay -v ./leader
// Without LEADER_SIM_SEED it replays seed 1 and checks that tracing changes
// nothing: the counterexamples printed are those of the untraced runs.
func TestSimulationReplay(t *testing.T) {
	seed, err := strconv.ParseUint(os.Getenv("LEADER_SIM_SEED"), 10, 64)
	chosen := err == nil
	if !chosen {
		seed = 1
	}
	p := simSeedParams(seed)
	s := newSim(seed, p)
	s.trace, s.stopOn = true, numViolationKinds // never stop early
	s.run()
	if chosen {
		t.Logf("seed %d: %v\n%s", seed, p, strings.Join(s.lines, "\n"))
	}
	for k, msg := range s.violations {
		if msg != "" {
			t.Errorf("%v: %s", violationKind(k), msg)
		}
	}
	plain := newSim(seed, p)
	plain.run()
	if plain.events != s.events || plain.violations != s.violations || !plain.now.Equal(s.now) || len(s.lines) == 0 {
		t.Errorf("seed %d: the traced run differs from the plain one: %d events to %v, traced %d events to %v (%d lines)",
			seed, plain.events, plain.now.Sub(plain.start), s.events, s.now.Sub(s.start), len(s.lines))
	}
}
