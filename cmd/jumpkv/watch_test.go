package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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
// prints each change under the prefix as a JSON line.
func TestWatchCommand(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond})
	n := c.WaitLeader(10 * time.Second)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "--addr", srv.URL, "app/"}, nil, out, io.Discard) }()
	c.WaitFor(5*time.Second, "the watch to connect", func() bool {
		live, _ := n.Watchers()
		return live == 1
	})
	for _, kv := range [][2]string{{"app/x", "1"}, {"skip/y", "2"}, {"app/z", "3"}} {
		if r := n.Do(http.MethodPut, "/v1/kv/"+kv[0], []byte(kv[1])); r.Status != 200 {
			t.Fatalf("put: %v", r)
		}
	}
	var keys []string
	c.WaitFor(5*time.Second, "two put lines", func() bool {
		keys = keys[:0]
		for _, l := range out.get() {
			var m struct{ Type, Key string }
			if json.Unmarshal([]byte(l), &m) == nil && m.Type == "put" {
				keys = append(keys, m.Key)
			}
		}
		return len(keys) >= 2
	})
	if strings.Join(keys, ",") != "app/x,app/z" {
		t.Fatalf("printed puts %v, want app/x then app/z", keys)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after Ctrl-C", code)
	}
}
