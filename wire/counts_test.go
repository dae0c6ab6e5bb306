package wire

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// batchBody encodes a map {key: [n empty maps]}: n elements of one byte
// each, the cheapest array a peer can send.
func batchBody(key string, n int, extra ...string) []byte {
	b := msgp.AppendMapHeader(nil, uint32(1+len(extra)))
	for _, k := range extra { // other keys first, as a forger may
		b = msgp.AppendString(b, k)
		b = msgp.AppendArrayHeader(b, 0)
	}
	b = msgp.AppendString(b, key)
	b = msgp.AppendArrayHeader(b, uint32(n))
	for range n {
		b = msgp.AppendMapHeader(b, 0)
	}
	return b
}

// TestDecodeBoundsCounts: a ReplicateBatch, ReadBatch, an answer to
// either, an Events or a Chunk that claims more elements than its bound
// is refused before it is decoded (each would cost ~100 bytes of memory
// for one byte of frame); at the bound it decodes.
func TestDecodeBoundsCounts(t *testing.T) {
	for _, tc := range []struct {
		typ   Type
		key   string
		max   int
		extra []string
	}{
		{TypeReplicateBatch, "i", MaxBatchItems, nil},
		{TypeReplicateBatchAck, "r", MaxBatchItems, nil},
		{TypeReplicateBatch, "i", MaxBatchItems, []string{"x", "i"}}, // the key given twice
		{TypeReadBatch, "r", MaxBatchItems, nil},
		{TypeReadBatchResp, "r", MaxBatchItems, nil},
		{TypeEvents, "e", MaxEvents, nil},
		{TypeChunk, "e", MaxChunkEntries, nil},
	} {
		name := fmt.Sprintf("type %d %q after %v", tc.typ, tc.key, tc.extra)
		m, err := Decode(tc.typ, batchBody(tc.key, tc.max, tc.extra...))
		if err != nil {
			t.Fatalf("%s, %d elements: %v", name, tc.max, err)
		}
		got := -1
		switch m := m.(type) {
		case *ReplicateBatch:
			got = len(m.Items)
		case *ReplicateBatchAck:
			got = len(m.Results)
		case *ReadBatch:
			got = len(m.Reads)
		case *ReadBatchResp:
			got = len(m.Results)
		case *Events:
			got = len(m.Events)
		case *Chunk:
			got = len(m.Entries)
		}
		if got != tc.max {
			t.Errorf("%s: %d elements decoded, want %d", name, got, tc.max)
		}
		for _, n := range []int{tc.max + 1, 4 << 20} {
			if _, err := Decode(tc.typ, batchBody(tc.key, n, tc.extra...)); !errors.Is(err, ErrBadFrame) {
				t.Errorf("%s, %d elements: %v, want %v", name, n, err, ErrBadFrame)
			}
		}
	}
}
