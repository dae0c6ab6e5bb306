package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/internal/ratelog"
	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/persist"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// Node is one running jumpkv node. Build it with New, serve its peers with
// a transport whose handler is the Node, then Run it.
//
// Its state is grouped by what guards it. The groups are embedded, so a
// field reads as n.state, but each group's comment says which lock guards
// every field in it.
//
// Lock order. A goroutine holding one of these takes only locks further
// down the list, never one above it (lockrank.go checks this under the
// lockcheck build tag):
//
//  1. a key lock (writePath.keyLocks), held across a whole leader write;
//     writes carried out together (writemany.go) hold several, taken
//     only if free (tryLockAll), so no holder waits for another;
//  2. a bucket gate (writePath.gates), entered within the key lock (the
//     writes carried out together enter several, only if open);
//  3. a bucket's merge lock (syncLocks), held across a merge;
//  4. mu (the clusterView below); never held across a network call;
//  5. streamMu (followerStream);
//  6. a leaderStream's mu, then an eventSender's mu (events.go);
//  7. leaves, which take no other lock: the watch hub's, inDoubt's, a
//     gate's own, gmu, a replica batcher's (replbatch.go) and the
//     store's bucket locks.
type Node struct {
	cfg          Config // immutable after New
	log          *slog.Logger
	self         wire.Member          // this process as members see it; immutable
	store        *store.Store         // safe for concurrent use (its own bucket locks)
	persist      *persist.Durable     // the store's log with DataDir (nil: memory only); safe for concurrent use
	fsyncSeconds prometheus.Histogram // the log's fsync durations (with DataDir)
	hub          *hub                 // this node's watchers; safe for concurrent use
	metrics      *metrics             // safe for concurrent use
	rareLog      *ratelog.Logger      // lines a peer can provoke at will, or that persist: once a minute per kind
	tr           atomic.Pointer[transportBox]
	heap         heapGauge       // the Go heap against Config.MaxHeap; safe for concurrent use
	batchers     replBatchers    // the leader's queues of writes to each replica; safe for concurrent use
	readBatchers readBatchers    // queues of reads to each primary; safe for concurrent use
	fwdBatchers  forwardBatchers // queues of client writes to forward to the leader; safe for concurrent use

	// mu guards clusterView, all of it, and nothing else.
	mu rankedMutex
	clusterView

	writePath                 // the leader's write path: its own locks, see there
	followerStream            // guarded by streamMu
	syncLocks      []chanLock // one merge of a bucket at a time (sync.go); immutable slice
	lifecycle                 // guarded by gmu
}

// clusterView is what this node knows of the cluster and its own part in
// it. Every field is guarded by Node.mu.
type clusterView struct {
	el  *leader.Elector // the election state machine
	ctx context.Context // the node's run context; set by Run

	// Placement: the installed table and this node's copies.
	state      *wire.ClusterState // installed state; nil before the first
	committed  uint64             // highest epoch known to be committed
	maxEpoch   uint64             // highest epoch seen anywhere
	held       []bool             // buckets whose data this process holds
	fillEpoch  []uint64           // the epoch each bucket was last copied for
	fillLatest []fillStamp        // the latest copy of each bucket started (fill.go)
	fills      []*fillRun         // the copy of each bucket in progress, if any
	leftover   []bool             // data recovered from disk, kept a while if unassigned (durable.go)
	restarted  time.Time          // when this node recovered from its data directory
	lead       *leaderState       // non-nil while this node leads

	// Membership: the other nodes and what they last said of themselves.
	known         map[shard.NodeID]wire.Member
	learnedAt     map[shard.NodeID]time.Time // when each known node was last learned of
	peerStats     map[shard.NodeID]peerStat
	inflightBeats map[shard.NodeID]bool // a heartbeat to it awaits its answer
	formed        bool                  // formation or joining is over: elections may start
	campaigning   bool                  // a campaign is running (election.go)
	fetching      bool                  // a fetch of the leader's state is running
	leaving       bool                  // this node is handing off its buckets to leave

	// Read-side syncing (sync.go): the authority each bucket was last
	// merged under, whether that merge reached every co-replica, and the
	// tombstones seen on every replica in the last round.
	synced     []syncKey
	syncedAll  []bool
	tombstones []map[string]replication.Tombstone
}

// writePath is the leader's write path (used only while leading). Its
// fields guard themselves: keyLocks and gates are locks, the rest atomic
// or internally locked; the slices never change after New.
type writePath struct {
	seq       atomic.Uint64   // the sequence of the current term's versions
	keyLocks  []chanLock      // writes of a key run one at a time (striped)
	writing   writeStripes    // one per key lock: a write in flight (doubt.go)
	doubt     inDoubt         // keys whose last write failed (doubt.go)
	gates     []gate          // per bucket: closed while a placement change moves it
	fullDisks fullReplicas    // replicas that just refused a write for lack of storage
	deadlines sharedDeadlines // the contexts that bound leader writes and reads' peer calls
}

// followerStream is this node's position in the leader's change stream
// (events.go), guarded by streamMu.
type followerStream struct {
	streamMu   rankedMutex
	streamTerm uint64
	streamNext uint64
}

// lifecycle owns the node's goroutines: gmu guards stopping and wg.Add
// against Run's final wg.Wait. The kick channels are immutable and never
// block a sender.
type lifecycle struct {
	gmu      sync.Mutex
	stopping bool
	wg       sync.WaitGroup
	kick     chan struct{} // wakes the reconfigurator
	syncKick chan struct{} // wakes anti-entropy
}

// transportBox lets an interface live in an atomic.Pointer.
type transportBox struct{ t transport.Transport }

// peerStat is what a member last reported of itself in a heartbeat.
type peerStat struct {
	keys     int64
	epoch    uint64
	inSync   bool
	inc      uint64
	leftover []int // buckets it recovered from disk and does not hold
	full     bool  // it holds its --max-memory
	batches  bool  // it takes wire.ReplicateBatch
	reads    bool  // it serves wire.ReadBatch
	forwards bool  // as leader, it serves wire.ForwardBatch
}

// leaderState is the leader's bookkeeping for its term.
type leaderState struct {
	term    uint64
	ctx     context.Context // ends with the leadership
	cancel  context.CancelFunc
	stream  *leaderStream
	grants  map[shard.NodeID]time.Time // last read lease granted to each member
	pending uint64                     // epoch being installed, 0 when none
	joins   map[shard.NodeID]wire.Member
	leaving map[shard.NodeID]bool // members handing off to leave
	// handover is set once this leader is about to resign: new writes
	// wait for the successor (Write holds them) while those in flight,
	// counted by inflight, finish.
	handover bool
	inflight atomic.Int64
}

// keyStripes is the number of key locks (and write stripes) writes of
// different keys are spread over: enough that writes in flight rarely
// share one (a pipeline's writes carried out together skip a key whose
// stripe is taken, writemany.go; 800 writes in flight took over half of
// 1,024 stripes), at about 1 MB per node.
const keyStripes = 8192

// New builds a node from cfg (which must Validate).
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	explicitID := cfg.ID != 0
	cfg = cfg.withDerived()
	mem := store.New(cfg.Buckets)
	var durable *persist.Durable
	var recovered persist.Recovered
	fsyncSeconds := newFsyncHistogram()
	if cfg.DataDir != "" {
		var err error
		observe := func(d time.Duration) { fsyncSeconds.Observe(d.Seconds()) }
		if durable, recovered, err = openData(&cfg, explicitID, mem, observe); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger.With("node", uint64(cfg.ID))
	if cfg.Name != "" {
		log = log.With("name", cfg.Name) // people read names, not 15-digit IDs
	}
	n := &Node{
		cfg:          cfg,
		log:          log,
		store:        mem,
		persist:      durable,
		fsyncSeconds: fsyncSeconds,
		self:         wire.Member{ID: cfg.ID, Incarnation: cfg.Incarnation, Peer: cfg.PeerAddr, HTTP: cfg.HTTPAddr, Name: cfg.Name},
		hub:          newHub(cfg.Watch),
		rareLog:      ratelog.New(log, time.Minute),
		mu:           rankedMutex{rank: rankMu},
		clusterView: clusterView{
			el:            leader.New(cfg.Election, time.Now()),
			ctx:           context.Background(),
			held:          make([]bool, cfg.Buckets),
			fillEpoch:     make([]uint64, cfg.Buckets),
			fillLatest:    make([]fillStamp, cfg.Buckets),
			fills:         make([]*fillRun, cfg.Buckets),
			leftover:      make([]bool, cfg.Buckets),
			known:         map[shard.NodeID]wire.Member{},
			learnedAt:     map[shard.NodeID]time.Time{},
			peerStats:     map[shard.NodeID]peerStat{},
			inflightBeats: map[shard.NodeID]bool{},
			synced:        make([]syncKey, cfg.Buckets),
			syncedAll:     make([]bool, cfg.Buckets),
			tombstones:    make([]map[string]replication.Tombstone, cfg.Buckets),
		},
		writePath: writePath{
			keyLocks:  newChanLocks(keyStripes, rankKeyLock),
			deadlines: sharedDeadlines{timeout: cfg.CallTimeout, grain: deadlineGrain},
			writing:   make(writeStripes, keyStripes),
			gates:     make([]gate, cfg.Buckets),
		},
		syncLocks:      newChanLocks(cfg.Buckets, rankMergeLock),
		followerStream: followerStream{streamMu: rankedMutex{rank: rankStream}},
		lifecycle:      lifecycle{kick: make(chan struct{}, 1), syncKick: make(chan struct{}, 1)},
	}
	n.metrics = newMetrics(n)
	n.batchers.send = n.sendReplicas
	n.readBatchers.send = n.sendReads
	n.fwdBatchers.send = n.sendForwards
	n.known[cfg.ID] = n.self
	n.el.SetMembers([]shard.NodeID{cfg.ID})
	if durable != nil {
		if err := n.restore(recovered); err != nil {
			_ = durable.Close()
			return nil, err
		}
	}
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() shard.NodeID { return n.cfg.ID }

// Config returns the node's configuration with derived fields filled in.
func (n *Node) Config() Config { return n.cfg }

// Store returns the node's local store (for tests and status).
func (n *Node) Store() *store.Store { return n.store }

// Stamp returns this node's ID and current term for outgoing frames. It is
// the transport's Stamp function.
func (n *Node) Stamp() (from, term uint64) { return uint64(n.cfg.ID), n.el.Term() }

func (n *Node) transport() transport.Transport {
	if b := n.tr.Load(); b != nil {
		return b.t
	}
	return nil
}

// Run starts the node's work on tr (whose handler must be this node) and
// blocks until ctx ends and every goroutine it started has stopped.
func (n *Node) Run(ctx context.Context, tr transport.Transport) error {
	if tr == nil {
		return fmt.Errorf("node: no transport")
	}
	n.mu.Lock()
	n.ctx = ctx
	n.mu.Unlock()
	n.tr.Store(&transportBox{tr})
	n.log.Info("node starting", "peer", n.cfg.PeerAddr, "http", n.cfg.HTTPAddr,
		"incarnation", n.cfg.Incarnation, "buckets", n.cfg.Buckets, "join", n.cfg.Join)
	n.goRun(ctx, n.tickLoop)
	n.goRun(ctx, n.discoverLoop)
	n.goRun(ctx, n.reconfigLoop)
	n.goRun(ctx, n.syncLoop)
	n.goRun(ctx, n.hub.run)
	n.goRun(ctx, n.expireLoop)
	if n.persist != nil {
		n.goRun(ctx, n.persist.Run)
	}
	<-ctx.Done()
	n.gmu.Lock()
	n.stopping = true
	n.gmu.Unlock()
	n.wg.Wait()
	if n.persist != nil {
		if err := n.persist.Close(); err != nil {
			n.log.Warn("closing the data directory", "err", err)
		}
	}
	n.log.Info("node stopped")
	return nil
}

// goRun runs f on a goroutine that Run waits for; once the node is
// stopping it runs nothing.
func (n *Node) goRun(ctx context.Context, f func(context.Context)) {
	n.gmu.Lock()
	defer n.gmu.Unlock()
	if n.stopping {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(ctx)
	}()
}

// kickReconfig wakes the reconfigurator without blocking.
func (n *Node) kickReconfig() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// callFor sends msg to the peer at addr (as Node.call does) and returns
// its answer as a *T. An answer of another type is wire.ErrBadFrame,
// naming the request; the envelope carries the responder's ID and term.
func callFor[T any, PT interface {
	*T
	wire.Message
}](ctx context.Context, n *Node, addr string, msg wire.Message) (PT, transport.Envelope, error) {
	env, err := n.call(ctx, addr, msg)
	if err != nil {
		return nil, env, err
	}
	r, ok := env.Msg.(PT)
	if !ok {
		return nil, env, fmt.Errorf("%w: unexpected answer to %T", wire.ErrBadFrame, msg)
	}
	return r, env, nil
}

// call sends msg to a peer with the node's call timeout.
func (n *Node) call(ctx context.Context, addr string, msg wire.Message) (transport.Envelope, error) {
	tr := n.transport()
	if tr == nil {
		return transport.Envelope{}, fmt.Errorf("%w: node not running", wire.ErrUnavailable)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.CallTimeout)
		defer cancel()
	}
	env, err := tr.Call(ctx, addr, msg)
	if env.Msg == nil {
		return env, err
	}
	if aerr := n.admit(env.From, env.Term, env.Msg, time.Now()); aerr != nil {
		n.refused(env.From, env.Msg, aerr)
		return transport.Envelope{}, fmt.Errorf("%w: answer from %s: %v", wire.ErrBadFrame, addr, aerr)
	}
	if env.Term != 0 {
		n.observeTerm(env.Term)
	}
	return env, err
}

// observeTerm takes a term seen on any message.
func (n *Node) observeTerm(term uint64) {
	if term <= n.el.Term() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.observeTermLocked(term)
}

func (n *Node) observeTermLocked(term uint64) {
	was := n.el.Role()
	if n.el.ObserveTerm(term) {
		n.log.Info("stepping down: saw a newer term", "was", was.String(), "term", term)
		n.endLeadershipLocked()
	}
}

// endLeadershipLocked stops this node's leadership: its change stream and
// everything started for the term.
func (n *Node) endLeadershipLocked() {
	if n.lead == nil {
		return
	}
	n.lead.cancel()
	n.lead.stream.stopAll()
	n.lead = nil
}

// memberAddr returns the peer address of a known node.
func (n *Node) memberAddrLocked(id shard.NodeID) string {
	return n.known[id].Peer
}
