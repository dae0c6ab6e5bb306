package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jumpkv/jumpkv/kv"
)

// generatedMessage is a message with a generated codec (fastmessages.go).
type generatedMessage interface {
	Message
	msgp.Marshaler
	msgp.Unmarshaler
}

// generatedTypes returns every registered message type whose message has
// a generated codec: taken from the registry, so that a message moved to
// fastmessages.go is tested without being listed here.
func generatedTypes(t *testing.T) []Type {
	t.Helper()
	var out []Type
	for _, typ := range knownTypes() {
		if _, ok := registry[typ]().(generatedMessage); ok {
			out = append(out, typ)
		}
	}
	if len(out) < 7 {
		t.Fatalf("only %d message types have a generated codec", len(out))
	}
	return out
}

// newOf returns a new zero message of m's type.
func newOf(m Message) generatedMessage {
	return reflect.New(reflect.TypeOf(m).Elem()).Interface().(generatedMessage)
}

// roundTrip encodes m with its generated encoder and decodes the bytes
// with its generated decoder, which must take all of them.
func roundTrip(t *testing.T, m generatedMessage) generatedMessage {
	t.Helper()
	body, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatalf("%T: %v", m, err)
	}
	back := newOf(m)
	rest, err := back.UnmarshalMsg(body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("%T: decoding its own encoding: %v, %d bytes left of %x", m, err, len(rest), body)
	}
	return back
}

// leaves calls f with v's path and a setter for every field that holds
// data (every non-struct field, recursively through structs; a pointer
// or slice of structs counts as one field).
func leaves(v reflect.Value, path string, f func(path string, set func(seed int))) {
	if v.Kind() == reflect.Struct {
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() {
				leaves(v.Field(i), path+"."+sf.Name, f)
			}
		}
		return
	}
	f(path, func(seed int) { fillValue(v, seed) })
}

// TestGeneratedCodecKeepsEveryField fills, by reflection, every field of
// every message with a generated codec (and of the structs inside it) with
// a non-zero value, all at once and then one at a time, and checks that
// the generated encoder and decoder give it back unchanged. A field the
// generated code does not know (a new field, code not regenerated) fails
// it, and so does one whose omitempty handling loses it.
func TestGeneratedCodecKeepsEveryField(t *testing.T) {
	for _, typ := range generatedTypes(t) {
		full := sampleOf(typ).(generatedMessage)
		if back := roundTrip(t, full); !reflect.DeepEqual(back, full) {
			t.Errorf("%T with every field set: decoded\n%+v\nwant\n%+v", full, back, full)
		}
		zero := registry[typ]().(generatedMessage)
		if back := roundTrip(t, zero); !reflect.DeepEqual(back, zero) {
			t.Errorf("zero %T: decoded %+v", zero, back)
		}
		n := 0
		leaves(reflect.ValueOf(zero).Elem(), reflect.TypeOf(zero).Elem().Name(), func(path string, _ func(int)) {
			one := registry[typ]().(generatedMessage)
			leaves(reflect.ValueOf(one).Elem(), reflect.TypeOf(one).Elem().Name(), func(p string, set func(int)) {
				if p == path {
					set(3)
				}
			})
			if reflect.DeepEqual(one, zero) {
				t.Fatalf("%s: setting it left the message zero", path)
			}
			if back := roundTrip(t, one); !reflect.DeepEqual(back, one) {
				t.Errorf("%s alone: decoded %+v, want %+v", path, back, one)
			}
			n++
		})
		if n == 0 {
			t.Errorf("%T: no field found", zero)
		}
	}
}

// edgeSamples are messages with generated codecs in the shapes that test
// encodings' limits: empty and large values, large and negative numbers,
// optional fields set and not.
func edgeSamples() []generatedMessage {
	v := kv.Version{Term: 1795287197660544, Seq: 1 << 40}
	big := bytes.Repeat([]byte("x"), 70000)
	return []generatedMessage{
		&Replicate{Bucket: 1023, Since: 1 << 50, Entry: kv.Entry{Key: "k", Value: []byte("v"), ContentType: "text/plain", Version: v}},
		&Replicate{Bucket: 7, Since: 3, Entry: kv.Entry{Key: "gone", Version: v, Deleted: true}},
		&Replicate{Bucket: 300, Entry: kv.Entry{Key: string(bytes.Repeat([]byte("κ"), 512)), Value: big, Version: v}},
		&Replicate{Entry: kv.Entry{Key: "empty", Value: []byte{}}},
		&ReplicateAck{Applied: true},
		&Read{Bucket: 200, Since: 9, Key: "a/b", ViaLeader: true, Acting: true, Raw: true},
		&Read{Bucket: 65536, Key: string(make([]byte, 40))},
		&ReadResp{Found: true, Entry: kv.Entry{Key: "k", Value: make([]byte, 300), ContentType: "application/json", Version: v}},
		&Forward{Op: WriteOp{Kind: WritePut, Key: "k", Value: []byte("v"), ContentType: "c", IfMatch: &v, IfNoneMatch: true, IfExists: true}},
		&Forward{Op: WriteOp{Kind: WriteDelete, Key: "k"}},
		&Forward{Op: WriteOp{Kind: WritePut, Key: "k", IfMatch: &kv.Version{}}},
		&Forward{Op: WriteOp{Kind: WriteAppend, Key: "k", Value: big}},
		&WriteResult{Version: v},
		&Events{Term: 1 << 50, First: 3, Reset: true, Events: []Event{}},
		&Events{Term: 9, First: 1 << 33, Events: []Event{{Reset: true}, {Key: "k", Value: []byte("v"), Version: v}, {Key: "d", Version: v, Deleted: true}}},
		&Events{Term: 9, Events: make([]Event, 20)},
		&ReplicateBatch{Items: []Replicate{{Bucket: 3, Since: 2, Entry: kv.Entry{Key: "a", Value: []byte("1"), Version: v}}, {Bucket: 1023, Entry: kv.Entry{Key: "b", Version: v, Deleted: true}}}},
		&ReplicateBatch{Items: make([]Replicate, 300)},
		&ReplicateBatchAck{Results: []ReplicateResult{{Applied: true}, {}, {Code: "stale_term", Message: "stale term: 3 < 4"}}},
		&ReadBatch{Reads: []Read{{Bucket: 3, Since: 2, Key: "a"}, {Bucket: 1023, Key: "b/c"}}},
		&ReadBatch{Reads: make([]Read, 300)},
		&ReadBatchResp{Results: []ReadResult{{Found: true, Entry: kv.Entry{Key: "a", Value: []byte("1"), Version: v}}, {}, {Code: "no_lease", Message: "no read lease"}}},
		&Replicate{Bucket: -7}, &Read{Bucket: -200}, &Read{Bucket: -40000}, &Read{Bucket: -1 << 40}, &Read{Bucket: 1 << 40},
	}
}

// TestGeneratedCodecReadsReflection checks that the generated and the
// reflection codecs read each other's bytes as the same message (an empty
// slice and a nil one count as equal: neither codec keeps the difference),
// so that the format is the same whichever side encodes.
func TestGeneratedCodecReadsReflection(t *testing.T) {
	var samples []generatedMessage
	for _, typ := range generatedTypes(t) {
		samples = append(samples, registry[typ]().(generatedMessage), sampleOf(typ).(generatedMessage))
	}
	samples = append(samples, edgeSamples()...)
	for i, m := range samples {
		name := fmt.Sprintf("sample %d %T", i, m)
		if back := roundTrip(t, m); !wireEqual(back, m) {
			t.Errorf("%s: generated codec round trip %+v, want %+v", name, back, m)
		}
		generated, err := m.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		viaReflection := newOf(m)
		if err := msgpack.Unmarshal(generated, viaReflection); err != nil || !wireEqual(viaReflection, m) {
			t.Errorf("%s: the reflection decoder reads the generated bytes as %+v, %v", name, viaReflection, err)
		}
		reflected, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		bySlow, byGenerated := newOf(m), newOf(m)
		if err := msgpack.Unmarshal(reflected, bySlow); err != nil {
			t.Fatal(err)
		}
		// The generated decoder may refuse (a nil slice, written as nil),
		// leaving the body to the reflection decoder, but must not read it
		// otherwise.
		if rest, err := byGenerated.UnmarshalMsg(reflected); err == nil && (len(rest) != 0 || !wireEqual(byGenerated, bySlow)) {
			t.Errorf("%s: the generated decoder reads the reflection bytes as %+v (%d left), the reflection decoder as %+v",
				name, byGenerated, len(rest), bySlow)
		}
		if got, err := Decode(m.WireType(), reflected); err != nil || !wireEqual(got, bySlow) {
			t.Errorf("%s: Decode of the reflection bytes: %+v, %v", name, got, err)
		}
	}
}

// wireEqual reports whether a and b are deeply equal, counting an empty
// slice as equal to a nil one.
func wireEqual(a, b any) bool {
	return reflect.DeepEqual(withoutEmptySlices(a), withoutEmptySlices(b))
}

// withoutEmptySlices returns a deep copy of x in which every empty slice is
// nil.
func withoutEmptySlices(x any) any {
	v := reflect.ValueOf(x)
	if !v.IsValid() {
		return x
	}
	c := reflect.New(v.Type()).Elem()
	copyNilEmpty(c, v)
	return c.Interface()
}

func copyNilEmpty(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(src.Type().Elem()))
		copyNilEmpty(dst.Elem(), src.Elem())
	case reflect.Struct:
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				copyNilEmpty(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyNilEmpty(dst.Index(i), src.Index(i))
		}
	default:
		if dst.CanSet() {
			dst.Set(src)
		}
	}
}

// TestDecodeFallsBack checks that bodies in other valid forms decode as
// the reflection decoder reads them: unknown fields, fields in another
// order, repeated keys, bytes sent as a string, integers of other widths.
func TestDecodeFallsBack(t *testing.T) {
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
	if want := (&Replicate{Bucket: 2, Since: 4, Entry: e}); !reflect.DeepEqual(m, want) {
		t.Fatalf("Decode = %+v, want %+v", m, want)
	}
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
		{"value as a string", TypeReplicate, func() any { return &Replicate{} },
			[]byte{0x81, 0xa1, 'e', 0x82, 0xa1, 'k', 0xa1, 'a', 0xa1, 'v', 0xa2, 'h', 'i'}},
		{"events nil", TypeEvents, func() any { return &Events{} },
			[]byte{0x82, 0xa1, 't', 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0xa1, 'e', 0xc0}},
		{"compact and wide integers", TypeWriteResult, func() any { return &WriteResult{} },
			[]byte{0x81, 0xa1, 'v', 0x82, 0xa1, 't', 0x05, 0xa1, 's', 0xcd, 0x01, 0x00}},
	} {
		m, err := Decode(tc.typ, tc.body)
		want := tc.into()
		werr := msgpack.Unmarshal(tc.body, want)
		if (err == nil) != (werr == nil) || (err == nil && !wireEqual(m, want)) {
			t.Errorf("%s: Decode = %+v, %v; the reflection decoder reads %+v, %v", tc.name, m, err, want, werr)
		}
	}
	// Truncated bodies are refused by the generated decoder, never read
	// past their end.
	full, err := (&Forward{Op: WriteOp{Kind: WritePut, Key: "key", Value: []byte("value")}}).MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(full) {
		var f Forward
		if rest, err := f.UnmarshalMsg(full[:n]); err == nil && len(rest) == 0 {
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
			if _, err := r.UnmarshalMsg(body); err != nil {
				b.Fatal(err)
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
			if _, err := m.MarshalMsg(make([]byte, 0, 64)); err != nil {
				b.Fatal(err)
			}
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
