package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzMaxFrame is the frame limit the fuzz targets read with.
const fuzzMaxFrame = 1 << 20

// decodeAllocBound is how many bytes decoding a body may allocate: a small
// multiple of its length (every element costs at least one byte of body and
// no message element is larger than about a hundred bytes) plus room for
// the decoder's own buffers and caches.
func decodeAllocBound(body []byte) uint64 { return 128*uint64(len(body)) + 256<<10 }

// readAllocBound is how many bytes ReadFrame may allocate when arrived
// bytes are all the stream holds: a small frame's body at once, else a
// buffer that doubles as data comes (the doublings sum to under four times
// what arrived), plus a little for an error.
func readAllocBound(arrived int) uint64 { return smallFrame + 4*uint64(arrived) + 4<<10 }

// bytesAllocated reports how many heap bytes f allocates: the least of
// three runs, since the process-wide counter also takes in what other
// goroutines (the runtime's, the testing package's) allocate meanwhile,
// which only ever adds. f must allocate the same on every run.
func bytesAllocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// checkDecode decodes body as type t, checking that it does not panic,
// stays allocation-bounded, fails only with ErrBadFrame, and that what it
// decodes re-encodes stably.
func checkDecode(t *testing.T, typ Type, body []byte) {
	var (
		m   Message
		err error
	)
	if n := bytesAllocated(func() { m, err = Decode(typ, body) }); n > decodeAllocBound(body) {
		t.Fatalf("decoding %d bytes of type %d allocated %d bytes", len(body), typ, n)
	}
	if err != nil {
		if !errors.Is(err, ErrBadFrame) {
			t.Fatalf("Decode error %v does not wrap ErrBadFrame", err)
		}
		return
	}
	if err := checkBody(body); err != nil {
		t.Fatalf("Decode accepted a body checkBody refuses (%v): % x", err, body)
	}
	if m.WireType() != typ {
		t.Fatalf("Decode(%d) returned a %T", typ, m)
	}
	// Where a generated decoder accepts a body, it must read what the
	// reflection decoder reads (empty and nil slices alike).
	if fast, ok := registry[typ]().(generatedMessage); ok {
		if rest, err := fast.UnmarshalMsg(body); err == nil && len(rest) == 0 {
			slow := registry[typ]()
			if err := msgpack.Unmarshal(body, slow); err != nil {
				t.Fatalf("the generated decoder accepted a body the reflection decoder refuses (%v): % x", err, body)
			}
			if !wireEqual(fast, slow) {
				t.Fatalf("generated decode %+v, reflection decode %+v, of % x", fast, slow, body)
			}
		}
	}
	enc, err := Encode(m)
	if err != nil {
		t.Fatalf("re-encoding a decoded %T: %v", m, err)
	}
	if err := checkBody(enc); err != nil {
		t.Fatalf("Encode(%T) produced a body checkBody refuses (%v): % x", m, err, enc)
	}
	m2, err := Decode(typ, enc)
	if errors.Is(err, errTooManyElements) {
		// Elements that met a list's size bound only padded (a key
		// written as a str8) do not in their shortest forms: no node
		// sends such elements (they are not real ones).
		return
	}
	if err != nil {
		t.Fatalf("decoding a re-encoded %T: %v", m, err)
	}
	enc2, err := Encode(m2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("%T does not re-encode stably: % x then % x (%v)", m, enc, enc2, err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to ReadFrame and what it accepts to
// Decode.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendFrame(nil, Header{Type: TypeOK, Flags: FlagResponse, ID: 1}, []byte{0x80}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			h    Header
			body []byte
			err  error
		)
		// What ReadFrame allocates follows what arrives, not the length
		// the frame claims.
		if n := bytesAllocated(func() { h, body, err = ReadFrame(bytes.NewReader(data), fuzzMaxFrame) }); n > readAllocBound(len(data)) {
			t.Fatalf("ReadFrame of %d bytes allocated %d", len(data), n)
		}
		// Reading the same bytes one at a time changes nothing.
		h1, body1, err1 := ReadFrame(iotest.OneByteReader(bytes.NewReader(data)), fuzzMaxFrame)
		if h1 != h || !bytes.Equal(body1, body) || (err1 == nil) != (err == nil) || errors.Is(err1, ErrBadFrame) != errors.Is(err, ErrBadFrame) {
			t.Fatalf("ReadFrame read bytewise: %+v, %d bytes, %v; at once: %+v, %d bytes, %v", h1, len(body1), err1, h, len(body), err)
		}
		if err != nil {
			switch {
			case err == io.EOF:
				if len(data) != 0 {
					t.Fatalf("ReadFrame returned io.EOF for %d bytes: only a stream with no byte of a frame ends cleanly", len(data))
				}
			case !errors.Is(err, ErrBadFrame):
				t.Fatalf("ReadFrame error %v, want ErrBadFrame or io.EOF", err)
			}
			return
		}
		if !Known(h.Type) || h.Flags&^FlagResponse != 0 {
			t.Fatalf("ReadFrame accepted header %+v", h)
		}
		n := 4 + HeaderLen + len(body)
		if binary.BigEndian.Uint32(data) != uint32(HeaderLen+len(body)) || !bytes.Equal(AppendFrame(nil, h, body), data[:n]) {
			t.Fatalf("ReadFrame returned %+v and %d bytes that do not rebuild the input", h, len(body))
		}
		checkDecode(t, h.Type, body)
	})
}

// FuzzDecode feeds a type byte and a body to Decode.
func FuzzDecode(f *testing.F) {
	for _, typ := range knownTypes() {
		body, err := Encode(sampleOf(typ))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(typ), body)
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		checkDecode(t, Type(typ), body)
	})
}

// fuzzSeedTargets are the fuzz targets whose corpus directories under
// testdata/fuzz fuzzSeeds generates, in full.
var fuzzSeedTargets = []string{"FuzzDecode", "FuzzReadFrame"}

// writeFuzzSeedsEnv names the environment variable that makes
// TestFuzzSeedsUpToDate rewrite testdata/fuzz.
const writeFuzzSeedsEnv = "JUMPKV_WRITE_FUZZ_SEEDS"

// fuzzSeeds returns the seed corpus files under testdata/fuzz, keyed by
// their slash-separated path below it ("FuzzDecode/valid-01-ErrorMsg"):
// a valid frame and body of every message type, and the hostile inputs
// the fuzz targets must survive. An input a fuzzer finds belongs here too,
// under a name that says what it is.
func fuzzSeeds(t *testing.T) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	add := func(target, name string, args ...any) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args { // the format of the testing package
			switch a := a.(type) {
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", a)
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			default:
				t.Fatalf("seed %s/%s: unsupported argument %T", target, name, a)
			}
		}
		key := target + "/" + name
		if _, dup := out[key]; dup {
			t.Fatalf("seed %s generated twice", key)
		}
		out[key] = b.Bytes()
	}
	for _, typ := range knownTypes() {
		m := sampleOf(typ)
		body, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("valid-%02d-%s", typ, reflect.TypeOf(m).Elem().Name())
		add("FuzzReadFrame", name, AppendFrame(nil, Header{Type: typ, ID: uint64(typ), From: 3, Term: 9}, body))
		add("FuzzDecode", name, byte(typ), body)
	}
	hello := Header{Type: TypeHello, ID: 1, From: 2, Term: 3}
	claim := []byte{0xdd, 0xff, 0xff, 0xff, 0xff}
	digests := []byte{0x81, 0xa1, 'd', 0xdd, 0xff, 0xff, 0xff, 0xff}
	nested := append(bytes.Repeat([]byte{0x91}, 40), 0xc0)
	// A frame that claims 960 KB and stops after its header and 100 bytes.
	stalled := AppendFrame(nil, Header{Type: TypeReplicate, ID: 4}, make([]byte, 100))
	binary.BigEndian.PutUint32(stalled, 0xf0000)
	add("FuzzReadFrame", "hello-array32-claim", AppendFrame(nil, hello, claim))
	add("FuzzReadFrame", "digestsresp-array32-claim", AppendFrame(nil, Header{Type: TypeDigestsResp, Flags: FlagResponse}, digests))
	add("FuzzReadFrame", "length-ffffffff", []byte{0xff, 0xff, 0xff, 0xff, 1, 3})
	add("FuzzReadFrame", "length-short", []byte{0, 0, 0, 1, 1})
	add("FuzzReadFrame", "length-cut", []byte{0, 0})
	add("FuzzReadFrame", "large-claim-stalls", stalled)
	add("FuzzReadFrame", "truncated", AppendFrame(nil, hello, []byte{0x80})[:20])
	add("FuzzReadFrame", "unknown-type", AppendFrame(nil, Header{Type: 0xee}, []byte{0x80}))
	add("FuzzReadFrame", "bad-flags", AppendFrame(nil, Header{Type: TypeOK, Flags: 0x81}, []byte{0x80}))
	add("FuzzReadFrame", "garbage", []byte("GET / HTTP/1.1\r\n\r\n"))
	add("FuzzReadFrame", "nested-arrays", AppendFrame(nil, Header{Type: TypeOK}, nested))
	add("FuzzDecode", "hello-array32-claim", byte(TypeHello), claim)
	add("FuzzDecode", "digestsresp-array32-claim", byte(TypeDigestsResp), digests)
	add("FuzzDecode", "read-str32-claim", byte(TypeRead), []byte{0x81, 0xa1, 'k', 0xdb, 0x01, 0x00, 0x00, 0x00})
	add("FuzzDecode", "clusterinfo-map32-claim", byte(TypeClusterInfo), []byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	add("FuzzDecode", "nested-arrays", byte(TypeOK), nested)
	add("FuzzDecode", "unknown-type", byte(0xee), []byte{0x80})
	add("FuzzDecode", "never-used-code", byte(TypeVote), []byte{0xc1})
	// A list's size bound (wire/counts.go) on its own bytes, not on what
	// follows it; elements padded to meet it (empty keys as str8) pass,
	// and their shortest re-encoding does not.
	add("FuzzDecode", "fetch-empty-keys-then-padding", byte(TypeFetch),
		[]byte{0x82, 0xa1, 'k', 0x92, 0xa0, 0xa0, 0xa1, 'b', 0xcf, 0, 0, 0, 0, 0, 0, 0, 1})
	add("FuzzDecode", "fetch-padded-empty-keys", byte(TypeFetch), []byte{0x81, 0xa1, 'k', 0x92, 0xd9, 0x00, 0xd9, 0x00})
	add("FuzzDecode", "repair-array-encoded", byte(TypeRepair), []byte{0x93, 0x01, 0x00, 0x94, 0x80, 0x80, 0x80, 0x80})
	add("FuzzDecode", "repair-nil-key", byte(TypeRepair), []byte{0x82, 0xc0, 0xc0, 0xa1, 'e', 0x92, 0x80, 0x80})
	return out
}

// TestFuzzSeedsUpToDate checks that the seed corpus committed under
// testdata/fuzz is exactly what fuzzSeeds generates. With
// JUMPKV_WRITE_FUZZ_SEEDS=1 it rewrites the corpus instead.
func TestFuzzSeedsUpToDate(t *testing.T) {
	root := filepath.Join("testdata", "fuzz")
	want := fuzzSeeds(t)
	have := make(map[string][]byte)
	for _, target := range fuzzSeedTargets {
		entries, err := os.ReadDir(filepath.Join(root, target))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			key := target + "/" + e.Name()
			if e.IsDir() {
				t.Errorf("unexpected directory %s", filepath.Join(root, key))
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, key))
			if err != nil {
				t.Fatal(err)
			}
			have[key] = b
		}
	}
	var missing, differ, extra []string
	for key, b := range want {
		switch old, ok := have[key]; {
		case !ok:
			missing = append(missing, key)
		case !bytes.Equal(old, b):
			differ = append(differ, key)
		}
	}
	for key := range have {
		if _, ok := want[key]; !ok {
			extra = append(extra, key)
		}
	}
	slices.Sort(missing)
	slices.Sort(differ)
	slices.Sort(extra)
	if len(missing)+len(differ)+len(extra) == 0 {
		return
	}
	if os.Getenv(writeFuzzSeedsEnv) == "1" {
		for _, key := range append(missing, differ...) {
			path := filepath.Join(root, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want[key], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range extra {
			if err := os.Remove(filepath.Join(root, filepath.FromSlash(key))); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rewrote %s: %d added, %d updated, %d removed", root, len(missing), len(differ), len(extra))
		return
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "the seed corpus in %s is out of date with fuzzSeeds:", root)
	for _, l := range []struct {
		what string
		keys []string
	}{{"missing", missing}, {"different", differ}, {"not generated", extra}} {
		if len(l.keys) > 0 {
			fmt.Fprintf(&msg, "\n  %s: %s", l.what, strings.Join(l.keys, ", "))
		}
	}
	fmt.Fprintf(&msg, "\nRewrite it with\n  %s=1 go test -run=TestFuzzSeedsUpToDate ./wire\n", writeFuzzSeedsEnv)
	if len(extra) > 0 {
		msg.WriteString("which deletes the files not generated: if one is an input a fuzzer found, add it to fuzzSeeds first.")
	}
	t.Error(msg.String())
}

// TestDecodeAllocationBounded checks that Decode believes no claim a body
// cannot back: each body below is a few bytes whose header claims millions
// of elements or bytes, which msgpack v5.4.1 alone preallocates (its limit
// check in decodeSliceValue is inverted). Claims are kept to tens of
// megabytes, so that a regression fails this test rather than the machine;
// the full-size attack (an array32 of 4 billion uint64s, 32 GB) is in
// TestCheckBodyRejectsClaims and the fuzz seeds.
func TestDecodeAllocationBounded(t *testing.T) {
	cases := []struct {
		name string
		typ  Type
		body []byte
		into any // what msgpack alone would decode it into
	}{
		{"DigestsResp array32 of 2^21 uint64", TypeDigestsResp, []byte{0x81, 0xa1, 'd', 0xdd, 0x00, 0x20, 0x00, 0x00}, new(DigestsResp)},
		{"ClusterInfo array16 of 65535 NodeInfo", TypeClusterInfo, []byte{0x81, 0xa1, 'n', 0xdc, 0xff, 0xff, 0x80}, new(ClusterInfo)},
		{"Chunk array32 of 2^17 Entry", TypeChunk, []byte{0x81, 0xa1, 'e', 0xdd, 0x00, 0x02, 0x00, 0x00, 0x80}, new(Chunk)},
		{"Read str32 of 16 MB", TypeRead, []byte{0x81, 0xa1, 'k', 0xdb, 0x01, 0x00, 0x00, 0x00, 'x'}, new(Read)},
		{"Forward bin32 of 16 MB", TypeForward, []byte{0x81, 0xa1, 'o', 0x81, 0xa1, 'v', 0xc6, 0x01, 0x00, 0x00, 0x00}, new(Forward)},
	}
	for _, c := range cases {
		var err error
		n := bytesAllocated(func() { _, err = Decode(c.typ, c.body) })
		if !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: Decode: %v, want ErrBadFrame", c.name, err)
		}
		if n > decodeAllocBound(c.body) {
			t.Errorf("%s: Decode of a %d-byte body allocated %d bytes, over the bound of %d",
				c.name, len(c.body), n, decodeAllocBound(c.body))
		}
		// What the guard in Decode saves: msgpack on its own.
		raw := bytesAllocated(func() { _ = msgpack.Unmarshal(c.body, c.into) })
		t.Logf("%s: Decode allocated %d bytes; msgpack.Unmarshal alone %d", c.name, n, raw)
	}
}
