package wire

import (
	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/shard"
)

// Message type numbers. Append only; never renumber.
const (
	TypeError             Type = 1
	TypeOK                Type = 2
	TypeHello             Type = 3
	TypeHelloResp         Type = 4
	TypeHeartbeat         Type = 5
	TypeHeartbeatAck      Type = 6
	TypeVote              Type = 7
	TypeVoteResp          Type = 8
	TypeResign            Type = 9
	TypePreempt           Type = 10
	TypeJoin              Type = 11
	TypeLeave             Type = 12
	TypeInstall           Type = 13
	TypeInstallAck        Type = 14
	TypeGetState          Type = 15
	TypeState             Type = 16
	TypeFill              Type = 17
	TypePull              Type = 18
	TypeChunk             Type = 19
	TypeReplicate         Type = 20
	TypeReplicateAck      Type = 21
	TypeRead              Type = 22
	TypeReadResp          Type = 23
	TypeForward           Type = 24
	TypeWriteResult       Type = 25
	TypeList              Type = 26
	TypeListResp          Type = 27
	TypeDigests           Type = 28
	TypeDigestsResp       Type = 29
	TypeClusterReq        Type = 30
	TypeClusterInfo       Type = 31
	TypeSummary           Type = 32
	TypeSummaryResp       Type = 33
	TypeFetch             Type = 34
	TypeRepair            Type = 35
	TypePurge             Type = 36
	TypeEvents            Type = 37
	TypeReplicateBatch    Type = 38
	TypeReplicateBatchAck Type = 39
	TypeReadBatch         Type = 40
	TypeReadBatchResp     Type = 41
	TypeForwardBatch      Type = 42
	TypeForwardBatchResp  Type = 43
)

// registry builds an empty message for each known type. It is never
// written after initialisation.
var registry = map[Type]func() Message{
	TypeError:             func() Message { return new(ErrorMsg) },
	TypeOK:                func() Message { return new(OK) },
	TypeHello:             func() Message { return new(Hello) },
	TypeHelloResp:         func() Message { return new(HelloResp) },
	TypeHeartbeat:         func() Message { return new(Heartbeat) },
	TypeHeartbeatAck:      func() Message { return new(HeartbeatAck) },
	TypeVote:              func() Message { return new(Vote) },
	TypeVoteResp:          func() Message { return new(VoteResp) },
	TypeResign:            func() Message { return new(Resign) },
	TypePreempt:           func() Message { return new(Preempt) },
	TypeJoin:              func() Message { return new(Join) },
	TypeLeave:             func() Message { return new(Leave) },
	TypeInstall:           func() Message { return new(Install) },
	TypeInstallAck:        func() Message { return new(InstallAck) },
	TypeGetState:          func() Message { return new(GetState) },
	TypeState:             func() Message { return new(State) },
	TypeFill:              func() Message { return new(Fill) },
	TypePull:              func() Message { return new(Pull) },
	TypeChunk:             func() Message { return new(Chunk) },
	TypeReplicate:         func() Message { return new(Replicate) },
	TypeReplicateAck:      func() Message { return new(ReplicateAck) },
	TypeRead:              func() Message { return new(Read) },
	TypeReadResp:          func() Message { return new(ReadResp) },
	TypeForward:           func() Message { return new(Forward) },
	TypeWriteResult:       func() Message { return new(WriteResult) },
	TypeList:              func() Message { return new(List) },
	TypeListResp:          func() Message { return new(ListResp) },
	TypeDigests:           func() Message { return new(Digests) },
	TypeDigestsResp:       func() Message { return new(DigestsResp) },
	TypeClusterReq:        func() Message { return new(ClusterReq) },
	TypeClusterInfo:       func() Message { return new(ClusterInfo) },
	TypeSummary:           func() Message { return new(Summary) },
	TypeSummaryResp:       func() Message { return new(SummaryResp) },
	TypeFetch:             func() Message { return new(Fetch) },
	TypeRepair:            func() Message { return new(Repair) },
	TypePurge:             func() Message { return new(Purge) },
	TypeEvents:            func() Message { return new(Events) },
	TypeReplicateBatch:    func() Message { return new(ReplicateBatch) },
	TypeReplicateBatchAck: func() Message { return new(ReplicateBatchAck) },
	TypeReadBatch:         func() Message { return new(ReadBatch) },
	TypeReadBatchResp:     func() Message { return new(ReadBatchResp) },
	TypeForwardBatch:      func() Message { return new(ForwardBatch) },
	TypeForwardBatchResp:  func() Message { return new(ForwardBatchResp) },
}

func (*ErrorMsg) WireType() Type          { return TypeError }
func (*OK) WireType() Type                { return TypeOK }
func (*Hello) WireType() Type             { return TypeHello }
func (*HelloResp) WireType() Type         { return TypeHelloResp }
func (*Heartbeat) WireType() Type         { return TypeHeartbeat }
func (*HeartbeatAck) WireType() Type      { return TypeHeartbeatAck }
func (*Vote) WireType() Type              { return TypeVote }
func (*VoteResp) WireType() Type          { return TypeVoteResp }
func (*Resign) WireType() Type            { return TypeResign }
func (*Preempt) WireType() Type           { return TypePreempt }
func (*Join) WireType() Type              { return TypeJoin }
func (*Leave) WireType() Type             { return TypeLeave }
func (*Install) WireType() Type           { return TypeInstall }
func (*InstallAck) WireType() Type        { return TypeInstallAck }
func (*GetState) WireType() Type          { return TypeGetState }
func (*State) WireType() Type             { return TypeState }
func (*Fill) WireType() Type              { return TypeFill }
func (*Pull) WireType() Type              { return TypePull }
func (*Chunk) WireType() Type             { return TypeChunk }
func (*Replicate) WireType() Type         { return TypeReplicate }
func (*ReplicateAck) WireType() Type      { return TypeReplicateAck }
func (*Read) WireType() Type              { return TypeRead }
func (*ReadResp) WireType() Type          { return TypeReadResp }
func (*Forward) WireType() Type           { return TypeForward }
func (*WriteResult) WireType() Type       { return TypeWriteResult }
func (*List) WireType() Type              { return TypeList }
func (*ListResp) WireType() Type          { return TypeListResp }
func (*Digests) WireType() Type           { return TypeDigests }
func (*DigestsResp) WireType() Type       { return TypeDigestsResp }
func (*ClusterReq) WireType() Type        { return TypeClusterReq }
func (*ClusterInfo) WireType() Type       { return TypeClusterInfo }
func (*Summary) WireType() Type           { return TypeSummary }
func (*SummaryResp) WireType() Type       { return TypeSummaryResp }
func (*Fetch) WireType() Type             { return TypeFetch }
func (*Repair) WireType() Type            { return TypeRepair }
func (*Purge) WireType() Type             { return TypePurge }
func (*Events) WireType() Type            { return TypeEvents }
func (*ReplicateBatch) WireType() Type    { return TypeReplicateBatch }
func (*ReplicateBatchAck) WireType() Type { return TypeReplicateBatchAck }
func (*ReadBatch) WireType() Type         { return TypeReadBatch }
func (*ReadBatchResp) WireType() Type     { return TypeReadBatchResp }
func (*ForwardBatch) WireType() Type      { return TypeForwardBatch }
func (*ForwardBatchResp) WireType() Type  { return TypeForwardBatchResp }

// Member is a node as the cluster knows it. Incarnation changes every time
// the node's process starts, so a restarted (empty) node is told apart from
// the one that held its buckets before.
type Member struct {
	ID          shard.NodeID `msgpack:"i"`
	Incarnation uint64       `msgpack:"n"`
	Peer        string       `msgpack:"p"`
	HTTP        string       `msgpack:"h"`
	// Name is the node's --name, for people (empty: none given).
	Name string `msgpack:"nm,omitempty"`
}

// ClusterState is what a leader decides and every node installs: the
// members and the placement table, numbered by the table's epoch.
type ClusterState struct {
	Term     uint64       `msgpack:"t"`
	Leader   shard.NodeID `msgpack:"l"`
	Members  []Member     `msgpack:"m"`
	Table    shard.Table  `msgpack:"b"`
	Replicas int          `msgpack:"r"`
}

// Epoch returns the state's table epoch (0 for no state).
func (s *ClusterState) Epoch() uint64 {
	if s == nil {
		return 0
	}
	return s.Table.Epoch
}

// Hello introduces a node to an address from --join.
type Hello struct {
	Self    Member `msgpack:"s"`
	Buckets int    `msgpack:"b"`
}

// HelloResp answers Hello with the responder's identity and what it knows:
// the leader it follows, its installed epoch and that state's members, and
// every node it knows.
type HelloResp struct {
	Self    Member         `msgpack:"s"`
	Leader  shard.NodeID   `msgpack:"l"`
	Epoch   uint64         `msgpack:"e"`
	Members []Member       `msgpack:"m"`
	Cluster []shard.NodeID `msgpack:"c,omitempty"`
}

// Heartbeat is sent by every node to every member each heartbeat interval.
// Its round trip proves liveness; between a leader and a follower it also
// carries the leader's lease and the follower's read lease.
type Heartbeat struct {
	Self      Member       `msgpack:"s"`
	Leader    shard.NodeID `msgpack:"l"`           // whom the sender follows (itself when leading)
	Leading   uint8        `msgpack:"r"`           // 0 follower, 1 read-only leader, 2 leader
	Epoch     uint64       `msgpack:"e"`           // the sender's installed epoch
	Committed uint64       `msgpack:"c"`           // the newest epoch the sender knows committed
	Keys      int64        `msgpack:"k"`           // live keys the sender holds
	InSync    bool         `msgpack:"y"`           // the sender holds every bucket it is assigned
	Leaving   bool         `msgpack:"v,omitempty"` // the sender is handing off its buckets to leave
	// Leftover lists the buckets whose data the sender recovered from its
	// data directory but does not hold now: placing them back there costs
	// only what changed meanwhile.
	Leftover []int `msgpack:"o,omitempty"`
	// Full says the sender holds its --max-memory: the leader refuses
	// writes that would grow its buckets.
	Full bool `msgpack:"f,omitempty"`
	// Batches says the sender takes ReplicateBatch. A node that does not
	// say so (an older build, during a rolling upgrade) gets its writes
	// one Replicate at a time.
	Batches bool `msgpack:"b,omitempty"`
	// ReadBatches says the sender serves ReadBatch. A node that does not
	// say so is sent its reads one Read at a time.
	ReadBatches bool `msgpack:"rb,omitempty"`
	// ForwardBatches says the sender, as leader, serves ForwardBatch. A
	// leader that does not say so is forwarded writes one at a time.
	ForwardBatches bool `msgpack:"fb,omitempty"`
}

// HeartbeatAck answers a Heartbeat with the responder's own view. Lease is
// set when a leader grants the sender a read lease for its epoch.
type HeartbeatAck struct {
	Heartbeat
	Lease bool `msgpack:"g"`
}

// Vote asks for a vote (or, with PreVote, whether a vote would be given)
// for Term. The frame's header carries the sender's current term.
type Vote struct {
	Term        uint64 `msgpack:"t"`
	PreVote     bool   `msgpack:"p"`
	Incarnation uint64 `msgpack:"n"`
	Epoch       uint64 `msgpack:"e"`
}

// VoteResp answers Vote. A voter sends its installed state so that a new
// leader starts from the newest table a majority holds.
type VoteResp struct {
	Granted bool   `msgpack:"g"`
	Reason  string `msgpack:"w,omitempty"`
	// AfterResign is set when the voter votes because the previous leader
	// resigned (rather than fell silent).
	AfterResign bool          `msgpack:"x,omitempty"`
	State       *ClusterState `msgpack:"s,omitempty"`
	Members     []Member      `msgpack:"m,omitempty"`
}

// Resign tells members that the sender stops leading its term.
type Resign struct{}

// Preempt asks the leader to resign in favour of the sender, a higher ID.
type Preempt struct{}

// Join asks the leader to add (or re-add, with a new incarnation) a member.
type Join struct {
	Member  Member `msgpack:"m"`
	Buckets int    `msgpack:"b"`
}

// Leave tells the leader that a member is leaving for good: the sender
// itself, or with Remove a dead member that will not come back (jumpkv
// member remove), which the leader takes out only if it sees it dead too.
type Leave struct {
	ID     shard.NodeID `msgpack:"i"`
	Remove bool         `msgpack:"r,omitempty"`
}

// Install gives a node a cluster state to adopt.
type Install struct {
	State ClusterState `msgpack:"s"`
}

// InstallAck confirms the epoch a node has installed.
type InstallAck struct {
	Epoch uint64 `msgpack:"e"`
}

// GetState asks a leader for its cluster state.
type GetState struct{}

// State answers GetState.
type State struct {
	State ClusterState `msgpack:"s"`
}

// Fill tells a node to copy buckets from their current holders before a
// new table (Epoch) makes it a replica of them.
type Fill struct {
	Epoch   uint64       `msgpack:"e"`
	Buckets []FillBucket `msgpack:"b"`
}

// FillBucket is one bucket to copy and the members to copy it from. Fresh
// means the node's own copy, if any, is not counted on (it was not a holder
// in the leader's view): it is discarded before copying.
type FillBucket struct {
	Bucket  int      `msgpack:"b"`
	Sources []Member `msgpack:"s"`
	Fresh   bool     `msgpack:"f,omitempty"`
}

// Pull asks a holder for a bucket's entries with keys after After, in key
// order, in chunks of at most about MaxBytes.
type Pull struct {
	Bucket      int    `msgpack:"b"`
	After       string `msgpack:"a"`
	MaxBytes    int    `msgpack:"x"`
	Incarnation uint64 `msgpack:"n"` // the incarnation the holder must have
}

// Chunk answers Pull. More is set when entries after the last one remain.
type Chunk struct {
	Entries []kv.Entry `msgpack:"e"`
	More    bool       `msgpack:"m"`
}

// List asks a node for its live keys in the given buckets, in byte order,
// with Prefix, after After, at most Limit of them.
type List struct {
	Buckets []int  `msgpack:"b"`
	Prefix  string `msgpack:"p"`
	After   string `msgpack:"a"`
	Limit   int    `msgpack:"l"`
}

// ListResp answers List. More is set when keys beyond the last remain.
type ListResp struct {
	Keys []string `msgpack:"k"`
	More bool     `msgpack:"m"`
}

// Digests asks a node for the digests of some buckets.
type Digests struct {
	Buckets []int `msgpack:"b"`
}

// DigestsResp answers Digests in the order asked.
type DigestsResp struct {
	Digests []uint64 `msgpack:"d"`
}

// ClusterReq asks the leader for the cluster overview.
type ClusterReq struct{}

// ClusterInfo is the cluster overview served at /v1/cluster.
type ClusterInfo struct {
	Leader   shard.NodeID `msgpack:"l" json:"leader"`
	Term     uint64       `msgpack:"t" json:"term"`
	Epoch    uint64       `msgpack:"e" json:"epoch"`
	Replicas int          `msgpack:"r" json:"replicas"`
	// ReplicasWanted is the leader's --replicas when fewer copies are in
	// effect (too few live members); 0 otherwise.
	ReplicasWanted int        `msgpack:"rw,omitempty" json:"replicas_wanted,omitempty"`
	Buckets        int        `msgpack:"b" json:"buckets"`
	Nodes          []NodeInfo `msgpack:"n" json:"nodes"`
	// Mode is the leader's: read-write, read-only or no-quorum ("" when
	// no leader is known).
	Mode string `msgpack:"m,omitempty" json:"mode,omitempty"`
	// Warnings say, for a person, what is not as configured or not fully
	// working.
	Warnings []string `msgpack:"w,omitempty" json:"warnings,omitempty"`
}

// NodeInfo is one node in ClusterInfo.
type NodeInfo struct {
	ID             shard.NodeID `msgpack:"i" json:"id"`
	Name           string       `msgpack:"nm,omitempty" json:"name,omitempty"`
	HTTP           string       `msgpack:"h" json:"http"`
	Peer           string       `msgpack:"p" json:"peer"`
	State          string       `msgpack:"s" json:"state"`
	Role           string       `msgpack:"r" json:"role"`
	BucketsPrimary int          `msgpack:"bp" json:"buckets_primary"`
	BucketsBackup  int          `msgpack:"bb" json:"buckets_backup"`
	Keys           int64        `msgpack:"k" json:"keys"`
}

// Summary asks a replica for the key versions of a bucket (anti-entropy).
type Summary struct {
	Bucket int    `msgpack:"b"`
	Since  uint64 `msgpack:"s"`
}

// SummaryResp answers Summary: every entry's key, version and tombstone
// flag, sorted by key.
type SummaryResp struct {
	Digest  uint64          `msgpack:"d"`
	Entries []kv.KeyVersion `msgpack:"e"`
}

// Fetch asks a replica for some entries of a bucket (tombstones included).
type Fetch struct {
	Bucket int      `msgpack:"b"`
	Since  uint64   `msgpack:"s"`
	Keys   []string `msgpack:"k"`
}

// Repair gives a replica entries of a bucket it lacks, from the replica
// that serves the bucket's reads; each applies if newer.
type Repair struct {
	Bucket  int        `msgpack:"b"`
	Since   uint64     `msgpack:"s"`
	Entries []kv.Entry `msgpack:"e"`
}

// Purge removes tombstones that every replica of a bucket has held for at
// least one anti-entropy round: each key's tombstone goes only if it still
// has exactly the given version.
type Purge struct {
	Bucket int             `msgpack:"b"`
	Since  uint64          `msgpack:"s"`
	Keys   []kv.KeyVersion `msgpack:"k"`
}
