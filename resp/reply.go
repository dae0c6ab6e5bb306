package resp

import (
	"strconv"

	"github.com/tidwall/redcon"
)

// reply encodes answers in the connection's protocol: RESP2 by default,
// RESP3 after HELLO 3. redcon encodes the types both share; the RESP3-only
// forms (null, map, set, push, boolean) are written here, as redcon has
// none of them.
type reply struct {
	b     []byte
	resp3 bool
}

func (r *reply) ok()                 { r.b = append(r.b, "+OK\r\n"...) }
func (r *reply) simple(s string)     { r.b = redcon.AppendString(r.b, s) }
func (r *reply) err(msg string)      { r.b = redcon.AppendError(r.b, msg) }
func (r *reply) int(n int64)         { r.b = redcon.AppendInt(r.b, n) }
func (r *reply) bulk(v []byte)       { r.b = redcon.AppendBulk(r.b, v) }
func (r *reply) bulkString(s string) { r.b = redcon.AppendBulkString(r.b, s) }
func (r *reply) array(n int)         { r.b = redcon.AppendArray(r.b, n) }

// null is a missing value: $-1 in RESP2, _ in RESP3.
func (r *reply) null() {
	if r.resp3 {
		r.b = append(r.b, "_\r\n"...)
		return
	}
	r.b = append(r.b, "$-1\r\n"...)
}

// nullArray is a missing array (*-1 in RESP2, _ in RESP3).
func (r *reply) nullArray() {
	if r.resp3 {
		r.b = append(r.b, "_\r\n"...)
		return
	}
	r.b = append(r.b, "*-1\r\n"...)
}

// mapHeader starts a map of n pairs: a flat array of 2n in RESP2.
func (r *reply) mapHeader(n int) {
	if r.resp3 {
		r.b = append(strconv.AppendInt(append(r.b, '%'), int64(n), 10), '\r', '\n')
		return
	}
	r.array(2 * n)
}

// setHeader starts a set of n elements: an array in RESP2.
func (r *reply) setHeader(n int) {
	if r.resp3 {
		r.b = append(strconv.AppendInt(append(r.b, '~'), int64(n), 10), '\r', '\n')
		return
	}
	r.array(n)
}

// pushHeader starts an out-of-band message (pub/sub): an array in RESP2.
func (r *reply) pushHeader(n int) {
	if r.resp3 {
		r.b = append(strconv.AppendInt(append(r.b, '>'), int64(n), 10), '\r', '\n')
		return
	}
	r.array(n)
}

// bulkOrNull writes v, or null when !found.
func (r *reply) bulkOrNull(v []byte, found bool) {
	if !found {
		r.null()
		return
	}
	r.bulk(v)
}

// strings writes an array of bulk strings.
func (r *reply) strings(ss []string) {
	r.array(len(ss))
	for _, s := range ss {
		r.bulkString(s)
	}
}
