package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// EventType says what an Event is.
type EventType string

// The event types.
const (
	// EventPut: the key was created, replaced or appended to.
	EventPut EventType = "put"
	// EventDelete: the key was deleted.
	EventDelete EventType = "delete"
	// EventExpire: the key expired (nodes with expiry).
	EventExpire EventType = "expire"
	// EventReset: changes may have been missed (a new leader, a gap in
	// the stream, a history too short to resume from, a connection lost
	// before any version was known). Re-read what you mirror.
	EventReset EventType = "reset"
)

// Event is one change under a watched prefix.
type Event struct {
	Type EventType `json:"type"`
	Key  string    `json:"key,omitempty"`
	// Value is the new value of a put (nil for a file written over FTP,
	// whose Size says how large it is, and for other types).
	Value []byte `json:"value,omitempty"`
	// Version of the change: events of one key come in version order.
	Version string `json:"version,omitempty"`
	// Size and File describe a file written over FTP.
	Size int64 `json:"size,omitempty"`
	File bool  `json:"file,omitempty"`
}

// WatchOption shapes a Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	onDrop    func(error)
	onConnect func(endpoint string)
}

// OnConnect calls f, from the watching goroutine, each time the watch's
// WebSocket is open at endpoint: every change acknowledged from then on
// will be delivered. f should return quickly.
func OnConnect(f func(endpoint string)) WatchOption {
	return func(o *watchOptions) { o.onConnect = f }
}

// OnDrop calls f, from the watching goroutine, each time the watch's
// connection ends or cannot be made and the watch is about to resume.
// For logging; f should return quickly.
func OnDrop(f func(error)) WatchOption { return func(o *watchOptions) { o.onDrop = f } }

// Watch yields the changes under prefix ("" for every key) as they
// happen, starting after version since ("" for: from now). It keeps
// going until ctx ends or the loop stops: when its connection drops or its
// node goes away, it resumes from the last version it yielded, at the next
// endpoint, with backoff while none can be reached. When changes may have
// been missed it yields an EventReset. An error is yielded only when the
// server refuses the watch for good (ErrBadRequest for a since it cannot
// read, ErrUnauthorized, ErrForbidden); it ends the iteration.
//
//	for ev, err := range c.Watch(ctx, "sensors/", "") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.Key, ev.Version)
//	}
func (c *Client) Watch(ctx context.Context, prefix, since string, opts ...WatchOption) iter.Seq2[Event, error] {
	var o watchOptions
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(Event, error) bool) {
		w := &watch{c: c, prefix: prefix, last: since, opts: o}
		w.run(ctx, yield)
	}
}

// watch is the state of one Watch iteration (owned by its goroutine).
type watch struct {
	c      *Client
	prefix string
	last   string // the last version yielded (or since)
	opts   watchOptions
	holds  int // resumptions in a row that began with a reset, held back
}

// A watch resumed with a version whose first message is a reset may have
// reached a node that has not yet received that version: it is asked
// again, up to maxResetHolds times (after 50, 100, 200... ms), before the
// reset is delivered. Nothing is lost by asking again: a reset that really
// followed the version is replayed with the changes after it.
const (
	maxResetHolds  = 4
	resetHoldDelay = 50 * time.Millisecond
)

// errEarlyReset ends a resumed connection whose first message was a reset.
var errEarlyReset = errors.New("resumed watch began with a reset")

func (w *watch) run(ctx context.Context, yield func(Event, error) bool) {
	n := len(w.c.endpoints)
	idx := int(w.c.start.Load()) % n
	failures := 0 // connection attempts failed in a row
	connected := false
	for ctx.Err() == nil {
		conn, err := w.dial(ctx, w.c.endpoints[idx])
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var e *Error
			if errors.As(err, &e) && e.Status != 0 && e.Kind != ErrUnavailable && e.Kind != ErrServer {
				yield(Event{}, err) // refused for good
				return
			}
			if errors.As(err, &e) && e.Status == 0 && classify(e.Err) == permanent {
				yield(Event{}, err)
				return
			}
			failures++
			w.dropped(err)
			idx = (idx + 1) % n
			if failures%n == 0 { // every endpoint failed: back off
				d := w.c.cfg.retry.backoff(min(failures/n, 30))
				if !sleep(ctx, d) {
					return
				}
			}
			continue
		}
		if connected && w.last == "" {
			// Changes between the lost connection and this one cannot
			// be replayed without a version to resume from.
			if !yield(Event{Type: EventReset}, nil) {
				conn.Close()
				return
			}
		}
		connected = true
		if w.opts.onConnect != nil {
			w.opts.onConnect(w.c.endpoints[idx])
		}
		began := time.Now()
		hold := w.last != "" && w.holds < maxResetHolds
		delivered, stop, err := w.stream(ctx, conn, hold, yield)
		if stop || ctx.Err() != nil {
			return
		}
		if errors.Is(err, errEarlyReset) {
			// The node may not have received the version we resume
			// from yet (the leader streams changes to every node
			// asynchronously): ask it again shortly.
			w.holds++
			w.c.cfg.logger.Debug("jumpkv client: watch resumed with a reset; asking again", "since", w.last, "endpoint", w.c.endpoints[idx])
			if !sleep(ctx, resetHoldDelay<<(w.holds-1)) {
				return
			}
			continue
		}
		if delivered {
			w.holds = 0
		}
		w.dropped(err)
		idx = (idx + 1) % n // resume at another node: this one may be going away
		if delivered || time.Since(began) > w.c.cfg.watchKeepalive {
			failures = 0
			continue
		}
		// A connection that ended at once with nothing to show counts
		// as a failure, so that a node that keeps closing watches is not
		// redialled in a tight loop.
		failures++
		if failures%n == 0 && !sleep(ctx, w.c.cfg.retry.backoff(min(failures/n, 30))) {
			return
		}
	}
}

// dropped reports a lost or failed connection.
func (w *watch) dropped(err error) {
	w.c.cfg.logger.Debug("jumpkv client: watch reconnecting", "prefix", w.prefix, "since", w.last, "err", err)
	if w.opts.onDrop != nil {
		w.opts.onDrop(err)
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchURL returns the WebSocket URL of a watch at endpoint ep.
func (w *watch) watchURL(ep string) string {
	q := url.Values{"prefix": {w.prefix}}
	if w.last != "" {
		q.Set("since", w.last)
	}
	return "ws" + strings.TrimPrefix(ep, "http") + "/v1/watch?" + q.Encode()
}

// dial opens the watch WebSocket at ep.
func (w *watch) dial(ctx context.Context, ep string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: w.c.cfg.timeout,
		TLSClientConfig:  w.c.cfg.tls,
		Proxy:            http.ProxyFromEnvironment,
	}
	if t, ok := w.c.http.Transport.(*http.Transport); ok && w.c.cfg.httpClient != nil {
		d.TLSClientConfig, d.Proxy = t.TLSClientConfig, t.Proxy
	}
	h := http.Header{}
	w.c.authorize(h)
	op := "watch " + w.prefix
	conn, resp, err := d.DialContext(ctx, w.watchURL(ep), h)
	if err == nil {
		return conn, nil
	}
	if resp == nil {
		return nil, &Error{Kind: ErrUnavailable, Op: op, Endpoint: ep, Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, statusError(op, &response{endpoint: ep, status: resp.StatusCode, header: resp.Header, body: body})
}

// stream yields the events of one connection until it ends. delivered
// tells whether it yielded any; stop is true when the iteration is over
// (the loop stopped, or an unreadable message was yielded as an error);
// err is why the connection ended otherwise.
//
// With hold, a reset as the first message is not yielded: the connection
// ends with errEarlyReset.
func (w *watch) stream(ctx context.Context, conn *websocket.Conn, hold bool, yield func(Event, error) bool) (delivered, stop bool, err error) {
	keepalive := w.c.cfg.watchKeepalive
	silence := 3 * keepalive
	done := make(chan struct{})
	var pinger sync.WaitGroup
	closeCtx := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		closeCtx()
		close(done)
		conn.Close()
		pinger.Wait()
	}()
	// One goroutine pings; the node answers, and any frame from it
	// extends the read deadline: a node silent for `silence` is gone.
	pinger.Go(func() {
		t := time.NewTicker(keepalive)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(keepalive)) != nil {
					return
				}
			}
		}
	})
	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(silence)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(keepalive))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetReadLimit(maxAnswer)
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return delivered, false, err
		}
		extend()
		var ev Event
		if err := json.Unmarshal(msg, &ev); err != nil || ev.Type == "" {
			// Resuming would meet the same message again: give up.
			yield(Event{}, &Error{Kind: ErrServer, Op: "watch " + w.prefix, Message: fmt.Sprintf("unreadable watch message %.200q (%v)", msg, err)})
			return delivered, true, nil
		}
		if hold && !delivered && ev.Type == EventReset {
			return false, false, errEarlyReset
		}
		if ev.Version != "" {
			w.last = ev.Version
		}
		delivered = true
		if !yield(ev, nil) {
			return delivered, true, nil
		}
	}
}
