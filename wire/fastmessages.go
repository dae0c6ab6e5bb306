package wire

import "github.com/jumpkv/jumpkv/kv"

// The messages of the write and read paths and of the change stream are
// most of the traffic between nodes, and the reflection codec
// (vmihailenco/msgpack) costs several times as much per message as code
// that knows their fields. So the types in this file, and kv.Version and
// kv.Entry inside them, are encoded by code that github.com/tinylib/msgp
// generates from them (fastmessages_gen.go, kv/kv_gen.go): Encode and
// Decode use it for every message that has it. After changing a type
// here, run go generate ./wire ./kv; TestGeneratedCodeUpToDate fails
// while the generated code is stale.
//
// The bytes are msgpack maps keyed by the same msgpack tags as the
// reflection codec's, which reads them, and Decode falls back to the
// reflection decoder for a body the generated decoder refuses (another
// encoder's choices of types), so either codec reads the other's output.
// The generated encoder writes integers in their shortest form and keeps
// a zero IfMatch version (the reflection codec writes 8-byte uint64s and
// drops a zero IfMatch); an empty byte slice decodes as nil in both.

//go:generate go tool msgp -file fastmessages.go -o fastmessages_gen.go -tests=false -io=false

//msgp:tag msgpack

// Replicate applies a write to one replica of a bucket. Since is the
// bucket's assignment epoch the leader planned the write under.
type Replicate struct {
	Bucket int      `msgpack:"b"`
	Since  uint64   `msgpack:"s"`
	Entry  kv.Entry `msgpack:"e"`
}

// ReplicateAck confirms a replica holds the write (or a newer version).
type ReplicateAck struct {
	Applied bool `msgpack:"a"`
}

// ReplicateBatch carries several writes to one replica in one frame. Each
// item is checked and applied as the Replicate it is would be on its own,
// and answered in ReplicateBatchAck's Results, in the same order. The
// leader sends one when several writes to the same replica wait at once
// (their keys differ: a key's writes are never in flight together), so
// that they share one round trip.
type ReplicateBatch struct {
	Items []Replicate `msgpack:"i"`
}

// ReplicateBatchAck answers a ReplicateBatch item by item.
type ReplicateBatchAck struct {
	Results []ReplicateResult `msgpack:"r"`
}

// ReplicateResult is one item's answer: as ReplicateAck when Code is
// empty, else the error (ErrorOf(Code, Message)) it would have got alone.
type ReplicateResult struct {
	Applied bool   `msgpack:"a,omitempty"`
	Code    string `msgpack:"c,omitempty"`
	Message string `msgpack:"m,omitempty"`
}

// Read asks a bucket's primary for a key. With ViaLeader it goes to the
// leader instead, which reads from the primary on its own authority (for a
// primary that has no read lease at the moment). With Acting, a read-only
// leader asks a backup to answer in place of a primary that is down.
type Read struct {
	Bucket    int    `msgpack:"b"`
	Since     uint64 `msgpack:"s"`
	Key       string `msgpack:"k"`
	ViaLeader bool   `msgpack:"l,omitempty"`
	Acting    bool   `msgpack:"a,omitempty"`
	// Raw asks any replica, for the leader, for its stored entry as it is
	// (tombstones included, no lease or merge): a conditional write's read.
	Raw bool `msgpack:"r,omitempty"`
}

// ReadResp answers Read. Found is false for an absent or deleted key.
type ReadResp struct {
	Found bool     `msgpack:"f"`
	Entry kv.Entry `msgpack:"e"`
}

// ReadBatch carries several Reads to one node in one frame. Each is served
// as the Read it is would be on its own, and answered in ReadBatchResp's
// Results, in the same order. A node sends one for the reads of a client's
// pipeline (or MGET) whose buckets that node leads, so that they share one
// round trip. Only plain reads of a primary travel in a batch: never
// ViaLeader, Acting or Raw ones.
type ReadBatch struct {
	Reads []Read `msgpack:"r"`
}

// ReadBatchResp answers a ReadBatch read by read.
type ReadBatchResp struct {
	Results []ReadResult `msgpack:"r"`
}

// ReadResult is one read's answer: as ReadResp when Code is empty, else
// the error (ErrorOf(Code, Message)) it would have got alone.
type ReadResult struct {
	Found   bool     `msgpack:"f,omitempty"`
	Entry   kv.Entry `msgpack:"e"`
	Code    string   `msgpack:"c,omitempty"`
	Message string   `msgpack:"m,omitempty"`
}

// WriteKind says what a client write does.
type WriteKind uint8

// The client writes.
const (
	WritePut    WriteKind = 1 // create or replace
	WriteCreate WriteKind = 2 // create only (POST)
	WriteAppend WriteKind = 3 // append, creating if absent
	WriteDelete WriteKind = 4 // delete
	// WriteExpire sets (TTL or ExpireAt) or, with neither, clears the
	// expiry of a key's current value, which it keeps; 404 if absent.
	WriteExpire WriteKind = 5
)

// WriteOp is a client write as the leader executes it.
type WriteOp struct {
	Kind        WriteKind `msgpack:"o"`
	Key         string    `msgpack:"k"`
	Value       []byte    `msgpack:"v,omitempty"`
	ContentType string    `msgpack:"c,omitempty"`
	// IfMatch, when set, is the version the key must have.
	IfMatch *kv.Version `msgpack:"m,omitempty"`
	// IfNoneMatch requires the key to be absent.
	IfNoneMatch bool `msgpack:"n,omitempty"`
	// IfExists requires the key to exist (If-Match: *).
	IfExists bool `msgpack:"x,omitempty"`
	// TTL, when positive, makes the written value expire that many
	// milliseconds after the leader carries the write out; ExpireAt, when
	// positive, at that Unix millisecond. With neither, a put clears an
	// earlier expiry unless KeepTTL is set; an append always keeps it.
	TTL      int64 `msgpack:"t,omitempty"`
	ExpireAt int64 `msgpack:"e,omitempty"`
	KeepTTL  bool  `msgpack:"p,omitempty"`
	// Expiring marks the delete the expirer sends for an expired value
	// (watchers see it as an expiry).
	Expiring bool `msgpack:"X,omitempty"`
}

// Forward carries a client write from the node that received it to the leader.
type Forward struct {
	Op WriteOp `msgpack:"o"`
}

// WriteResult answers Forward with the new version of the key.
type WriteResult struct {
	Version kv.Version `msgpack:"v"`
}

// ForwardBatch carries several client writes from the node that received
// them to the leader in one frame: writes forwarded at the same time (a
// pipeline's, many clients'), which are concurrent, so the leader may
// carry them out in any order, together. Each is carried out as the
// Forward it would be on its own, and answered in ForwardBatchResp's
// Results, in the same order. Two writes of one key may both travel in a
// batch (two clients'); a client's next write of a key is sent only once
// its previous one is answered.
type ForwardBatch struct {
	Ops []WriteOp `msgpack:"o"`
}

// ForwardBatchResp answers a ForwardBatch write by write.
type ForwardBatchResp struct {
	Results []ForwardResult `msgpack:"r"`
}

// ForwardResult is one write's answer: as WriteResult when Code is empty,
// else the error (ErrorOf(Code, Message)) it would have got alone.
type ForwardResult struct {
	Version kv.Version `msgpack:"v"`
	Code    string     `msgpack:"c,omitempty"`
	Message string     `msgpack:"m,omitempty"`
}

// Events carries the leader's change stream to a node: the events of its
// term numbered First, First+1, ... A node that finds a gap (or Reset set:
// the leader dropped events for it) tells its watchers to re-read.
type Events struct {
	Term   uint64  `msgpack:"t"`
	First  uint64  `msgpack:"f"`
	Reset  bool    `msgpack:"r,omitempty"`
	Events []Event `msgpack:"e"`
}

// Event is one change in the stream. Reset marks a point where changes
// may have been missed (a write whose outcome is unknown, say).
type Event struct {
	Key     string     `msgpack:"k,omitempty"`
	Value   []byte     `msgpack:"v,omitempty"`
	Version kv.Version `msgpack:"n"`
	Deleted bool       `msgpack:"d,omitempty"`
	Reset   bool       `msgpack:"r,omitempty"`
	// Expired marks a deletion of a value that expired.
	Expired bool `msgpack:"x,omitempty"`
	// File marks a put whose value is a file's manifest (Content-Type
	// kv.FileType): watchers are told the file's size, not the manifest.
	File bool `msgpack:"f,omitempty"`
}

// BatchBytes is what the write adds to the bytes of a batch it travels
// in: its key and value.
func (r *Replicate) BatchBytes() int { return len(r.Entry.Key) + len(r.Entry.Value) }
