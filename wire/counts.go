package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tinylib/msgp/msgp"
)

// MaxBatchItems bounds the writes of a ReplicateBatch or a ForwardBatch,
// the reads of a ReadBatch and the answers to each. Decode refuses a body that claims
// more before either decoder allocates for them: checkBody holds an array
// to one element per byte left, but an element of these takes about a
// hundred bytes of memory, so a 16 MB frame of one-byte elements would
// cost gigabytes.
const MaxBatchItems = 1024

// countedField is a message's array field whose length Decode bounds:
// at most max elements, and at most one per minBytes bytes of the list's
// own encoding (a real element is never encoded in fewer).
// Its path is its msgpack key, or the keys down to it through nested
// structs ("s/m": the members of the state in field s), where "*" stands
// for each element of a list ("b/*/s": the sources of each bucket in b).
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
	TypeForwardBatch:      {counted("o", MaxBatchItems, 0)},
	TypeForwardBatchResp:  {counted("r", MaxBatchItems, 0)},
	TypeEvents:            {counted("e", MaxEvents, 0)},
	TypeChunk:             {counted("e", MaxChunkEntries, minEntryBytes)},
	TypeRepair:            {counted("e", MaxChunkEntries, minEntryBytes)},
	TypeSummaryResp:       {counted("e", math.MaxInt32, minEntryBytes)},
	TypePurge:             {counted("k", math.MaxInt32, minEntryBytes)},
	TypeFetch:             {counted("k", math.MaxInt32, minKeyBytes)},
	TypeFill:              {counted("b", math.MaxInt32, minFillBucketBytes), members("b/*/s")},
	TypeInstall:           append(stateLists("s"), members("s/m")),
	TypeState:             append(stateLists("s"), members("s/m")),
	TypeVoteResp:          append(stateLists("s"), members("m"), members("s/m")),
	TypeHelloResp:         {members("m")},
	TypeClusterInfo:       {counted("n", math.MaxInt32, minNodeInfoBytes)},
	// Lists of buckets (8 bytes each decoded, from one byte each).
	TypeList:         {counted("b", MaxBuckets, 0)},
	TypeDigests:      {counted("b", MaxBuckets, 0)},
	TypeDigestsResp:  {counted("d", MaxBuckets, 0)},
	TypeHeartbeat:    {counted("o", MaxBuckets, 0)},
	TypeHeartbeatAck: {counted("o", MaxBuckets, 0)},
	// A listing's keys (16 bytes each decoded; never empty).
	TypeListResp: {counted("k", math.MaxInt32, minKeyBytes)},
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
// allow. Along the way to a counted field, every struct must be a map
// with string keys, as every encoder of this codebase writes them: the
// reflection decoder would also take a struct written as an array of its
// fields, or skip a nil key, and so decode a list the check never saw.
func checkCounts(t Type, body []byte) error {
	for _, f := range countedFields[t] {
		if err := checkStruct(t, f, f.path, body); err != nil {
			return err
		}
	}
	return nil
}

// checkStruct checks field f at path in the struct that starts body (nil
// for an absent one).
func checkStruct(t Type, f countedField, path []string, body []byte) error {
	if msgp.NextType(body) == msgp.NilType {
		return nil
	}
	n, rest, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return fmt.Errorf("%w: type %d: a struct on the way to %q is not a map", ErrBadFrame, t, strings.Join(f.path, "/"))
	}
	for i := range n {
		var key []byte
		if key, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
			return fmt.Errorf("%w: type %d: a key on the way to %q is not a string", ErrBadFrame, t, strings.Join(f.path, "/"))
		}
		if string(key) == path[0] {
			if err := checkValue(t, f, path[1:], rest); err != nil {
				return err
			}
		}
		if i == n-1 {
			break // no key follows: the last value (often the list) need not be walked
		}
		if rest, err = msgp.Skip(rest); err != nil {
			return fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
		}
	}
	return nil
}

// checkValue checks the value that starts body, at the rest of f's path:
// with none left, the counted list itself; "*" stands for each element of
// a list; a key, for a field of the struct the value is.
func checkValue(t Type, f countedField, path []string, body []byte) error {
	switch {
	case len(path) > 0 && path[0] != "*":
		return checkStruct(t, f, path, body)
	case msgp.NextType(body) != msgp.ArrayType:
		return nil // nil; any other type is not a list, and the decoders refuse it
	}
	size, rest, err := msgp.ReadArrayHeaderBytes(body)
	switch {
	case err != nil:
		return fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
	case len(path) > 0: // "*"
		for range size {
			if err := checkValue(t, f, path[1:], rest); err != nil {
				return err
			}
			if rest, err = msgp.Skip(rest); err != nil {
				return fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
			}
		}
	case int64(size) > int64(f.max):
		return fmt.Errorf("%w: %w: type %d: %d elements in %q, at most %d", ErrBadFrame, errTooManyElements,
			t, size, strings.Join(f.path, "/"), f.max)
	case f.minBytes > 0:
		tail, err := msgp.Skip(body)
		if err != nil {
			return fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
		}
		if used := len(rest) - len(tail); int64(size)*int64(f.minBytes) > int64(used) {
			return fmt.Errorf("%w: %w: type %d: %d elements in %q in %d bytes: an element takes at least %d",
				ErrBadFrame, errTooManyElements, t, size, strings.Join(f.path, "/"), used, f.minBytes)
		}
	}
	return nil
}

// errTooManyElements is the cause of a refusal by a list's bounds. Such a
// refusal can also meet a message that passed them once: its elements,
// written padded (a key as a str8, say), met the size bound, and written
// again in their shortest forms they no longer do.
var errTooManyElements = errors.New("more elements than the list's bounds allow")
