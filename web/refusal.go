package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// Some requests never reach a handler: net/http refuses a request it
// cannot parse (a raw "%" in the path, as in /v1/kv/100%; a header block
// too large; an unknown transfer encoding) by writing a plain-text answer
// straight to the connection. JSONRefusals rewrites those answers, on
// their way out, into the JSON error every other answer uses, with the
// X-Jumpkv-Node and X-Jumpkv-Leader headers.
//
// net/http writes such an answer in one Write to the raw connection before
// it closes it; the answer's exact shape (a status line, then
// Content-Type: text/plain; charset=utf-8 and Connection: close, in that
// order, then the text) is one no handler's answer has, since net/http
// sorts a handler's headers (Connection before Content-Type) and adds a
// Date. Over TLS the connection net/http writes to is the TLS one, which
// this listener does not see into: a node serving HTTPS still answers
// those requests in plain text.

// IDs is what JSONRefusals needs of a node: its ID and its leader's.
type IDs interface {
	ID() shard.NodeID
	Leader() shard.NodeID
}

// JSONRefusals wraps ln so that the answers net/http gives without a
// handler are JSON errors with the node's headers (see above).
func JSONRefusals(ln net.Listener, ids IDs) net.Listener {
	return &refusalListener{Listener: ln, ids: ids}
}

type refusalListener struct {
	net.Listener
	ids IDs
}

func (l *refusalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &refusalConn{Conn: c, ids: l.ids}, nil
}

type refusalConn struct {
	net.Conn
	ids IDs
}

// refusalShape matches net/http's own plain-text refusal, whole.
var refusalShape = regexp.MustCompile(`\AHTTP/1\.[01] (\d{3}) [^\r\n]*\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n([^\r\n]*)\z`)

func (c *refusalConn) Write(p []byte) (int, error) {
	// Cheap tests first: every answer's first write starts with the
	// status line, and a refusal's status is 4xx or 5xx.
	if len(p) < 13 || !bytes.HasPrefix(p, []byte("HTTP/1.")) || p[9] != '4' && p[9] != '5' ||
		!bytes.Contains(p, []byte("\r\nConnection: close\r\n\r\n")) {
		return c.Conn.Write(p)
	}
	m := refusalShape.FindSubmatch(p)
	if m == nil {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(m[1]))
	if _, err := c.Conn.Write(refusalAnswer(status, string(m[2]), c.ids)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite half-closes the connection as the TCP one does: net/http
// uses it to let a client read an answer before the connection closes.
func (c *refusalConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom lets net/http send files with the TCP connection's sendfile,
// as it would without the wrapper; what it sends is a body, no refusal.
func (c *refusalConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// refusalAnswer is the JSON answer that replaces net/http's text.
func refusalAnswer(status int, text string, ids IDs) []byte {
	msg := text
	if status == http.StatusBadRequest && text == "400 Bad Request" {
		msg = "malformed request: not valid HTTP; a % in a path or query must start an escape such as %25 (for % itself) or %2F"
	}
	// Every such refusal is of the request as sent (a 431's headers, a
	// 501's transfer encoding): the client's to fix.
	body, _ := json.Marshal(ErrorBody{Error: msg, Code: wire.CodeOf(wire.ErrBadRequest)})
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(&b, "Connection: close\r\nContent-Length: %d\r\nContent-Type: application/json; charset=utf-8\r\n", len(body))
	fmt.Fprintf(&b, "X-Jumpkv-Leader: %d\r\nX-Jumpkv-Node: %d\r\n\r\n", uint64(ids.Leader()), uint64(ids.ID()))
	b.Write(body)
	return b.Bytes()
}

// rejectBadQuery answers 400 for a query string that does not parse (a
// raw "%"), which net/http passes on and gin would read as no parameters
// at all: ?prefix=a%zz must not list every key.
func rejectBadQuery(c *gin.Context) {
	if q := c.Request.URL.RawQuery; q != "" {
		if _, err := url.ParseQuery(q); err != nil {
			badRequest(c, fmt.Sprintf("malformed query string: %v; a %% must start an escape such as %%25 (for %% itself)", err))
			return
		}
	}
	c.Next()
}
