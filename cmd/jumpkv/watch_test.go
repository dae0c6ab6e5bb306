package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// lineBuffer collects written lines for a reader on another goroutine.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
	part  string
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := b.part + string(p)
	parts := strings.Split(all, "\n")
	b.lines = append(b.lines, parts[:len(parts)-1]...)
	b.part = parts[len(parts)-1]
	return len(p), nil
}

func (b *lineBuffer) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// TestWatchCommand runs `jumpkv watch app/` against a node and checks it
// prints each change under the prefix as exactly one JSON line: no blank
// line between events.
func TestWatchCommand(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond})
	n := c.WaitLeader(10 * time.Second)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "app/", "--addr", srv.URL}, nil, out, io.Discard) }()
	c.WaitFor(5*time.Second, "the watch to connect", func() bool {
		live, _ := n.Watchers()
		return live == 1
	})
	for _, kv := range [][2]string{{"app/x", "1"}, {"skip/y", "2"}, {"app/z", "3"}} {
		if r := n.Do(http.MethodPut, "/v1/kv/"+kv[0], []byte(kv[1])); r.Status != 200 {
			t.Fatalf("put: %v", r)
		}
	}
	if r := n.Do(http.MethodDelete, "/v1/kv/app/x", nil); r.Status != 204 {
		t.Fatalf("delete: %v", r)
	}
	c.WaitFor(5*time.Second, "three lines", func() bool { return len(out.get()) >= 3 })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after Ctrl-C", code)
	}
	lines := out.get()
	var got []string
	for _, l := range lines {
		var m struct{ Type, Key, Value string }
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is no JSON object (lines %q)", l, lines)
		}
		got = append(got, m.Type+" "+m.Key+" "+m.Value)
	}
	if want := "put app/x MQ==,put app/z Mw==,delete app/x "; strings.Join(got, ",") != want {
		t.Fatalf("printed %q, want %q", got, want)
	}
}

// scriptedNode is a fake node for watch tests: its WebSocket sends the
// given messages, then stays open; its key routes serve a fixed prefix.
type scriptedNode struct {
	t        *testing.T
	messages []string
	values   map[string][2]string // key → value, version
	conns    chan struct{}
}

func (s *scriptedNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/watch":
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		s.conns <- struct{}{}
		for _, m := range s.messages {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				return
			}
		}
		for { // answer pings until the client goes
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	case r.URL.Path == "/v1/kv":
		var keys []string
		for k := range s.values {
			if strings.HasPrefix(k, r.URL.Query().Get("prefix")) {
				keys = append(keys, k)
			}
		}
		sortStrings(keys)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	case strings.HasPrefix(r.URL.Path, "/v1/kv/"):
		v, ok := s.values[strings.TrimPrefix(r.URL.Path, "/v1/kv/")]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"not found","code":"not_found"}`)
			return
		}
		w.Header().Set("ETag", `"`+v[1]+`"`)
		io.WriteString(w, v[0])
	default:
		http.NotFound(w, r)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// deadAddr returns an address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestWatchResetResyncs: after a reset, `jumpkv watch` prints the reset,
// re-reads every key under the prefix (puts marked resync, then a synced
// line with the count) and goes on, leaving out a change older than what
// the resync printed for its key. Its first endpoint is dead: the watch
// moves on to the next one rather than retrying it forever.
func TestWatchResetResyncs(t *testing.T) {
	node := &scriptedNode{t: t, conns: make(chan struct{}, 10),
		messages: []string{
			`{"type":"put","key":"app/x","value":"eA==","version":"5.1"}`,
			`{"type":"reset"}`,
			`{"type":"put","key":"app/a","value":"b2xk","version":"5.2"}`, // older than the resync's 5.3
			`{"type":"put","key":"app/a","value":"bmV3","version":"5.4"}`,
			`{"type":"delete","key":"app/b","version":"5.5"}`,
		},
		values: map[string][2]string{"app/a": {"A", "5.3"}, "app/b": {"B", "5.1"}, "other": {"O", "5.1"}},
	}
	srv := httptest.NewServer(node)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &lineBuffer{}, &lineBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--addr", deadAddr(t) + "," + srv.URL, "app/"}, nil, out, errs)
	}()
	want := []string{
		`{"type":"put","key":"app/x","value":"eA==","version":"5.1"}`,
		`{"type":"reset"}`,
		`{"type":"put","key":"app/a","value":"QQ==","version":"5.3","resync":true}`,
		`{"type":"put","key":"app/b","value":"Qg==","version":"5.1","resync":true}`,
		`{"type":"synced","keys":2}`,
		`{"type":"put","key":"app/a","value":"bmV3","version":"5.4"}`,
		`{"type":"delete","key":"app/b","version":"5.5"}`,
	}
	clustertest.WaitFor(t, 10*time.Second, "the scripted events", func() bool { return len(out.get()) >= len(want) })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after Ctrl-C", code)
	}
	if got := out.get(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := strings.Join(errs.get(), "\n"); !strings.Contains(e, "cannot reach") || !strings.Contains(e, "watching again at "+strings.TrimPrefix(srv.URL, "http://")) {
		t.Fatalf("stderr %q: want the dead endpoint said once, then where the watch went", e)
	}
}

func TestVersionAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"5.4", "5.3", true}, {"5.3", "5.3", false}, {"5.2", "5.3", false},
		{"6.1", "5.9", true}, {"5.10", "5.9", true}, {"x", "5.3", true}, {"5.3", "", true},
	} {
		if got := versionAfter(tc.a, tc.b); got != tc.want {
			t.Errorf("versionAfter(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
