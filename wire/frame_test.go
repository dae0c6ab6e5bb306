package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// knownTypes returns every registered message type, in order.
func knownTypes() []Type {
	var out []Type
	for t := range registry {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// sampleOf returns a message of type t with every field set to something
// other than its zero value (two elements per slice, set pointers), so a
// round trip exercises all of it.
func sampleOf(t Type) Message {
	m := registry[t]()
	fillValue(reflect.ValueOf(m).Elem(), 1)
	return m
}

// fillValue sets v to a non-zero value derived from seed.
func fillValue(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-seed * 7))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed * 11))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(seed) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", seed))
	case reflect.Array:
		for i := range v.Len() {
			fillValue(v.Index(i), seed+i)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillValue(k, seed)
		fillValue(e, seed+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillValue(s.Index(i), seed*3+i)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(p.Elem(), seed+1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillValue(v.Field(i), seed+i)
			}
		}
	default: // interfaces and the like stay zero
	}
}

func TestFrameRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	types := knownTypes()
	var stream []byte
	var headers []Header
	var bodies [][]byte
	for range 500 {
		h := Header{
			Type:  types[rng.IntN(len(types))],
			Flags: Flags(rng.IntN(2)),
			ID:    rng.Uint64(),
			From:  rng.Uint64(),
			Term:  rng.Uint64(),
		}
		body := make([]byte, rng.IntN(3000))
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		stream = AppendFrame(stream, h, body)
		headers = append(headers, h)
		bodies = append(bodies, body)
	}
	r := bytes.NewReader(stream)
	for i := range headers {
		h, body, err := ReadFrame(r, 4096)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if h != headers[i] || !bytes.Equal(body, bodies[i]) {
			t.Fatalf("frame %d: got %+v with %d bytes, want %+v with %d", i, h, len(body), headers[i], len(bodies[i]))
		}
	}
	if _, _, err := ReadFrame(r, 4096); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestEveryMessageRoundTrips(t *testing.T) {
	for _, typ := range knownTypes() {
		m := sampleOf(typ)
		if m.WireType() != typ {
			t.Fatalf("registry[%d] builds a %T of type %d", typ, m, m.WireType())
		}
		body, err := Encode(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		frame := AppendFrame(nil, Header{Type: typ, ID: 5, From: 6, Term: 7}, body)
		h, got, err := ReadFrame(bytes.NewReader(frame), DefaultMaxFrame)
		if err != nil || h.Type != typ || !bytes.Equal(got, body) {
			t.Fatalf("%T: frame round trip %+v, %v", m, h, err)
		}
		back, err := Decode(h.Type, got)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Errorf("%T: decoded %+v, want %+v", m, back, m)
		}
		// The zero value round-trips too (nil slices and pointers stay nil).
		zero := registry[typ]()
		if body, err = Encode(zero); err != nil {
			t.Fatalf("zero %T: %v", zero, err)
		}
		if back, err = Decode(typ, body); err != nil || !reflect.DeepEqual(back, zero) {
			t.Errorf("zero %T: decoded %+v, %v", zero, back, err)
		}
	}
}

// TestRegistryCoversMessages checks, from the source of messages.go and
// message.go, that every Type constant is registered, and every type with
// a WireType method is built by the registry entry of the type it returns,
// so TestEveryMessageRoundTrips (which walks the registry) covers every
// message.
func TestRegistryCoversMessages(t *testing.T) {
	fset := token.NewFileSet()
	consts := make(map[string]Type)      // constant name -> value
	wireTypes := make(map[string]string) // message type name -> constant its WireType returns
	for _, file := range []string{"message.go", "messages.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
						continue
					}
					for i, name := range vs.Names {
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok {
							t.Fatalf("%s: constant %s is not a literal", file, name.Name)
						}
						v, err := strconv.ParseUint(lit.Value, 0, 8)
						if err != nil {
							t.Fatalf("%s: constant %s: %v", file, name.Name, err)
						}
						consts[name.Name] = Type(v)
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name != "WireType" || d.Recv == nil || len(d.Recv.List) != 1 {
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				ret, ok := d.Body.List[0].(*ast.ReturnStmt)
				if !ok || len(d.Body.List) != 1 || len(ret.Results) != 1 {
					t.Fatalf("%s: %s.WireType is not a single return", file, recv.(*ast.Ident).Name)
				}
				wireTypes[recv.(*ast.Ident).Name] = ret.Results[0].(*ast.Ident).Name
			}
		}
	}
	if len(consts) == 0 || len(wireTypes) == 0 {
		t.Fatalf("found %d Type constants and %d WireType methods", len(consts), len(wireTypes))
	}
	seen := make(map[Type]string)
	for name, typ := range consts {
		if other, dup := seen[typ]; dup {
			t.Errorf("%s and %s are both type %d", name, other, typ)
		}
		seen[typ] = name
		if !Known(typ) {
			t.Errorf("%s (%d) is not in the registry", name, typ)
		}
	}
	if len(registry) != len(consts) {
		t.Errorf("the registry has %d entries for %d Type constants", len(registry), len(consts))
	}
	for msg, constName := range wireTypes {
		typ, ok := consts[constName]
		if !ok {
			t.Errorf("%s.WireType returns %s, not a Type constant", msg, constName)
			continue
		}
		newMsg := registry[typ]
		if newMsg == nil {
			t.Errorf("%s (%s) is not in the registry", msg, constName)
			continue
		}
		if got := reflect.TypeOf(newMsg()).Elem().Name(); got != msg {
			t.Errorf("registry[%s] builds a %s, want %s", constName, got, msg)
		}
	}
	if len(wireTypes) != len(consts) {
		t.Errorf("%d message types for %d Type constants", len(wireTypes), len(consts))
	}
}

// trickleReader returns its data a few bytes at a time, as a slow
// connection does.
type trickleReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *trickleReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+r.rng.IntN(3000))], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadFrameLargeBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want []Header
	var bodies [][]byte
	for _, size := range []int{0, 1, 100, smallFrame - HeaderLen, smallFrame - HeaderLen + 1, 200_000, 1 << 20, 1<<20 + 12345} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		h := Header{Type: TypeChunk, ID: rng.Uint64(), From: rng.Uint64(), Term: rng.Uint64()}
		stream = AppendFrame(stream, h, body)
		want = append(want, h)
		bodies = append(bodies, body)
	}
	for name, r := range map[string]io.Reader{
		"at once":   bytes.NewReader(stream),
		"buffered":  bufio.NewReader(bytes.NewReader(stream)),
		"trickling": &trickleReader{data: stream, rng: rng},
	} {
		for i := range want {
			h, body, err := ReadFrame(r, 2<<20)
			if err != nil || h != want[i] || !bytes.Equal(body, bodies[i]) {
				t.Fatalf("%s: frame %d (%d bytes): %+v, %v", name, i, len(bodies[i]), h, err)
			}
			if cap(body) != len(body) {
				t.Errorf("%s: frame %d: a %d-byte body in a buffer of %d", name, i, len(body), cap(body))
			}
		}
		if _, _, err := ReadFrame(r, 2<<20); err != io.EOF {
			t.Fatalf("%s: at the end: %v, want io.EOF", name, err)
		}
	}
	big := AppendFrame(nil, Header{Type: 200}, make([]byte, 100_000))
	if _, _, err := ReadFrame(bytes.NewReader(big), 2<<20); !errors.Is(err, ErrBadFrame) {
		t.Errorf("large frame of an unknown type: %v, want ErrBadFrame", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(big), 100_000); !errors.Is(err, ErrBadFrame) {
		t.Errorf("large frame over the limit: %v, want ErrBadFrame", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(big[:len(big)-1]), 2<<20); !errors.Is(err, ErrBadFrame) {
		t.Errorf("large frame one byte short: %v, want ErrBadFrame", err)
	}
}

// stallReader returns its data, then the error.
type stallReader struct {
	data []byte
	err  error
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	// Each claims a max-size frame, sends its header and some of the body,
	// then stops.
	for _, sent := range []int{0, 100, 100_000, 1 << 20} {
		frame := AppendFrame(nil, Header{Type: TypeReplicate, ID: 1}, make([]byte, sent))
		binary.BigEndian.PutUint32(frame, DefaultMaxFrame)
		var err error
		n := bytesAllocated(func() {
			_, _, err = ReadFrame(&stallReader{data: frame, err: io.EOF}, DefaultMaxFrame)
		})
		if !errors.Is(err, ErrBadFrame) {
			t.Fatalf("16 MB claim with %d bytes, then EOF: %v, want ErrBadFrame", sent, err)
		}
		if n > readAllocBound(len(frame)) {
			t.Errorf("16 MB claim with %d bytes: allocated %d KB, over the bound of %d KB", sent, n>>10, readAllocBound(len(frame))>>10)
		}
		t.Logf("16 MB claim with %d bytes of body: allocated %d KB", sent, n>>10)
	}
	// Any other error inside a frame, such as a closed connection, is
	// returned as it is; so it is inside the length.
	errGone := errors.New("connection gone")
	frame := AppendFrame(nil, Header{Type: TypeReplicate, ID: 1}, make([]byte, 100))
	binary.BigEndian.PutUint32(frame, DefaultMaxFrame)
	for _, cut := range []int{2, len(frame)} {
		if _, _, err := ReadFrame(&stallReader{data: frame[:cut], err: errGone}, DefaultMaxFrame); err != errGone {
			t.Errorf("connection error after %d bytes: %v, want it returned as is", cut, err)
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	good := AppendFrame(nil, Header{Type: TypeHello, ID: 1}, []byte{0x80})
	with := func(i int, b byte) []byte {
		f := bytes.Clone(good)
		f[i] = b
		return f
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"length below the header", []byte{0, 0, 0, HeaderLen - 1}},
		{"length zero", []byte{0, 0, 0, 0}},
		{"length over the limit", []byte{0, 0, 0x10, 0x01}},
		{"length 0xFFFFFFFF", []byte{0xff, 0xff, 0xff, 0xff}},
		{"bad version", with(4, ProtocolVersion+1)},
		{"version zero", with(4, 0)},
		{"unknown type", with(5, 0xee)},
		{"type zero", with(5, 0)},
		{"unknown flags", with(6, 0x02)},
		{"truncated header", good[:10]},
		{"truncated body", good[:len(good)-1]},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := ReadFrame(bytes.NewReader(c.data), 4096)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: %v, want ErrBadFrame", c.name, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 { // far below any claim; room for noise
			t.Errorf("%s: allocated %d bytes", c.name, n)
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader(nil), 4096); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
	// A stream that ends inside the length prefix is a truncated frame,
	// not a clean end.
	for n := 1; n < 4; n++ {
		if _, _, err := ReadFrame(bytes.NewReader(good[:n]), 4096); !errors.Is(err, ErrBadFrame) {
			t.Errorf("input ending after %d bytes of the length: %v, want ErrBadFrame", n, err)
		}
	}
	// So is one that ends after a whole frame and part of the next length.
	r := bytes.NewReader(append(bytes.Clone(good), 0))
	if _, _, err := ReadFrame(r, 4096); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFrame(r, 4096); !errors.Is(err, ErrBadFrame) {
		t.Errorf("second frame cut inside its length: %v, want ErrBadFrame", err)
	}
	// Exactly the limit is allowed.
	if _, _, err := ReadFrame(bytes.NewReader(good), len(good)-4); err != nil {
		t.Errorf("frame of exactly maxFrame: %v", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(good), len(good)-5); !errors.Is(err, ErrBadFrame) {
		t.Errorf("frame one byte over maxFrame: %v, want ErrBadFrame", err)
	}
}

func TestDecodeRejectsUnknownTypeAndBadBody(t *testing.T) {
	if _, err := Decode(0xee, []byte{0x80}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("unknown type: %v, want ErrBadFrame", err)
	}
	for _, body := range [][]byte{{}, {0xc1}, {0x81, 0xa1}, {0xdd, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := Decode(TypeHello, body); !errors.Is(err, ErrBadFrame) {
			t.Errorf("Hello body % x: %v, want ErrBadFrame", body, err)
		}
	}
}
