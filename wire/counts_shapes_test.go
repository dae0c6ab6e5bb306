package wire

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/shard"
)

// emptyMaps appends an array header of n followed by n one-byte
// empty maps, the cheapest elements a decoder takes for a struct.
func emptyMaps(b []byte, n int) []byte {
	b = msgp.AppendArrayHeader(b, uint32(n))
	return append(b, bytes.Repeat([]byte{0x80}, n)...)
}

// decodeCounting decodes body, reporting the heap bytes Decode allocated.
func decodeCounting(t Type, body []byte) (Message, uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Decode(t, body)
	runtime.ReadMemStats(&after)
	return m, after.TotalAlloc - before.TotalAlloc, err
}

// hostileLen is the length of the list a hostile body filled, or -1.
func hostileLen(m Message) int {
	switch m := m.(type) {
	case *Repair:
		return len(m.Entries)
	case *ReplicateBatch:
		return len(m.Items)
	case *Chunk:
		return len(m.Entries)
	case *Install:
		return len(m.State.Members)
	case *HelloResp:
		return len(m.Members)
	case *Fill:
		n := 0
		for _, b := range m.Buckets {
			n += len(b.Sources)
		}
		return n
	}
	return -1
}

type hostileBody struct {
	name string
	typ  Type
	body []byte
	n    int
}

func checkRefused(t *testing.T, cases []hostileBody) {
	t.Helper()
	for _, tc := range cases {
		m, alloc, err := decodeCounting(tc.typ, tc.body)
		if !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: a %d-byte body decoded to %d elements (%d bytes allocated, %.0fx the body), err %v; want %v",
				tc.name, len(tc.body), hostileLen(m), alloc, float64(alloc)/float64(len(tc.body)), err, ErrBadFrame)
		}
	}
}

// TestArrayEncodedStructsBypassCounts: vmihailenco/msgpack, the
// fallback decoder, also decodes a struct written as an array of its
// fields in order (decodeStructValue). checkCount only follows maps
// ("a body it cannot follow is left to the decoders, which refuse it"),
// but the reflection decoder does not refuse it: the same one-byte-element
// lists that the map form is refused for decode in full, past both the
// fixed counts (MaxBatchItems, MaxChunkEntries) and the bounds by size.
func TestArrayEncodedStructsBypassCounts(t *testing.T) {
	const n = 1 << 16
	// Sanity: the map forms of these bodies are refused.
	mapForm := []hostileBody{
		{"Repair {e: [n {}]}", TypeRepair, emptyMaps(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "e"), n), n},
		{"ReplicateBatch {i: [n {}]}", TypeReplicateBatch, emptyMaps(msgp.AppendString(msgp.AppendMapHeader(nil, 1), "i"), n), n},
	}
	checkRefused(t, mapForm)
	if t.Failed() {
		t.Fatal("the map forms are not refused: the test's premise is wrong")
	}

	// Repair as [bucket, since, entries].
	repair := msgp.AppendArrayHeader(nil, 3)
	repair = msgp.AppendInt(repair, 1)
	repair = msgp.AppendUint64(repair, 0)
	repair = emptyMaps(repair, n)

	// ReplicateBatch as [items]: the generated decoder refuses it, the
	// reflection decoder takes it, past MaxBatchItems.
	batch := emptyMaps(msgp.AppendArrayHeader(nil, 1), n)

	// Chunk as [entries, more], past MaxChunkEntries.
	chunk := emptyMaps(msgp.AppendArrayHeader(nil, 2), MaxChunkEntries+1)
	chunk = msgp.AppendBool(chunk, false)

	// Install {s: [term, leader, members, table, replicas]}: the path
	// "s/m" is not followed into an array.
	install := msgp.AppendString(msgp.AppendMapHeader(nil, 1), "s")
	install = msgp.AppendArrayHeader(install, 5)
	install = msgp.AppendUint64(install, 1)
	install = msgp.AppendUint64(install, 1)
	install = emptyMaps(install, n)
	install = msgp.AppendNil(install)
	install = msgp.AppendInt(install, 1)

	checkRefused(t, []hostileBody{
		{"Repair as an array", TypeRepair, repair, n},
		{"ReplicateBatch as an array", TypeReplicateBatch, batch, n},
		{"Chunk as an array", TypeChunk, chunk, MaxChunkEntries + 1},
		{"Install whose state is an array", TypeInstall, install, n},
	})
}

// TestNilKeyHidesCountedList: checkCount gives up on a body at the
// first map key msgp.ReadMapKeyZC cannot read (a nil key), but the
// reflection decoder reads a nil key as "" and skips its value, then
// decodes the counted list that follows in full.
func TestNilKeyHidesCountedList(t *testing.T) {
	const n = 1 << 16
	body := func(key string, count int) []byte {
		b := msgp.AppendMapHeader(nil, 2)
		b = msgp.AppendNil(b) // the key
		b = msgp.AppendNil(b) // its value
		b = msgp.AppendString(b, key)
		return emptyMaps(b, count)
	}
	checkRefused(t, []hostileBody{
		{"Repair {nil: nil, e: [n {}]}", TypeRepair, body("e", n), n},
		{"ReplicateBatch {nil: nil, i: [n {}]}", TypeReplicateBatch, body("i", n), n},
		{"HelloResp {nil: nil, m: [n {}]}", TypeHelloResp, body("m", n), n},
	})
}

// TestFillSourcesUnbounded: a Fill's buckets are bounded by size,
// but each bucket's Sources, a list of members nested in that array, is
// not: one fill bucket holding n one-byte member maps decodes to n
// 64-byte Members (a 16 MiB frame: about 1 GiB), the attack 9463195
// closed for every other list of members.
func TestFillSourcesUnbounded(t *testing.T) {
	const n = 1 << 16
	b := msgp.AppendString(msgp.AppendMapHeader(nil, 1), "b")
	b = msgp.AppendArrayHeader(b, 1)
	b = msgp.AppendMapHeader(b, 2)
	b = msgp.AppendInt(msgp.AppendString(b, "b"), 0)
	b = emptyMaps(msgp.AppendString(b, "s"), n)
	checkRefused(t, []hostileBody{{"Fill {b: [{b: 0, s: [n {}]}]}", TypeFill, b, n}})
}

// TestRealShortestElementsDecode: every bounded list's shortest
// real element, as this codebase's encoders write it, is longer than the
// bound assumes, and a real message of one or many such elements decodes.
func TestRealShortestElementsDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		elem any
		min  int
	}{
		{"kv.Entry (key \"a\")", kv.Entry{Key: "a"}, minEntryBytes},
		{"kv.KeyVersion (key \"a\")", kv.KeyVersion{Key: "a"}, minEntryBytes},
		{"Fetch key \"a\"", "a", minKeyBytes},
		{"Member", Member{}, minMemberBytes},
		{"FillBucket", FillBucket{}, minFillBucketBytes},
		{"NodeInfo", NodeInfo{}, minNodeInfoBytes},
	} {
		b, err := msgpack.Marshal(tc.elem)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < tc.min {
			t.Errorf("%s encodes in %d bytes, the bound assumes at least %d", tc.name, len(b), tc.min)
		}
		t.Logf("%s: %d bytes (bound %d)", tc.name, len(b), tc.min)
	}
	// kv.Entry by the generated encoder (not used for these lists, but
	// the comment's 13).
	if b, _ := (&kv.Entry{}).MarshalMsg(nil); len(b) < 13 {
		t.Errorf("generated kv.Entry{} encodes in %d bytes", len(b))
	}
	for _, n := range []int{1, 2, 3, 1000} {
		entries := make([]kv.Entry, n)
		kvs := make([]kv.KeyVersion, n)
		keys := make([]string, n)
		ms := make([]Member, n)
		fbs := make([]FillBucket, n)
		for i := range n {
			k := string(rune('a' + i%26))
			entries[i], kvs[i], keys[i] = kv.Entry{Key: k}, kv.KeyVersion{Key: k}, k
		}
		state := ClusterState{Members: ms, Table: shard.Table{Buckets: make([][]shard.NodeID, n), Since: make([]uint64, n)}}
		for _, m := range []Message{
			&Repair{Entries: entries}, &SummaryResp{Entries: kvs}, &Purge{Keys: kvs}, &Fetch{Keys: keys},
			&Fill{Buckets: fbs}, &Fill{Buckets: []FillBucket{{Sources: ms}}},
			&Install{State: state}, &State{State: state}, &VoteResp{State: &state, Members: ms},
			&HelloResp{Members: ms}, &ClusterInfo{Nodes: make([]NodeInfo, n)},
		} {
			body, err := AppendEncode(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(m.WireType(), body); err != nil {
				t.Errorf("%T of %d shortest elements: %v", m, n, err)
			}
		}
	}
}
