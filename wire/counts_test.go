package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/jumpkv/jumpkv/kv"
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
// either or an Events that claims more elements than its bound is
// refused before it is decoded (each would cost ~100 bytes of memory
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

// TestDecodeBoundsTableLists: a state's placement table lists at most
// MaxBuckets buckets (each replica list may be empty, so only the count
// bounds them); a table of that many decodes.
func TestDecodeBoundsTableLists(t *testing.T) {
	for _, typ := range []Type{TypeInstall, TypeState, TypeVoteResp} {
		for _, field := range []string{"b", "s"} {
			for _, n := range []int{MaxBuckets, MaxBuckets + 1} {
				body := msgp.AppendString(msgp.AppendMapHeader(nil, 1), "s")
				body = msgp.AppendString(msgp.AppendMapHeader(body, 1), "b")
				body = msgp.AppendString(msgp.AppendMapHeader(body, 1), field)
				body = msgp.AppendArrayHeader(body, uint32(n))
				elem := byte(0x90) // an empty replica list
				if field == "s" {
					elem = 0x00 // epoch 0
				}
				body = append(body, bytes.Repeat([]byte{elem}, n)...)
				_, err := Decode(typ, body)
				if n > MaxBuckets && !errors.Is(err, ErrBadFrame) || n <= MaxBuckets && err != nil {
					t.Errorf("type %d, %d elements in s/b/%s: %v", typ, n, field, err)
				}
			}
		}
	}
}

// TestDecodeBoundsBucketLists: a list of buckets (or of their digests)
// holds at most MaxBuckets numbers: 2^20 decode, one more is refused.
func TestDecodeBoundsBucketLists(t *testing.T) {
	for _, tc := range []struct {
		typ Type
		key string
	}{{TypeList, "b"}, {TypeDigests, "b"}, {TypeDigestsResp, "d"}, {TypeHeartbeat, "o"}, {TypeHeartbeatAck, "o"}} {
		for _, n := range []int{MaxBuckets, MaxBuckets + 1} {
			body := msgp.AppendArrayHeader(msgp.AppendString(msgp.AppendMapHeader(nil, 1), tc.key), uint32(n))
			body = append(body, make([]byte, n)...) // n zeros: bucket 0
			_, err := Decode(tc.typ, body)
			if n > MaxBuckets && !errors.Is(err, ErrBadFrame) || n <= MaxBuckets && err != nil {
				t.Errorf("type %d, %d numbers in %q: %v", tc.typ, n, tc.key, err)
			}
		}
	}
}

// TestDecodeBoundsCountsBySize: a Repair, Chunk, SummaryResp, Purge,
// Fetch or Fill, or a state's or answer's members, whose list claims more elements
// than its body's bytes can hold as real elements (one-byte elements:
// each would decode to ~40-90 bytes of memory) is refused before it is
// decoded; real messages of many elements decode.
func TestDecodeBoundsCountsBySize(t *testing.T) {
	v := kv.Version{Term: 1, Seq: 1}
	const n = 2000
	entries := make([]kv.Entry, n)
	kvs := make([]kv.KeyVersion, n)
	keys := make([]string, n)
	for i := range n {
		k := fmt.Sprint(i % 10) // the shortest real keys
		entries[i], kvs[i], keys[i] = kv.Entry{Key: k, Version: v}, kv.KeyVersion{Key: k, Version: v}, k
	}
	ms := make([]Member, n)
	fbs := make([]FillBucket, n)
	for i := range n {
		ms[i], fbs[i] = Member{ID: 1, Incarnation: 1}, FillBucket{Bucket: i % 100}
	}
	for _, tc := range []struct {
		typ  Type
		key  string // the list's path, "k" or "k/k2"
		real Message
		got  func(Message) int
	}{
		{TypeFill, "b", &Fill{Buckets: fbs}, func(m Message) int { return len(m.(*Fill).Buckets) }},
		{TypeInstall, "s/m", &Install{State: ClusterState{Members: ms}}, func(m Message) int { return len(m.(*Install).State.Members) }},
		{TypeState, "s/m", &State{State: ClusterState{Members: ms}}, func(m Message) int { return len(m.(*State).State.Members) }},
		{TypeVoteResp, "s/m", &VoteResp{State: &ClusterState{Members: ms}}, func(m Message) int { return len(m.(*VoteResp).State.Members) }},
		{TypeVoteResp, "m", &VoteResp{Members: ms}, func(m Message) int { return len(m.(*VoteResp).Members) }},
		{TypeHelloResp, "m", &HelloResp{Members: ms}, func(m Message) int { return len(m.(*HelloResp).Members) }},
		{TypeListResp, "k", &ListResp{Keys: keys}, func(m Message) int { return len(m.(*ListResp).Keys) }},
		{TypeClusterInfo, "n", &ClusterInfo{Nodes: make([]NodeInfo, n)}, func(m Message) int { return len(m.(*ClusterInfo).Nodes) }},
		{TypeRepair, "e", &Repair{Bucket: 1, Entries: entries}, func(m Message) int { return len(m.(*Repair).Entries) }},
		{TypeChunk, "e", &Chunk{Entries: entries}, func(m Message) int { return len(m.(*Chunk).Entries) }},
		{TypeSummaryResp, "e", &SummaryResp{Entries: kvs}, func(m Message) int { return len(m.(*SummaryResp).Entries) }},
		{TypePurge, "k", &Purge{Bucket: 1, Keys: kvs}, func(m Message) int { return len(m.(*Purge).Keys) }},
		{TypeFetch, "k", &Fetch{Bucket: 1, Keys: keys}, func(m Message) int { return len(m.(*Fetch).Keys) }},
	} {
		body, err := AppendEncode(nil, tc.real)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(tc.typ, body)
		if err != nil || tc.got(m) != n {
			t.Fatalf("type %d: a real message of %d elements (%d bytes): %v", tc.typ, n, len(body), err)
		}
		// One-byte elements the decoders take: empty maps, or empty
		// strings for keys.
		elem := byte(0x80)
		if tc.typ == TypeFetch || tc.typ == TypeListResp {
			elem = 0xa0
		}
		body = nil
		for _, k := range strings.Split(tc.key, "/") {
			body = msgp.AppendString(msgp.AppendMapHeader(body, 1), k)
		}
		body = msgp.AppendArrayHeader(body, 1<<20)
		body = append(body, bytes.Repeat([]byte{elem}, 1<<20)...)
		if _, err := Decode(tc.typ, body); !errors.Is(err, ErrBadFrame) {
			t.Errorf("type %d: 2^20 one-byte elements in %q: %v, want %v", tc.typ, tc.key, err, ErrBadFrame)
		}
	}
}
