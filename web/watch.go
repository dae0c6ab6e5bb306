package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/watch"
	"github.com/jumpkv/jumpkv/wire"
)

// WebSocket timings and limits.
const (
	watchWriteWait  = 10 * time.Second // for one message to be written
	watchPongWait   = 60 * time.Second // for the client's pong or message
	watchPingPeriod = watchPongWait * 9 / 10
	watchReadLimit  = 4 << 10 // clients send nothing but control frames
)

// Close codes sent when the server ends a watch.
const (
	CloseTooSlow = 4001 // the watcher fell behind: reconnect with ?since
)

// WatchMessage is one JSON text message on a watch.
type WatchMessage struct {
	Type    string `json:"type"` // put, delete or reset
	Key     string `json:"key,omitempty"`
	Value   []byte `json:"value,omitempty"` // base64 in JSON
	Version string `json:"version,omitempty"`
	// Size and File describe a file's put, which carries no value.
	Size *int64 `json:"size,omitempty"`
	File bool   `json:"file,omitempty"`
}

func watchMessage(e wire.Event) WatchMessage {
	switch {
	case e.Reset:
		return WatchMessage{Type: "reset"}
	case e.Deleted && e.Expired:
		return WatchMessage{Type: "expire", Key: e.Key, Version: e.Version.String()}
	case e.Deleted:
		return WatchMessage{Type: "delete", Key: e.Key, Version: e.Version.String()}
	}
	if size, ok := fileSize(e); ok { // files.go
		return WatchMessage{Type: "put", Key: e.Key, Version: e.Version.String(), Size: &size, File: true}
	}
	v := e.Value
	if v == nil {
		v = []byte{}
	}
	return WatchMessage{Type: "put", Key: e.Key, Value: v, Version: e.Version.String()}
}

// newUpgrader accepts the WebSockets the origin policy allows: clients
// that send no Origin (command-line tools), the node's own pages, and the
// origins allowed, on a Host that is a name of the node unless --users
// is set (origin.go).
func newUpgrader(p *originPolicy) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(r *http.Request) bool { return p.check(r, true) == nil },
	}
}

// watch serves GET /v1/watch?prefix=P&since=V: one goroutine reads (and
// discards) what the client sends, watching for its departure; this one
// writes the events and the pings.
func (a *api) watch(c *gin.Context) {
	var since *store.Version
	if s := c.Query("since"); s != "" {
		v, err := store.ParseVersion(s)
		if err != nil {
			badRequest(c, "since must be a version such as 3.14: "+err.Error())
			return
		}
		since = &v
	}
	if !websocket.IsWebSocketUpgrade(c.Request) {
		badRequest(c, "/v1/watch is a WebSocket: send an Upgrade: websocket request")
		return
	}
	// Refused before it takes one of the watcher slots.
	if err := a.origins.check(c.Request, true); err != nil {
		writeError(c, err)
		return
	}
	prefix, ok := a.scope(c, c.Query("prefix"))
	if !ok {
		return
	}
	sub, err := a.b.Watch(prefix, since)
	if err != nil {
		writeError(c, err)
		return
	}
	defer a.b.Unwatch(sub)
	conn, err := a.upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	defer conn.Close()

	gone := make(chan struct{})
	go func() {
		defer close(gone)
		conn.SetReadLimit(watchReadLimit)
		_ = conn.SetReadDeadline(time.Now().Add(watchPongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(watchPongWait)) })
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(watchPingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-gone:
			return
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(watchWriteWait)) != nil {
				return
			}
		case <-sub.Ready():
			evs, open := sub.Take()
			for i, e := range evs {
				if sub.Ended() {
					break // dropped meanwhile: say so rather than send the rest
				}
				evs[i] = wire.Event{} // let the value go once it is sent
				_ = conn.SetWriteDeadline(time.Now().Add(watchWriteWait))
				if conn.WriteJSON(watchMessage(e)) != nil {
					return
				}
			}
			if !open || sub.Ended() {
				code, text := websocket.CloseGoingAway, "node stopping"
				if errors.Is(sub.Err(), watch.ErrTooSlow) {
					code, text = CloseTooSlow, "watcher too slow: reconnect with ?since=<last version>"
				}
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(watchWriteWait))
				return
			}
		}
	}
}
