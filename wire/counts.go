package wire

import (
	"fmt"
	"math"

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
type countedField struct {
	key      string // its msgpack key
	max      int
	minBytes int // 0: no bound by size
}

// Entries of a Repair, and the keys of a Purge or a SummaryResp, are sent
// in lists as long as a bucket's (a SummaryResp carries every key of its
// bucket), so no count bounds them but the frame's: a kv.Entry is never
// encoded in fewer than 13 bytes and a kv.KeyVersion in fewer than 16
// (the fields without omitempty), a key of a Fetch in fewer than 2 (keys
// are not empty). At one element per minEntryBytes, a 16 MB frame decodes
// to at most about 120 MB of entries, where one-byte elements would make
// 1.4 GB.
const (
	minEntryBytes = 12
	minKeyBytes   = 2
)

// MaxEvents bounds the events of one Events message (the leader sends at
// most 256), and MaxChunkEntries the entries of one Chunk (a fill's
// chunks are bounded in bytes: a real entry takes tens of bytes).
const (
	MaxEvents       = 4096
	MaxChunkEntries = 1 << 20
)

var countedFields = map[Type]countedField{
	TypeReplicateBatch:    {"i", MaxBatchItems, 0},
	TypeReplicateBatchAck: {"r", MaxBatchItems, 0},
	TypeReadBatch:         {"r", MaxBatchItems, 0},
	TypeReadBatchResp:     {"r", MaxBatchItems, 0},
	TypeEvents:            {"e", MaxEvents, 0},
	TypeChunk:             {"e", MaxChunkEntries, 0},
	TypeRepair:            {"e", MaxChunkEntries, minEntryBytes},
	TypeSummaryResp:       {"e", math.MaxInt32, minEntryBytes},
	TypePurge:             {"k", math.MaxInt32, minEntryBytes},
	TypeFetch:             {"k", math.MaxInt32, minKeyBytes},
}

// checkCounts refuses a body of type t whose counted field (every
// occurrence of its key) claims more elements than its bounds allow. A body it
// cannot follow is left to the decoders, which refuse it.
func checkCounts(t Type, body []byte) error {
	f, ok := countedFields[t]
	if !ok {
		return nil
	}
	n, rest, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return nil
	}
	for range n {
		var key []byte
		if key, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
			return nil
		}
		if string(key) == f.key && msgp.NextType(rest) == msgp.ArrayType {
			size, after, err := msgp.ReadArrayHeaderBytes(rest)
			switch {
			case err != nil:
			case int64(size) > int64(f.max):
				return fmt.Errorf("%w: type %d: %d elements in %q, at most %d", ErrBadFrame, t, size, f.key, f.max)
			case f.minBytes > 0 && int64(size)*int64(f.minBytes) > int64(len(after)):
				return fmt.Errorf("%w: type %d: %d elements in %q in %d bytes: an element takes at least %d",
					ErrBadFrame, t, size, f.key, len(after), f.minBytes)
			}
		}
		if rest, err = msgp.Skip(rest); err != nil {
			return nil
		}
	}
	return nil
}
