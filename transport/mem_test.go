package transport

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

func TestMemContract(t *testing.T) {
	testContract(t, func(t *testing.T) *harness {
		n := NewNetwork(1)
		n.SetMaxFrame(contractMaxFrame)
		n.SetCallTimeout(contractCallTimeout)
		var next atomic.Int64
		hs := &harness{
			maxFrame:    contractMaxFrame,
			callTimeout: contractCallTimeout,
			deadAddr:    func(*testing.T) string { return "nobody" },
			stalls:      make(chan QuickStall, 16),
		}
		hs.listen = func(t *testing.T, addr string, stamp Stamp, h Handler) (Transport, error) {
			if addr == "" {
				addr = fmt.Sprintf("node-%d", next.Add(1))
			}
			return n.Listen(addr, stamp, h)
		}
		n.SetQuickStall(contractQuickStall, hs.reportStall)
		return hs
	})
}

// memCluster is a network of nodes named a, b, c, ... for fault tests.
type memCluster struct {
	n     *Network
	nodes map[string]*testNode
}

// newMemCluster listens on each address; it closes them at cleanup. Call
// it inside the synctest bubble that uses it.
func newMemCluster(t *testing.T, seed uint64, addrs ...string) *memCluster {
	c := &memCluster{n: NewNetwork(seed), nodes: make(map[string]*testNode)}
	for i, addr := range addrs {
		node := &testNode{id: uint64(i + 1), h: newTestHandler(uint64(i + 1))}
		m, err := c.n.Listen(addr, node.stamp, node.h)
		if err != nil {
			t.Fatal(err)
		}
		node.tr = m
		c.nodes[addr] = node
		t.Cleanup(func() {
			node.h.unblock()
			m.Close()
		})
	}
	return c
}

// call makes a one-second call from one node to another.
func (c *memCluster) call(from, to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.nodes[from].tr.Call(ctx, to, &wire.Resign{})
	return err
}

// expect checks which calls succeed (true) and which time out (false).
func (c *memCluster) expect(t *testing.T, want map[[2]string]bool) {
	t.Helper()
	for pair, ok := range want {
		err := c.call(pair[0], pair[1])
		switch {
		case ok && err != nil:
			t.Errorf("%s -> %s: %v, want success", pair[0], pair[1], err)
		case !ok && !errors.Is(err, wire.ErrTimeout):
			t.Errorf("%s -> %s: %v, want ErrTimeout", pair[0], pair[1], err)
		}
	}
}

func TestMemPartitionIsolateHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1, "a", "b", "c", "d")
		c.n.Partition([]string{"a"}, []string{"b"})
		// c and d are not listed: they form a third group together.
		c.expect(t, map[[2]string]bool{
			{"a", "b"}: false, {"b", "a"}: false, {"a", "c"}: false,
			{"b", "d"}: false, {"c", "d"}: true, {"d", "c"}: true, {"a", "a"}: true,
		})
		// A new partition replaces the old one.
		c.n.Partition([]string{"a", "b"}, []string{"c", "d"})
		c.expect(t, map[[2]string]bool{
			{"a", "b"}: true, {"c", "d"}: true, {"a", "c"}: false, {"d", "b"}: false,
		})
		c.n.Heal()
		c.expect(t, map[[2]string]bool{{"a", "c"}: true, {"d", "b"}: true})

		c.n.Isolate("b")
		c.expect(t, map[[2]string]bool{
			{"a", "b"}: false, {"b", "c"}: false, {"d", "b"}: false, {"a", "c"}: true, {"b", "b"}: true,
		})
		c.n.Heal()
		c.expect(t, map[[2]string]bool{{"a", "b"}: true, {"b", "c"}: true})
	})
}

func TestMemOneWayBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1, "a", "b")
		a, b := c.nodes["a"], c.nodes["b"]
		c.n.Block("a", "b")

		// a's request to b is dropped: b never sees it.
		if err := c.call("a", "b"); !errors.Is(err, wire.ErrTimeout) {
			t.Fatalf("a -> b: %v, want ErrTimeout", err)
		}
		if n := b.h.served.Load(); n != 0 {
			t.Fatalf("b served %d requests through a block", n)
		}
		// b's request reaches a, but a's answer to b is dropped.
		if err := c.call("b", "a"); !errors.Is(err, wire.ErrTimeout) {
			t.Fatalf("b -> a: %v, want ErrTimeout", err)
		}
		if n := a.h.served.Load(); n != 1 {
			t.Fatalf("a served %d requests, want 1", n)
		}
		c.n.Unblock("a", "b")
		c.expect(t, map[[2]string]bool{{"a", "b"}: true, {"b", "a"}: true})
	})
}

func TestMemDropRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 42, "a", "b")
		c.n.SetDropRate(0.5)
		const calls = 400
		ok := 0
		for range calls {
			err := c.call("a", "b")
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, wire.ErrTimeout):
				t.Fatalf("dropped call: %v, want ErrTimeout", err)
			}
		}
		// Both the request and the answer must survive: about 1 in 4.
		if ok < calls/8 || ok > calls*3/8 {
			t.Errorf("%d of %d calls succeeded at drop rate 0.5, want about %d", ok, calls, calls/4)
		}
		s := c.n.Stats()
		if s.Dropped == 0 || s.Sent != s.Delivered+s.Dropped {
			t.Errorf("stats %+v: want drops, and sent = delivered + dropped", s)
		}
		c.n.SetDropRate(1)
		c.expect(t, map[[2]string]bool{{"a", "b"}: false, {"b", "a"}: false})
		c.n.SetDropRate(0)
		c.expect(t, map[[2]string]bool{{"a", "b"}: true, {"b", "a"}: true})
		// Heal leaves the drop rate alone.
		c.n.SetDropRate(1)
		c.n.Heal()
		c.expect(t, map[[2]string]bool{{"a", "b"}: false})
	})
}

func TestMemDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 7, "a", "b")
		c.n.SetDelay(10*time.Millisecond, 50*time.Millisecond)
		for range 20 {
			start := time.Now()
			if err := c.call("a", "b"); err != nil {
				t.Fatal(err)
			}
			// Two messages, each delayed within [10ms, 50ms].
			if d := time.Since(start); d < 20*time.Millisecond || d > 100*time.Millisecond {
				t.Fatalf("round trip took %v, want within [20ms, 100ms]", d)
			}
		}
		c.n.SetDelay(0, 0)
		start := time.Now()
		if err := c.call("a", "b"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("round trip without delay took %v of virtual time", d)
		}
	})
}

func TestMemPauseResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1, "a", "b", "c")
		a, b := c.nodes["a"], c.nodes["b"]
		ctx := context.Background() // default timeout: 5s of virtual time

		// A request to a paused node is held, not dropped.
		c.n.Pause("b")
		ch := goCall(ctx, a.tr, "b", &wire.Read{Key: "held"})
		synctest.Wait()
		if s := c.n.Stats(); s.Held != 1 || b.h.served.Load() != 0 {
			t.Fatalf("paused: stats %+v, served %d; want the request held", s, b.h.served.Load())
		}
		c.expect(t, map[[2]string]bool{{"a", "c"}: true}) // others unaffected
		time.Sleep(time.Second)                           // virtual: a second of pause
		c.n.Resume("b")
		r := <-ch
		if r.err != nil {
			t.Fatalf("held call after resume: %v", r.err)
		}
		if rr := r.env.Msg.(*wire.ReadResp); rr.Entry.Key != "held" {
			t.Fatalf("answer %#v", rr)
		}

		// An answer to a paused node is held too.
		ch = goCall(ctx, a.tr, "b", &wire.Pull{})
		<-b.h.started
		c.n.Pause("a")
		b.h.unblock()
		synctest.Wait()
		if s := c.n.Stats(); s.Held != 1 {
			t.Fatalf("stats %+v, want the answer held", s)
		}
		c.n.Resume("a")
		if r := <-ch; r.err != nil {
			t.Fatalf("call whose answer was held: %v", r.err)
		}

		// Held past the caller's deadline: the caller times out.
		c.n.Pause("b")
		if err := c.call("a", "b"); !errors.Is(err, wire.ErrTimeout) {
			t.Fatalf("call held past its deadline: %v, want ErrTimeout", err)
		}
		c.n.Resume("b")
		synctest.Wait()
		if s := c.n.Stats(); s.Held != 0 {
			t.Fatalf("stats %+v after resume", s)
		}
	})
}

func TestMemListenAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(1)
		stamp := fixedStamp(1, 1)
		h := newTestHandler(1)
		a, err := n.Listen("a", stamp, h)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := n.Listen("a", stamp, h); err == nil {
			t.Fatal("second Listen on a taken address succeeded")
		}
		if _, err := n.Listen("", stamp, h); err == nil {
			t.Fatal("Listen on an empty address succeeded")
		}
		b, err := n.Listen("b", stamp, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Call(context.Background(), "b", &wire.Resign{}); !errors.Is(err, wire.ErrUnreachable) {
			t.Fatalf("call to a closed Mem: %v, want ErrUnreachable", err)
		}
		// The address is free again.
		b, err = n.Listen("b", stamp, h)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := a.Call(context.Background(), "b", &wire.Resign{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMemSynctestDelay shows a 10s configured delay passing in virtual time.
func TestMemSynctestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1, "a", "b")
		c.n.SetDelay(10*time.Second, 10*time.Second)
		c.n.SetCallTimeout(time.Minute)
		start := time.Now()
		env, err := c.nodes["a"].tr.Call(context.Background(), "b", &wire.Read{Key: "slow"})
		if err != nil {
			t.Fatal(err)
		}
		if rr := env.Msg.(*wire.ReadResp); rr.Entry.Key != "slow" {
			t.Fatalf("answer %#v", rr)
		}
		if d := time.Since(start); d != 20*time.Second {
			t.Fatalf("round trip took %v of virtual time, want exactly 20s (10s each way)", d)
		}
	})
}

// TestMemSynctestDropTimesOut shows a dropped call timing out in virtual
// time, both with the default timeout and with the caller's deadline.
func TestMemSynctestDropTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1, "a", "b")
		c.n.SetDropRate(1)
		start := time.Now()
		_, err := c.nodes["a"].tr.Call(context.Background(), "b", &wire.Resign{})
		if !errors.Is(err, wire.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dropped call: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d != defaultMemCallTimeout {
			t.Fatalf("timed out after %v, want the default %v", d, defaultMemCallTimeout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start = time.Now()
		if _, err := c.nodes["a"].tr.Call(ctx, "b", &wire.Resign{}); !errors.Is(err, wire.ErrTimeout) {
			t.Fatalf("dropped call: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d != 90*time.Second {
			t.Fatalf("timed out after %v, want 90s", d)
		}
		if s := c.n.Stats(); s.Dropped != 2 || s.Delivered != 0 {
			t.Fatalf("stats %+v, want two drops", s)
		}
	})
}

// TestMemSynctestCloseCancelsHandlers checks that Close inside a bubble
// cancels in-flight handlers and leaves no goroutine behind (synctest.Test
// fails if one is left blocked).
func TestMemSynctestCloseCancelsHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(1)
		ha, hb := newTestHandler(1), newTestHandler(2)
		a, _ := n.Listen("a", fixedStamp(1, 1), ha)
		b, _ := n.Listen("b", fixedStamp(2, 1), hb)
		n.SetDelay(time.Second, time.Second)
		var results []<-chan callResult
		for range 5 {
			results = append(results, goCall(context.Background(), a, "b", &wire.Pull{}))
		}
		for range 5 {
			<-hb.started
		}
		b.Close()
		for _, ch := range results {
			if r := <-ch; !errors.Is(r.err, wire.ErrConnLost) {
				t.Fatalf("call pending at the server's close: %v, want ErrConnLost", r.err)
			}
		}
		a.Close()
	})
}
