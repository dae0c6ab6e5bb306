package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// echoHandler answers a Read with its own key, so a caller can tell its
// answer from any other.
var echoHandler = HandlerFunc(func(_ context.Context, req Envelope) (wire.Message, error) {
	m, ok := req.Msg.(*wire.Read)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected %T", wire.ErrBadRequest, req.Msg)
	}
	return &wire.ReadResp{Found: true, Entry: store.Entry{Key: m.Key}}, nil
})

// TestTCPCallsNeverGetAnotherCallsAnswer runs many calls whose deadlines end
// about when their answers come back, so that some time out just before,
// during or after the reader hands over their answer. Every call that
// succeeds must carry its own answer: what a call waits on (and its
// buffers) is reused only when no answer can still reach it.
func TestTCPCallsNeverGetAnotherCallsAnswer(t *testing.T) {
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), echoHandler)
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), echoHandler)
	const workers, perWorker = 32, 300
	// The round trip under this load on this machine, to aim the deadlines at.
	var took atomic.Int64
	var warm sync.WaitGroup
	for range workers {
		warm.Go(func() {
			for range 20 {
				start := time.Now()
				if _, err := cli.Call(context.Background(), srv.Addr(), &wire.Read{Key: "warm"}); err != nil {
					t.Error(err)
					return
				}
				took.Add(int64(time.Since(start)))
			}
		})
	}
	warm.Wait()
	rtt := time.Duration(took.Load() / (workers * 20))

	var succeeded, timedOut atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				key := fmt.Sprintf("w%d-c%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.Int64N(int64(2*rtt)+1)))
				env, err := cli.Call(ctx, srv.Addr(), &wire.Read{Key: key})
				cancel()
				switch {
				case errors.Is(err, wire.ErrTimeout) || errors.Is(err, wire.ErrUnreachable):
					timedOut.Add(1)
					continue
				case err != nil:
					errs <- fmt.Errorf("call %s: %w", key, err)
					return
				}
				succeeded.Add(1)
				if rr, ok := env.Msg.(*wire.ReadResp); !ok || rr.Entry.Key != key {
					errs <- fmt.Errorf("call %s got the answer %#v", key, env.Msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("round trip %v: %d calls answered, %d timed out", rtt, succeeded.Load(), timedOut.Load())
	if succeeded.Load() == 0 || timedOut.Load() == 0 {
		t.Fatalf("the deadlines missed the round trip: %d answered, %d timed out; the test checked nothing",
			succeeded.Load(), timedOut.Load())
	}
}
