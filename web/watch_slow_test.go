package web_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/web"
)

// heapMB returns the live heap after a collection, in MiB.
func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestStalledWatcherIsBoundedAndToldWhy opens a watch that stops reading
// while 1 MiB values are written: the node drops it once its queue passes
// the byte bound (long before the 1,024-event bound), its memory is let
// go, and when the client reads again it finds the promised 4001 close
// frame after the messages already on their way.
func TestStalledWatcherIsBoundedAndToldWhy(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond,
		Configure: func(_ int, cfg *node.Config) { cfg.MaxValue = 2 << 20 }})
	n := c.WaitLeader(10 * time.Second)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	before := heapMB()

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c.WaitFor(5*time.Second, "the watch to start", func() bool { live, _ := n.Watchers(); return live == 1 })

	const maxWrites = 200 // 200 MiB: what the old 1,024-event queue would have held
	writes := 0
	for ; writes < maxWrites; writes++ {
		if _, dropped := n.Watchers(); dropped == 1 {
			break
		}
		value := []byte(strings.Repeat(fmt.Sprintf("%07d", writes), (1<<20)/7))
		if r := n.Do(http.MethodPut, "/v1/kv/big", value); r.Status != http.StatusOK {
			t.Fatalf("write %d: %v", writes, r)
		}
	}
	c.WaitFor(10*time.Second, "the stalled watcher to be dropped", func() bool { _, dropped := n.Watchers(); return dropped == 1 })
	grown := heapMB() - before
	t.Logf("dropped after %d writes of 1 MiB; heap grew by %.1f MiB", writes, grown)
	if grown > 64 {
		t.Errorf("the heap grew by %.0f MiB with one stalled watcher: want it bounded (history 8 MiB, queue 8 MiB)", grown)
	}
	if live, _ := n.Watchers(); live != 0 {
		t.Errorf("%d live watchers after the drop, want 0", live)
	}

	// The client reads again: what was on the wire, then 4001.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	msgs := 0
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			msgs++
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != web.CloseTooSlow {
			t.Fatalf("after %d messages: %v, want a close frame with code %d", msgs, err, web.CloseTooSlow)
		}
		break
	}
	if msgs >= writes {
		t.Fatalf("%d messages reached the client out of %d writes: it was never behind", msgs, writes)
	}
}
