package wire

import (
	"fmt"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// Type identifies a message kind on the wire. Numbers are append-only: a
// number, once given, never changes meaning.
type Type uint8

// Message is anything that travels between nodes as a frame body.
type Message interface {
	// WireType returns the message's fixed Type.
	WireType() Type
}

// Encode returns m's msgpack body, written by m's generated encoder for
// the messages of fastmessages.go and by the reflection codec for the
// others.
func Encode(m Message) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 256), m)
}

// AppendEncode is Encode appending to dst (which it may reuse), so a caller
// can keep one buffer for many messages.
func AppendEncode(dst []byte, m Message) ([]byte, error) {
	if f, ok := m.(msgp.Marshaler); ok {
		return f.MarshalMsg(dst)
	}
	b, err := msgpack.Marshal(m)
	return append(dst, b...), err
}

// Decode parses a frame body of type t. It fails with ErrBadFrame for an
// unknown type or a body that does not decode. It is safe on any input:
// checkBody first refuses bodies whose length claims or nesting exceed what
// the body holds, so decoding allocates at most a small multiple of
// len(body) and never recurses deeply. A message with a generated decoder
// (fastmessages.go) is read by it; a body it refuses, such as one in which
// another encoder chose other msgpack types, goes to the reflection
// decoder, which reads the same messages.
func Decode(t Type, body []byte) (Message, error) {
	if err := checkBody(body); err != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
	}
	if err := checkCounts(t, body); err != nil {
		return nil, err
	}
	newMsg, ok := registry[t]
	if !ok || newMsg == nil {
		return nil, fmt.Errorf("%w: unknown message type %d", ErrBadFrame, t)
	}
	m := newMsg()
	if f, ok := m.(msgp.Unmarshaler); ok {
		if rest, err := f.UnmarshalMsg(body); err == nil && len(rest) == 0 {
			return m, nil
		}
		m = newMsg() // the refused attempt may have filled some fields
	}
	if err := msgpack.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrBadFrame, t, err)
	}
	return m, nil
}

// Known reports whether t is a message type this build understands.
func Known(t Type) bool {
	_, ok := registry[t]
	return ok
}

// ErrorMsg carries a failed request's error across a hop. ErrorOf turns it
// back into an error that matches the original sentinel.
type ErrorMsg struct {
	Code    string `msgpack:"c"`
	Message string `msgpack:"m"`
}

// NewErrorMsg wraps err for the wire.
func NewErrorMsg(err error) *ErrorMsg {
	return &ErrorMsg{Code: CodeOf(err), Message: err.Error()}
}

// Err returns the error the message carries.
func (m *ErrorMsg) Err() error { return ErrorOf(m.Code, m.Message) }

// OK is an empty success answer.
type OK struct{}
