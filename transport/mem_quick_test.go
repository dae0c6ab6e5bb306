package transport

import (
	"context"
	"fmt"
	"strconv"

	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// concurrencyHandler marks Replicates quick. It counts, per caller, how
// many of its handlers run at once, inline and not. A quick request sleeps
// a millisecond (a timer: the bubble's time moves only once every
// goroutine that could run alongside it has started); any other waits for
// gate.
type concurrencyHandler struct {
	gate chan struct{}

	mu                  sync.Mutex
	running, maxRunning map[string]int // by kind ("inline", "other") and caller ID; "inline" for all callers
}

func (h *concurrencyHandler) Quick(msg wire.Message) bool {
	_, ok := msg.(*wire.Replicate)
	return ok
}

func (h *concurrencyHandler) enter(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.running[k]++
		h.maxRunning[k] = max(h.maxRunning[k], h.running[k])
	}
}

func (h *concurrencyHandler) leave(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.running[k]--
	}
}

func (h *concurrencyHandler) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	caller := strconv.FormatUint(req.From, 10)
	if Inline(ctx) {
		h.enter("inline", "inline"+caller)
		defer h.leave("inline", "inline"+caller)
		time.Sleep(time.Millisecond)
	} else {
		h.enter("other" + caller)
		defer h.leave("other" + caller)
		<-h.gate
	}
	return &wire.OK{}, nil
}

// TestMemQuickRequestsOneConnectionAtATime checks that the in-memory
// transport serves quick requests as TCP does: on one reader per
// connection (caller address), so never two of one caller at once, while
// the readers of different callers run side by side and requests that are
// not quick each get a goroutine. (Before, every request had its own
// goroutine, and a test could not see what a blocking quick handler does
// to its connection.)
func TestMemQuickRequestsOneConnectionAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(1)
		h := &concurrencyHandler{gate: make(chan struct{}), running: map[string]int{}, maxRunning: map[string]int{}}
		srv, err := n.Listen("srv", fixedStamp(9, 1), h)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		const perCaller = 20
		var quick, other sync.WaitGroup
		for id := uint64(1); id <= 2; id++ {
			cli, err := n.Listen(fmt.Sprintf("cli-%d", id), fixedStamp(id, 1), newTestHandler(id))
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			for i := range perCaller {
				var msg wire.Message = &wire.Replicate{Entry: store.Entry{Key: "k"}}
				wg := &quick
				if i%2 == 1 {
					msg, wg = &wire.Digests{}, &other
				}
				wg.Go(func() {
					if _, err := cli.Call(context.Background(), "srv", msg); err != nil {
						t.Errorf("caller %d: %v", id, err)
					}
				})
			}
		}
		// Once every quick request is answered, the readers have handed
		// every other request to a goroutine of its own, where it waits.
		quick.Wait()
		synctest.Wait()
		h.mu.Lock()
		for _, id := range []string{"1", "2"} {
			if got := h.running["other"+id]; got != perCaller/2 {
				t.Errorf("caller %s: %d requests that are not quick are in their handlers, want all %d at once", id, got, perCaller/2)
			}
		}
		h.mu.Unlock()
		close(h.gate)
		other.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range []string{"1", "2"} {
			if got := h.maxRunning["inline"+id]; got != 1 {
				t.Errorf("caller %s: up to %d quick requests served at once, want 1 (one reader per connection)", id, got)
			}
		}
		if got := h.maxRunning["inline"]; got != 2 {
			t.Errorf("up to %d quick requests of two callers served at once, want 2 (a reader per connection)", got)
		}
	})
}

// TestMemSynctestQuickStall shows, in virtual time, a blocking quick
// handler caught: the report comes exactly at the network's bound (1s by
// default) while the handler still blocks, the caller's next request waits
// behind it, and the stall is counted.
func TestMemSynctestQuickStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(1)
		stalls := make(chan QuickStall, 4)
		n.SetQuickStall(0, func(s QuickStall) { stalls <- s }) // 0 keeps the default bound
		h := &stallHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
		srv, err := n.Listen("srv", fixedStamp(2, 1), h)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cli, err := n.Listen("cli", fixedStamp(1, 1), newTestHandler(1))
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		n.SetCallTimeout(time.Minute)

		start := time.Now()
		blocked := goCall(context.Background(), cli, "srv", &wire.Replicate{Entry: store.Entry{Key: "block"}})
		<-h.started
		next := goCall(context.Background(), cli, "srv", &wire.Replicate{Entry: store.Entry{Key: "next"}})
		synctest.Wait() // next is delivered, and waits
		select {
		case r := <-next:
			t.Fatalf("the next request was answered (%+v, %v) while the reader was blocked", r.env.Msg, r.err)
		default:
		}
		s := <-stalls
		if d := time.Since(start); d != defaultMemQuickStall || s.Held != defaultMemQuickStall {
			t.Errorf("stall reported after %v, holding for %v; want both %v", d, s.Held, defaultMemQuickStall)
		}
		if want := (QuickStall{Local: "srv", Remote: "cli", Type: wire.TypeReplicate, Held: s.Held}); s != want {
			t.Errorf("stall report %+v, want %+v", s, want)
		}
		if got := n.Stats().QuickStalls; got != 1 {
			t.Errorf("NetStats.QuickStalls = %d, want 1", got)
		}
		close(h.release)
		for _, ch := range []<-chan callResult{blocked, next} {
			if r := <-ch; r.err != nil {
				t.Fatal(r.err)
			}
		}
		synctest.Wait()
		select {
		case s := <-stalls:
			t.Fatalf("a second report: %+v", s)
		default:
		}
		if got := n.Stats().QuickStalls; got != 1 {
			t.Errorf("NetStats.QuickStalls = %d after the release, want 1", got)
		}
	})
}

// TestMemQuickDeclinedLeavesTheReader checks that a quick request the
// handler declines (ErrWouldBlock) is served off the reader, so a slow
// answer to it holds up nothing else on its connection.
func TestMemQuickDeclinedLeavesTheReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewNetwork(1)
		release := make(chan struct{})
		h := quickFunc(func(ctx context.Context, req Envelope) (wire.Message, error) {
			r := req.Msg.(*wire.Replicate)
			if r.Entry.Key == "slow" {
				if Inline(ctx) {
					return nil, ErrWouldBlock
				}
				<-release
			}
			return &wire.ReplicateAck{Applied: Inline(ctx)}, nil
		})
		srv, _ := n.Listen("srv", fixedStamp(2, 1), h)
		defer srv.Close()
		cli, _ := n.Listen("cli", fixedStamp(1, 1), newTestHandler(1))
		defer cli.Close()
		slow := goCall(context.Background(), cli, "srv", &wire.Replicate{Entry: store.Entry{Key: "slow"}})
		synctest.Wait()
		env, err := cli.Call(context.Background(), "srv", &wire.Replicate{Entry: store.Entry{Key: "fast"}})
		if err != nil {
			t.Fatal(err)
		}
		if ack := env.Msg.(*wire.ReplicateAck); !ack.Applied {
			t.Error("the fast request was not served inline")
		}
		close(release)
		if r := <-slow; r.err != nil || r.env.Msg.(*wire.ReplicateAck).Applied {
			t.Errorf("the declined request: %+v, %v; want it served off the reader", r.env.Msg, r.err)
		}
		if s := n.Stats(); s.QuickStalls != 0 {
			t.Errorf("%d stalls reported for a declined request", s.QuickStalls)
		}
	})
}

// quickFunc is a QuickHandler that finds every Replicate quick.
type quickFunc func(ctx context.Context, req Envelope) (wire.Message, error)

func (f quickFunc) Quick(msg wire.Message) bool {
	_, ok := msg.(*wire.Replicate)
	return ok
}

func (f quickFunc) ServePeer(ctx context.Context, req Envelope) (wire.Message, error) {
	return f(ctx, req)
}
