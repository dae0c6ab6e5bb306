package wire

func (m *Replicate) appendMsgpack(b []byte) []byte {
	b = appendMapHeader(b, 3)
	b = appendInt(appendKey(b, 'b'), m.Bucket)
	b = appendUint64(appendKey(b, 's'), m.Since)
	return appendEntry(appendKey(b, 'e'), m.Entry)
}

func (m *Replicate) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v Replicate
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'b':
			v.Bucket = r.int()
		case 's':
			v.Since = r.uint()
		case 'e':
			v.Entry = r.entry()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *ReplicateAck) appendMsgpack(b []byte) []byte {
	return appendBool(appendKey(appendMapHeader(b, 1), 'a'), m.Applied)
}

func (m *ReplicateAck) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v ReplicateAck
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'a':
			v.Applied = r.bool()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *Read) appendMsgpack(b []byte) []byte {
	n := 3
	for _, f := range [...]bool{m.ViaLeader, m.Acting, m.Raw} {
		if f {
			n++
		}
	}
	b = appendMapHeader(b, n)
	b = appendInt(appendKey(b, 'b'), m.Bucket)
	b = appendUint64(appendKey(b, 's'), m.Since)
	b = appendString(appendKey(b, 'k'), m.Key)
	if m.ViaLeader {
		b = appendBool(appendKey(b, 'l'), true)
	}
	if m.Acting {
		b = appendBool(appendKey(b, 'a'), true)
	}
	if m.Raw {
		b = appendBool(appendKey(b, 'r'), true)
	}
	return b
}

func (m *Read) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v Read
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'b':
			v.Bucket = r.int()
		case 's':
			v.Since = r.uint()
		case 'k':
			v.Key = r.string()
		case 'l':
			v.ViaLeader = r.bool()
		case 'a':
			v.Acting = r.bool()
		case 'r':
			v.Raw = r.bool()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *ReadResp) appendMsgpack(b []byte) []byte {
	b = appendMapHeader(b, 2)
	b = appendBool(appendKey(b, 'f'), m.Found)
	return appendEntry(appendKey(b, 'e'), m.Entry)
}

func (m *ReadResp) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v ReadResp
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'f':
			v.Found = r.bool()
		case 'e':
			v.Entry = r.entry()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *Forward) appendMsgpack(b []byte) []byte {
	op := &m.Op
	n := 2
	for _, f := range [...]bool{len(op.Value) > 0, op.ContentType != "", hasIfMatch(op), op.IfNoneMatch, op.IfExists} {
		if f {
			n++
		}
	}
	b = appendKey(appendMapHeader(b, 1), 'o')
	b = appendMapHeader(b, n)
	b = append(appendKey(b, 'o'), 0xcc, byte(op.Kind))
	b = appendString(appendKey(b, 'k'), op.Key)
	if len(op.Value) > 0 {
		b = appendBytes(appendKey(b, 'v'), op.Value)
	}
	if op.ContentType != "" {
		b = appendString(appendKey(b, 'c'), op.ContentType)
	}
	if hasIfMatch(op) {
		b = appendVersion(appendKey(b, 'm'), *op.IfMatch)
	}
	if op.IfNoneMatch {
		b = appendBool(appendKey(b, 'n'), true)
	}
	if op.IfExists {
		b = appendBool(appendKey(b, 'x'), true)
	}
	return b
}

// hasIfMatch reports whether IfMatch goes on the wire: the reflection
// codec's omitempty leaves out a nil pointer and also a zero version (it
// honours IsZero), so a zero IfMatch means no condition on the wire. The
// HTTP layer answers If-Match "0.0" with 412 before it gets here.
func hasIfMatch(op *WriteOp) bool { return op.IfMatch != nil && !op.IfMatch.IsZero() }

func (m *Forward) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v Forward
	var seenOp uint32
	for range r.mapLen() {
		if r.field(&seenOp) != 'o' {
			r.fail()
			break
		}
		var seen uint32
		for range r.mapLen() {
			switch r.field(&seen) {
			case 'o':
				k := r.uint()
				if k > 255 {
					r.fail()
				}
				v.Op.Kind = WriteKind(k)
			case 'k':
				v.Op.Key = r.string()
			case 'v':
				v.Op.Value = r.bytes()
			case 'c':
				v.Op.ContentType = r.string()
			case 'm':
				if len(r.b) > 0 && r.b[0] == 0xc0 {
					r.b = r.b[1:]
					v.Op.IfMatch = nil
					continue
				}
				ver := r.version()
				v.Op.IfMatch = &ver
			case 'n':
				v.Op.IfNoneMatch = r.bool()
			case 'x':
				v.Op.IfExists = r.bool()
			default:
				r.fail()
			}
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *WriteResult) appendMsgpack(b []byte) []byte {
	return appendVersion(appendKey(appendMapHeader(b, 1), 'v'), m.Version)
}

func (m *WriteResult) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v WriteResult
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'v':
			v.Version = r.version()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (m *Events) appendMsgpack(b []byte) []byte {
	n := 3
	if m.Reset {
		n++
	}
	b = appendMapHeader(b, n)
	b = appendUint64(appendKey(b, 't'), m.Term)
	b = appendUint64(appendKey(b, 'f'), m.First)
	if m.Reset {
		b = appendBool(appendKey(b, 'r'), true)
	}
	b = appendKey(b, 'e')
	if m.Events == nil {
		return append(b, 0xc0)
	}
	b = appendArrayHeader(b, len(m.Events))
	for i := range m.Events {
		b = appendEvent(b, &m.Events[i])
	}
	return b
}

func appendEvent(b []byte, e *Event) []byte {
	n := 1
	for _, f := range [...]bool{e.Key != "", len(e.Value) > 0, e.Deleted, e.Reset} {
		if f {
			n++
		}
	}
	b = appendMapHeader(b, n)
	if e.Key != "" {
		b = appendString(appendKey(b, 'k'), e.Key)
	}
	if len(e.Value) > 0 {
		b = appendBytes(appendKey(b, 'v'), e.Value)
	}
	b = appendVersion(appendKey(b, 'n'), e.Version)
	if e.Deleted {
		b = appendBool(appendKey(b, 'd'), true)
	}
	if e.Reset {
		b = appendBool(appendKey(b, 'r'), true)
	}
	return b
}

func (m *Events) decodeMsgpack(b []byte) bool {
	r := reader{b: b}
	var v Events
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 't':
			v.Term = r.uint()
		case 'f':
			v.First = r.uint()
		case 'r':
			v.Reset = r.bool()
		case 'e':
			n, isNil := r.arrayLen()
			// Each event takes at least 2 bytes: a claim beyond the body is
			// refused before allocating for it.
			if isNil || n > len(r.b)/2 {
				if !isNil {
					r.fail()
				}
				v.Events = nil
				continue
			}
			v.Events = make([]Event, n)
			for i := range v.Events {
				v.Events[i] = r.event()
			}
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*m = v
	return true
}

func (r *reader) event() Event {
	var e Event
	var seen uint32
	for range r.mapLen() {
		switch r.field(&seen) {
		case 'k':
			e.Key = r.string()
		case 'v':
			e.Value = r.bytes()
		case 'n':
			e.Version = r.version()
		case 'd':
			e.Deleted = r.bool()
		case 'r':
			e.Reset = r.bool()
		default:
			r.fail()
		}
	}
	return e
}
