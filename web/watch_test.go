package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/web"
)

// TestWatchOverWebSocket runs a one-node cluster behind a real HTTP server
// and checks the watch route end to end: the JSON messages for puts and
// deletes under the prefix (and nothing else), resuming with ?since, and
// the refusals (not a WebSocket, bad since, a foreign origin, past the cap).
func TestWatchOverWebSocket(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond,
		Configure: func(_ int, cfg *node.Config) { cfg.Watch.MaxWatchers = 2 }})
	n := c.WaitLeader(10 * time.Second)
	validateNodes(t, c)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/watch?prefix=app/"

	conn, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer conn.Close()
	put := func(key, value string) {
		t.Helper()
		if r := n.Do(http.MethodPut, "/v1/kv/"+key, []byte(value)); r.Status != http.StatusOK {
			t.Fatalf("put %s: %v", key, r)
		}
	}
	put("app/a", "1")
	put("other/b", "2")
	put("app/c", "3")
	if r := n.Do(http.MethodDelete, "/v1/kv/app/a", nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %v", r)
	}
	read := func(conn *websocket.Conn) web.WatchMessage {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m web.WatchMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("reading a watch message: %v", err)
		}
		return m
	}
	var got []web.WatchMessage
	for len(got) < 3 {
		if m := read(conn); m.Type != "reset" {
			got = append(got, m)
		}
	}
	if got[0].Type != "put" || got[0].Key != "app/a" || string(got[0].Value) != "1" || got[0].Version == "" ||
		got[1].Type != "put" || got[1].Key != "app/c" || string(got[1].Value) != "3" ||
		got[2].Type != "delete" || got[2].Key != "app/a" || got[2].Value != nil {
		t.Fatalf("messages %+v", got)
	}
	// The raw JSON is what the SPEC names: value as base64, absent on delete.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	put("app/raw", "hi")
	_, raw, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(raw), `"value":"aGk="`) || !strings.Contains(string(raw), `"type":"put"`) {
		t.Fatalf("raw message %s %v", raw, err)
	}
	var last web.WatchMessage
	_ = json.Unmarshal(raw, &last)

	// Resume after the last seen version: only what came after.
	put("app/after", "x")
	resumed, _, err := websocket.DefaultDialer.Dial(wsURL+"&since="+last.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := read(resumed); m.Type != "put" || m.Key != "app/after" {
		t.Fatalf("resumed watch began with %+v", m)
	}
	resumed.Close()
	c.WaitFor(5*time.Second, "the closed watch to end on the server", func() bool {
		live, _ := n.Watchers()
		return live == 1
	})

	// Refusals.
	for _, tc := range []struct {
		path   string
		header http.Header
		status int
	}{
		{"/v1/watch", nil, http.StatusBadRequest},                                           // not a WebSocket
		{"/v1/watch?since=nonsense", nil, http.StatusBadRequest},                            // bad since
		{"/v1/watch", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden}, // foreign origin
	} {
		var status int
		if tc.header == nil && !strings.Contains(tc.path, "since") {
			r, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			status = r.StatusCode
		} else {
			_, r, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+tc.path, tc.header)
			if err == nil {
				t.Fatalf("%s %v: the watch opened", tc.path, tc.header)
			}
			status = r.StatusCode
			var body web.ErrorBody
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Code == "" || body.Error == "" {
				t.Fatalf("%s %v: error body %+v (%v), want a JSON error", tc.path, tc.header, body, err)
			}
			r.Body.Close()
		}
		if status != tc.status {
			t.Fatalf("%s %v: status %d, want %d", tc.path, tc.header, status, tc.status)
		}
	}
	// A refused request never held a watcher slot.
	if live, _ := n.Watchers(); live != 1 {
		t.Fatalf("%d live watchers after the refusals, want 1", live)
	}
	// The cap is 2 watchers; conn is one: a second opens, a third is refused.
	second, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_, r, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("past the cap: %v %v, want 503", err, r)
	}
}
