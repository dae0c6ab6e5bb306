package wire

import (
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// MaxBatchItems bounds the writes of a ReplicateBatch, the reads of a
// ReadBatch and the answers to either. Decode refuses a body that claims
// more before either decoder allocates for them: checkBody holds an array
// to one element per byte left, but an element of these takes about a
// hundred bytes of memory, so a 16 MB frame of one-byte elements would
// cost gigabytes.
const MaxBatchItems = 1024

// countedField is a message's array field whose length Decode bounds.
type countedField struct {
	key string // its msgpack key
	max int
}

// MaxEvents bounds the events of one Events message (the leader sends at
// most 256), and MaxChunkEntries the entries of one Chunk (a fill's
// chunks are bounded in bytes: a real entry takes tens of bytes).
const (
	MaxEvents       = 4096
	MaxChunkEntries = 1 << 20
)

var countedFields = map[Type]countedField{
	TypeReplicateBatch:    {"i", MaxBatchItems},
	TypeReplicateBatchAck: {"r", MaxBatchItems},
	TypeReadBatch:         {"r", MaxBatchItems},
	TypeReadBatchResp:     {"r", MaxBatchItems},
	TypeEvents:            {"e", MaxEvents},
	TypeChunk:             {"e", MaxChunkEntries},
}

// checkCounts refuses a body of type t whose counted field (every
// occurrence of its key) claims more elements than its bound. A body it
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
			if size, _, err := msgp.ReadArrayHeaderBytes(rest); err == nil && int64(size) > int64(f.max) {
				return fmt.Errorf("%w: type %d: %d elements in %q, at most %d", ErrBadFrame, t, size, f.key, f.max)
			}
		}
		if rest, err = msgp.Skip(rest); err != nil {
			return nil
		}
	}
	return nil
}
