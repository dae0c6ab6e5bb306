package wire

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/jumpkv/jumpkv/kv"
)

// fastSamples are messages with hand-written codecs, in the shapes they
// take: empty fields left out, every optional field set, large numbers.
func fastSamples() []fastMessage {
	v := kv.Version{Term: 1795287197660544, Seq: 1 << 40}
	big := bytes.Repeat([]byte("x"), 70000)
	return []fastMessage{
		&Replicate{}, &ReplicateAck{}, &Read{}, &ReadResp{}, &Forward{}, &WriteResult{},
		&Replicate{Bucket: 1023, Since: 1 << 50, Entry: kv.Entry{Key: "k", Value: []byte("v"), ContentType: "text/plain", Version: v}},
		&Replicate{Bucket: 7, Since: 3, Entry: kv.Entry{Key: "gone", Version: v, Deleted: true}},
		&Replicate{Bucket: 300, Entry: kv.Entry{Key: string(bytes.Repeat([]byte("κ"), 512)), Value: big, Version: v}},
		&ReplicateAck{Applied: true},
		&Read{Bucket: 200, Since: 9, Key: "a/b", ViaLeader: true, Acting: true, Raw: true},
		&Read{Bucket: 65536, Key: string(make([]byte, 40))},
		&ReadResp{Found: true, Entry: kv.Entry{Key: "k", Value: make([]byte, 300), ContentType: "application/json", Version: v}},
		&Forward{Op: WriteOp{Kind: WritePut, Key: "k", Value: []byte("v"), ContentType: "c", IfMatch: &v, IfNoneMatch: true, IfExists: true}},
		&Forward{Op: WriteOp{Kind: WriteDelete, Key: "k"}},
		&Forward{Op: WriteOp{Kind: WritePut, Key: "k", IfMatch: &kv.Version{}}}, // omitempty honours IsZero
		&Forward{Op: WriteOp{Kind: WriteAppend, Key: "k", Value: big}},
		&WriteResult{Version: v},
		&Events{}, &Events{Term: 1 << 50, First: 3, Reset: true, Events: []Event{}},
		&Events{Term: 9, First: 1 << 33, Events: []Event{{Reset: true}, {Key: "k", Value: []byte("v"), Version: v}, {Key: "d", Version: v, Deleted: true}}},
		&Events{Term: 9, Events: make([]Event, 20)},
		&Replicate{Bucket: -7}, &Read{Bucket: -200}, &Read{Bucket: -40000}, &Read{Bucket: -1 << 40}, &Read{Bucket: 1 << 40},
	}
}

// TestFastCodecMatchesReflection checks that the hand-written codecs write
// exactly the reflection codec's bytes and read them back, so nodes of
// either kind interoperate.
func TestFastCodecMatchesReflection(t *testing.T) {
	for i, m := range fastSamples() {
		want, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.appendMsgpack(nil)
		if !bytes.Equal(got, want) {
			t.Errorf("sample %d %T: fast encoding\n%x\nreflection encoding\n%x", i, m, got, want)
			continue
		}
		fresh := reflect.New(reflect.TypeOf(m).Elem()).Interface().(fastMessage)
		if !fresh.decodeMsgpack(want) {
			t.Errorf("sample %d %T: the fast decoder refused the reflection encoding", i, m)
			continue
		}
		viaReflection := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		if err := msgpack.Unmarshal(want, viaReflection); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fresh, viaReflection) {
			t.Errorf("sample %d %T: fast decode %+v, reflection decode %+v", i, m, fresh, viaReflection)
		}
	}
}

// TestFastDecodeFallsBack checks that bodies in other valid forms (other
// integer widths, fields in another order, unknown fields) still decode,
// through the reflection decoder, and that the fast decoder leaves its
// target alone when it gives up.
func TestFastDecodeFallsBack(t *testing.T) {
	type replicateWithExtra struct {
		Extra  string   `msgpack:"z"`
		Entry  kv.Entry `msgpack:"e"`
		Since  uint64   `msgpack:"s"`
		Bucket int      `msgpack:"b"`
	}
	e := kv.Entry{Key: "k", Value: []byte("v"), Version: kv.Version{Term: 5, Seq: 6}}
	body, err := msgpack.Marshal(replicateWithExtra{Extra: "new field", Entry: e, Since: 4, Bucket: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(TypeReplicate, body)
	if err != nil {
		t.Fatal(err)
	}
	want := &Replicate{Bucket: 2, Since: 4, Entry: e}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Decode = %+v, want %+v", m, want)
	}
	var untouched Replicate
	if untouched.decodeMsgpack(body) {
		t.Fatal("the fast decoder accepted an unknown field")
	}
	if !reflect.DeepEqual(untouched, Replicate{}) {
		t.Fatalf("a refused fast decode changed its target: %+v", untouched)
	}
	// Repeated keys: the reflection decoder merges them into the earlier
	// field; the fast decoder leaves such bodies to it. Decode must agree
	// with the reflection decoder either way.
	for _, tc := range []struct {
		name string
		typ  Type
		into func() any
		body []byte
	}{
		{"entry given twice", TypeReplicate, func() any { return &Replicate{} },
			[]byte{0x82, 0xa1, 'e', 0x82, 0xa1, 'k', 0xa1, 'a', 0xa1, 'v', 0xc4, 1, 'x', 0xa1, 'e', 0x81, 0xa1, 'k', 0xa1, 'b'}},
		{"version key twice", TypeWriteResult, func() any { return &WriteResult{} },
			[]byte{0x81, 0xa1, 'v', 0x83, 0xa1, 't', 1, 0xa1, 's', 2, 0xa1, 't', 3}},
		{"op twice", TypeForward, func() any { return &Forward{} },
			[]byte{0x82, 0xa1, 'o', 0x81, 0xa1, 'k', 0xa1, 'a', 0xa1, 'o', 0xc0}},
		{"zero-length value", TypeReplicate, func() any { return &Replicate{} },
			[]byte{0x81, 0xa1, 'e', 0x82, 0xa1, 'k', 0xa1, 'a', 0xa1, 'v', 0xc4, 0}},
	} {
		m, err := Decode(tc.typ, tc.body)
		want := tc.into()
		werr := msgpack.Unmarshal(tc.body, want)
		if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(m, want)) {
			t.Errorf("%s: Decode = %+v, %v; the reflection decoder reads %+v, %v", tc.name, m, err, want, werr)
		}
	}
	// Compact integers where the reflection codec writes 8 bytes.
	compact := []byte{0x81, 0xa1, 'v', 0x82, 0xa1, 't', 0x05, 0xa1, 's', 0xcd, 0x01, 0x00}
	var wr WriteResult
	if !wr.decodeMsgpack(compact) || wr.Version != (kv.Version{Term: 5, Seq: 256}) {
		t.Fatalf("compact integers: %+v", wr)
	}
	// Truncated bodies are refused, never read past their end.
	full := (&Forward{Op: WriteOp{Kind: WritePut, Key: "key", Value: []byte("value")}}).appendMsgpack(nil)
	for n := range len(full) {
		var f Forward
		if f.decodeMsgpack(full[:n]) {
			t.Fatalf("a body truncated to %d of %d bytes decoded", n, len(full))
		}
	}
}

func BenchmarkDecodeReplicate(b *testing.B) {
	m := &Replicate{Bucket: 17, Since: 3, Entry: kv.Entry{Key: "bench/000123", Value: make([]byte, 100), Version: kv.Version{Term: 1795287197660544, Seq: 99}}}
	body, _ := msgpack.Marshal(m)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var r Replicate
			if !r.decodeMsgpack(body) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			var r Replicate
			if err := msgpack.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeReplicate(b *testing.B) {
	m := &Replicate{Bucket: 17, Since: 3, Entry: kv.Entry{Key: "bench/000123", Value: make([]byte, 100), Version: kv.Version{Term: 1795287197660544, Seq: 99}}}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			_ = m.appendMsgpack(make([]byte, 0, 64))
		}
	})
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			if _, err := msgpack.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
