package wire

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/shard"
)

// sampleBodies returns encoded bodies of every known message type: the zero
// value and the fully populated sample (sampleOf) of each, and hand-made
// instances of the ones with nested data.
func sampleBodies(t *testing.T) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, typ := range knownTypes() {
		for name, m := range map[string]Message{"zero": registry[typ](), "sample": sampleOf(typ)} {
			body, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%s %T", name, m)] = body
		}
	}
	member := Member{ID: 3, Incarnation: 1 << 40, Peer: "10.0.0.3:7000", HTTP: "10.0.0.3:8080"}
	state := ClusterState{Term: 9, Leader: 3, Members: []Member{member, member}, Replicas: 2,
		Table: shard.Table{Epoch: 12, Buckets: [][]shard.NodeID{{3, 1}, {1, 3}, {}}, Since: []uint64{4, 5, 6}}}
	entry := kv.Entry{Key: "key", Value: bytes.Repeat([]byte{0xdd}, 300), ContentType: "text/plain",
		Version: kv.Version{Term: 9, Seq: 1 << 33}, Deleted: true}
	version := kv.Version{Term: 2, Seq: 3}
	populated := map[string]Message{
		"install":     &Install{State: state},
		"voteresp":    &VoteResp{Granted: true, Reason: "r", State: &state, Members: []Member{member}},
		"heartbeat":   &HeartbeatAck{Heartbeat: Heartbeat{Self: member, Keys: -5}, Lease: true},
		"fill":        &Fill{Epoch: 3, Buckets: []FillBucket{{Bucket: 1, Sources: []Member{member}}}},
		"chunk":       &Chunk{Entries: []kv.Entry{entry, entry}, More: true},
		"forward":     &Forward{Op: WriteOp{Kind: WriteAppend, Key: "k", Value: []byte{1}, IfMatch: &version}},
		"list":        &List{Buckets: []int{1, -2, 70000}, Prefix: "p", Limit: 1 << 31},
		"digestsresp": &DigestsResp{Digests: []uint64{0, 1 << 63}},
		"clusterinfo": &ClusterInfo{Nodes: []NodeInfo{{ID: 1, Role: "leader", Keys: 1 << 50}}},
		"error":       NewErrorMsg(ErrNotOwner),
	}
	for name, m := range populated {
		body, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = body
	}
	return out
}

func TestCheckBodyAcceptsEveryMessage(t *testing.T) {
	for name, body := range sampleBodies(t) {
		if err := checkBody(body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// Every strict prefix is an incomplete value.
		for n := range len(body) {
			if err := checkBody(body[:n]); err == nil {
				t.Errorf("%s: the %d-byte prefix of a %d-byte body passed", name, n, len(body))
				break
			}
		}
	}
}

func TestCheckBodyAllocatesNothing(t *testing.T) {
	body := sampleBodies(t)["install"]
	if n := testing.AllocsPerRun(100, func() {
		if checkBody(body) != nil {
			panic("install body refused")
		}
	}); n != 0 {
		t.Fatalf("checkBody allocated %v times per call", n)
	}
}

func TestCheckBodyRejectsClaims(t *testing.T) {
	nested := append(bytes.Repeat([]byte{0x91}, maxBodyDepth+1), 0xc0)
	cases := map[string][]byte{
		"empty":                {},
		"array32 4G":           {0xdd, 0xff, 0xff, 0xff, 0xff},
		"array16 past the end": {0xdc, 0x00, 0x03, 0x01, 0x02},
		"map32 4G":             {0xdf, 0xff, 0xff, 0xff, 0xff},
		"map16 one short":      {0xde, 0x00, 0x01, 0xa1, 'k'},
		"nested array claim":   {0x81, 0xa1, 'd', 0xdd, 0x00, 0x20, 0x00, 0x00},
		"sum of open claims":   {0x92, 0x9f, 0x01},
		"str32 4G":             {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
		"bin16 past the end":   {0xc5, 0x01, 0x00, 0x00},
		"ext32 past the end":   {0xc9, 0x00, 0x00, 0x00, 0x09, 0x01},
		"fixext16 short":       {0xd8, 0x01, 0x00},
		"uint64 short":         {0xcf, 0x00},
		"length cut":           {0xda, 0x00},
		"never used code":      {0xc1},
		"too deep":             nested,
	}
	for name, body := range cases {
		if err := checkBody(body); err == nil {
			t.Errorf("%s: accepted % x", name, body)
		}
		for _, typ := range knownTypes() {
			if _, err := Decode(typ, body); !errors.Is(err, ErrBadFrame) {
				t.Errorf("%s: Decode as type %d: %v, want ErrBadFrame", name, typ, err)
			}
		}
	}
	ok := map[string][]byte{
		"trailing bytes":   {0x80, 0xff, 0xff},
		"depth limit":      append(bytes.Repeat([]byte{0x91}, maxBodyDepth), 0xc0),
		"fixext16":         append([]byte{0xd8, 0x01}, make([]byte, 16)...),
		"array of claims":  {0x93, 0xc0, 0xc2, 0x01},
		"map16 exact":      {0xde, 0x00, 0x01, 0xa1, 'k', 0x05},
		"negative fixints": {0x92, 0xe0, 0xff},
	}
	for name, body := range ok {
		if err := checkBody(body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDecodeDeepNesting decodes a body whose unknown field holds arrays
// nested 100,000 deep. msgpack alone would skip it by recursing once per
// level (and accept it; a 16 MB body of them overflows the stack, which is
// fatal); Decode refuses it.
func TestDecodeDeepNesting(t *testing.T) {
	body := append([]byte{0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 100_000)...)
	body = append(body, 0xc0)
	if _, err := Decode(TypeOK, body); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("Decode of nested arrays: %v, want ErrBadFrame", err)
	}
}
