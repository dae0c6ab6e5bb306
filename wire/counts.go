package wire

import (
	"fmt"
	"math"
	"strings"

	"github.com/tinylib/msgp/msgp"
)

// MaxBatchItems bounds the writes of a ReplicateBatch, the reads of a
// ReadBatch and the answers to either. Decode refuses a body that claims
// more before either decoder allocates for them: checkBody holds an array
// to one element per byte left, but an element of these takes about a
// hundred bytes of memory, so a 16 MB frame of one-byte elements would
// cost gigabytes.
const MaxBatchItems = 1024

// countedField is a message's array field whose length Decode bounds:
// at most max elements, and at most one per minBytes bytes of the body
// after the array's header (a real element is never encoded in fewer).
// Its path is its msgpack key, or the keys down to it through nested
// maps ("s/m": the members of the state in field s).
type countedField struct {
	path     []string
	max      int
	minBytes int // 0: no bound by size
}

// counted makes a countedField of a path written "k" or "k/k2".
func counted(path string, max, minBytes int) countedField {
	return countedField{strings.Split(path, "/"), max, minBytes}
}

// Entries of a Repair, and the keys of a Purge or a SummaryResp, are sent
// in lists as long as a bucket's (a SummaryResp carries every key of its
// bucket), so no count bounds them but the frame's: a kv.Entry is never
// encoded in fewer than 13 bytes and a kv.KeyVersion in fewer than 16
// (the fields without omitempty), a key of a Fetch in fewer than 2 (keys
// are not empty). At one element per minEntryBytes, a 16 MB frame decodes
// to at most about 120 MB of entries, where one-byte elements would make
// 1.4 GB. Members (never fewer than 13 bytes: i, n, p, h), a Fill's
// buckets (7: b, s) and ClusterInfo's nodes (more than 16) are bounded
// likewise.
const (
	minEntryBytes      = 12
	minKeyBytes        = 2
	minMemberBytes     = 12
	minFillBucketBytes = 6
	minNodeInfoBytes   = 12
)

// MaxEvents bounds the events of one Events message (the leader sends at
// most 256), and MaxChunkEntries the entries of one Chunk (a fill's
// chunks are bounded in bytes: a real entry takes tens of bytes).
const (
	MaxEvents       = 4096
	MaxChunkEntries = 1 << 20
)

// members bounds a list of members by size only (a cluster's members are
// few, but no fixed count is promised).
func members(path string) countedField { return counted(path, math.MaxInt32, minMemberBytes) }

var countedFields = map[Type][]countedField{
	TypeReplicateBatch:    {counted("i", MaxBatchItems, 0)},
	TypeReplicateBatchAck: {counted("r", MaxBatchItems, 0)},
	TypeReadBatch:         {counted("r", MaxBatchItems, 0)},
	TypeReadBatchResp:     {counted("r", MaxBatchItems, 0)},
	TypeEvents:            {counted("e", MaxEvents, 0)},
	TypeChunk:             {counted("e", MaxChunkEntries, 0)},
	TypeRepair:            {counted("e", MaxChunkEntries, minEntryBytes)},
	TypeSummaryResp:       {counted("e", math.MaxInt32, minEntryBytes)},
	TypePurge:             {counted("k", math.MaxInt32, minEntryBytes)},
	TypeFetch:             {counted("k", math.MaxInt32, minKeyBytes)},
	TypeFill:              {counted("b", math.MaxInt32, minFillBucketBytes)},
	TypeInstall:           append(stateLists("s"), members("s/m")),
	TypeState:             append(stateLists("s"), members("s/m")),
	TypeVoteResp:          append(stateLists("s"), members("m"), members("s/m")),
	TypeHelloResp:         {members("m")},
	TypeClusterInfo:       {counted("n", math.MaxInt32, minNodeInfoBytes)},
}

// MaxBuckets is the most buckets a cluster may have (--buckets).
const MaxBuckets = 1 << 20

// stateLists bounds the lists of the placement table of the state at
// path: a bucket's replica list may be empty (a bucket with no replica),
// so only the number of buckets bounds them.
func stateLists(path string) []countedField {
	return []countedField{counted(path+"/b/b", MaxBuckets, 0), counted(path+"/b/s", MaxBuckets, 0)}
}

// checkCounts refuses a body of type t with a counted field (every
// occurrence of its path) that claims more elements than its bounds
// allow. A body it cannot follow is left to the decoders, which refuse it.
func checkCounts(t Type, body []byte) error {
	for _, f := range countedFields[t] {
		if err := checkCount(t, f, f.path, body); err != nil {
			return err
		}
	}
	return nil
}

// checkCount checks field f, found at path in the map that starts body.
func checkCount(t Type, f countedField, path []string, body []byte) error {
	n, rest, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return nil
	}
	for range n {
		var key []byte
		if key, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
			return nil
		}
		switch {
		case string(key) != path[0]:
		case len(path) > 1 && msgp.NextType(rest) == msgp.MapType:
			if err := checkCount(t, f, path[1:], rest); err != nil {
				return err
			}
		case len(path) == 1 && msgp.NextType(rest) == msgp.ArrayType:
			size, after, err := msgp.ReadArrayHeaderBytes(rest)
			switch {
			case err != nil:
			case int64(size) > int64(f.max):
				return fmt.Errorf("%w: type %d: %d elements in %q, at most %d", ErrBadFrame, t, size, strings.Join(f.path, "/"), f.max)
			case f.minBytes > 0 && int64(size)*int64(f.minBytes) > int64(len(after)):
				return fmt.Errorf("%w: type %d: %d elements in %q in %d bytes: an element takes at least %d",
					ErrBadFrame, t, size, strings.Join(f.path, "/"), len(after), f.minBytes)
			}
		}
		if rest, err = msgp.Skip(rest); err != nil {
			return nil
		}
	}
	return nil
}
