package transport

import (
	"fmt"

	"github.com/jumpkv/jumpkv/wire"
)

// maxErrorText bounds the error text a response carries, so an error
// answer always fits in a frame.
const maxErrorText = 4 << 10

// encodeRequest encodes msg for a frame of at most maxFrame bytes. It fails
// with wire.ErrTooLarge when the frame would be larger, and wraps
// wire.ErrBadRequest when msg does not encode. Runs on the caller's
// goroutine.
func encodeRequest(msg wire.Message, maxFrame int) ([]byte, error) {
	return appendRequest(nil, msg, maxFrame)
}

// appendRequest is encodeRequest appending to dst.
func appendRequest(dst []byte, msg wire.Message, maxFrame int) ([]byte, error) {
	if msg == nil {
		return nil, fmt.Errorf("transport: %w: nil message", wire.ErrBadRequest)
	}
	body, err := wire.AppendEncode(dst, msg)
	if err != nil {
		return nil, fmt.Errorf("transport: %w: encode %T: %v", wire.ErrBadRequest, msg, err)
	}
	if n := wire.HeaderLen + len(body); n > maxFrame {
		return nil, fmt.Errorf("transport: %w: %T request frame of %d bytes over the limit %d",
			wire.ErrTooLarge, msg, n, maxFrame)
	}
	return body, nil
}

// encodeResponse turns a handler's result into the type and body of a
// response frame of at most maxFrame bytes: herr becomes a wire.ErrorMsg, a
// nil message becomes wire.OK, and a message that does not encode or fit
// becomes an ErrorMsg saying so. It never fails.
func encodeResponse(resp wire.Message, herr error, maxFrame int) (wire.Type, []byte) {
	return appendResponse(nil, resp, herr, maxFrame)
}

// appendResponse is encodeResponse appending to dst.
func appendResponse(dst []byte, resp wire.Message, herr error, maxFrame int) (wire.Type, []byte) {
	if herr != nil {
		resp = errorMsg(herr)
	} else if resp == nil {
		resp = &wire.OK{}
	}
	body, err := wire.AppendEncode(dst[:0], resp)
	if err != nil {
		resp = errorMsg(fmt.Errorf("%w: encode response %T: %v", wire.ErrInternal, resp, err))
		body, _ = wire.AppendEncode(dst[:0], resp)
	} else if n := wire.HeaderLen + len(body); n > maxFrame {
		resp = errorMsg(fmt.Errorf("%w: %T response frame of %d bytes over the limit %d",
			wire.ErrTooLarge, resp, n, maxFrame))
		body, _ = wire.AppendEncode(dst[:0], resp)
	}
	return resp.WireType(), body
}

// errorMsg is wire.NewErrorMsg with the text cut to maxErrorText.
func errorMsg(err error) *wire.ErrorMsg {
	m := wire.NewErrorMsg(err)
	if len(m.Message) > maxErrorText {
		m.Message = m.Message[:maxErrorText] + "..."
	}
	return m
}

// decodeReply turns a response frame into the caller's result: the
// responder's Envelope and, for a wire.ErrorMsg, the remote error.
func decodeReply(h wire.Header, body []byte) (Envelope, error) {
	env := Envelope{From: h.From, Term: h.Term}
	msg, err := wire.Decode(h.Type, body)
	if err != nil {
		return env, fmt.Errorf("transport: response: %w", err)
	}
	env.Msg = msg
	if em, ok := msg.(*wire.ErrorMsg); ok {
		return env, em.Err()
	}
	return env, nil
}
