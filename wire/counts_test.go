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

// TestDecodeBoundsBatchCounts: a ReplicateBatch or ReplicateBatchAck that
// claims more than MaxBatchItems elements is refused before it is decoded
// (each would cost ~100 bytes of memory for one byte of frame); at the
// bound it decodes.
func TestDecodeBoundsBatchCounts(t *testing.T) {
	for _, tc := range []struct {
		typ   Type
		key   string
		extra []string
	}{
		{TypeReplicateBatch, "i", nil},
		{TypeReplicateBatchAck, "r", nil},
		{TypeReplicateBatch, "i", []string{"x", "i"}}, // the key given twice
	} {
		name := fmt.Sprintf("type %d %q after %v", tc.typ, tc.key, tc.extra)
		m, err := Decode(tc.typ, batchBody(tc.key, MaxBatchItems, tc.extra...))
		if err != nil {
			t.Fatalf("%s, %d elements: %v", name, MaxBatchItems, err)
		}
		switch m := m.(type) {
		case *ReplicateBatch:
			if len(m.Items) != MaxBatchItems {
				t.Errorf("%s: %d items decoded", name, len(m.Items))
			}
		case *ReplicateBatchAck:
			if len(m.Results) != MaxBatchItems {
				t.Errorf("%s: %d results decoded", name, len(m.Results))
			}
		}
		for _, n := range []int{MaxBatchItems + 1, 1 << 20} {
			if _, err := Decode(tc.typ, batchBody(tc.key, n, tc.extra...)); !errors.Is(err, ErrBadFrame) {
				t.Errorf("%s, %d elements: %v, want %v", name, n, err, ErrBadFrame)
			}
		}
	}
}
