package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// fakeReplica records the batches a replBatcher sends and answers each
// write with an error named after its key when the key ends in "!". The
// first hold batches wait for release.
type fakeReplica struct {
	mu       sync.Mutex
	batches  [][]string // keys of each batch, in sending order
	sending  int
	maxSends int // batches on their way at once, at most
	hold     int
	release  chan struct{}
}

func (f *fakeReplica) send(batch []*replItem) {
	f.mu.Lock()
	keys := make([]string, len(batch))
	for i, it := range batch {
		keys[i] = it.msg.Entry.Key
	}
	f.batches = append(f.batches, keys)
	f.sending++
	f.maxSends = max(f.maxSends, f.sending)
	wait := len(f.batches) <= f.hold
	f.mu.Unlock()
	if wait {
		<-f.release
	}
	for _, it := range batch {
		if strings.HasSuffix(it.msg.Entry.Key, "!") {
			it.err = fmt.Errorf("%w: %s", wire.ErrStaleTerm, it.msg.Entry.Key)
		}
	}
	f.mu.Lock()
	f.sending--
	f.mu.Unlock()
}

// holdInflight starts batchInflight writes that the replica f holds (its
// first hold batches), and waits until they are sent: later writes wait.
func holdInflight(b *replBatcher, f *fakeReplica, wg *sync.WaitGroup, valueSize int) {
	for i := range batchInflight {
		wg.Go(func() { _ = b.do(context.Background(), replMsg(fmt.Sprintf("first-%d", i), valueSize), f.send) })
	}
	synctest.Wait()
}

func replMsg(key string, valueSize int) *wire.Replicate {
	return &wire.Replicate{Entry: store.Entry{Key: key, Value: make([]byte, valueSize)}}
}

// TestReplBatcherSharesRoundTrips: while batchInflight batches are on
// their way, later writes wait and then go together in one batch; every
// writer gets its own write's outcome; no more than batchInflight batches
// are ever on their way at once.
func TestReplBatcherSharesRoundTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		f := &fakeReplica{hold: batchInflight, release: make(chan struct{})}
		outcomes := make(map[string]error)
		var mu sync.Mutex
		var wg sync.WaitGroup
		write := func(key string) {
			wg.Go(func() {
				err := b.do(context.Background(), replMsg(key, 10), f.send)
				mu.Lock()
				outcomes[key] = err
				mu.Unlock()
			})
		}
		for i := range batchInflight {
			write(fmt.Sprintf("first-%d", i))
		}
		synctest.Wait() // both sent, held by the replica
		for i := range 10 {
			key := fmt.Sprintf("later-%d", i)
			if i%3 == 0 {
				key += "!"
			}
			write(key)
		}
		synctest.Wait()
		b.mu.Lock()
		waiting := len(b.waiting)
		b.mu.Unlock()
		if waiting != 10 {
			t.Fatalf("%d writes wait, want 10", waiting)
		}
		close(f.release)
		wg.Wait()

		if len(f.batches) != batchInflight+1 {
			t.Fatalf("batches %v: want %d of one write, then one of the 10 that waited", f.batches, batchInflight)
		}
		if last := f.batches[batchInflight]; len(last) != 10 {
			t.Errorf("last batch %v: want the 10 waiting writes", last)
		}
		if f.maxSends > batchInflight {
			t.Errorf("%d batches on their way at once, want at most %d", f.maxSends, batchInflight)
		}
		if len(outcomes) != 10+batchInflight {
			t.Fatalf("%d writers returned, want %d", len(outcomes), 10+batchInflight)
		}
		for key, err := range outcomes {
			want := strings.HasSuffix(key, "!")
			if got := err != nil; got != want || got && !strings.Contains(err.Error(), key) || got && !errors.Is(err, wire.ErrStaleTerm) {
				t.Errorf("write %s: outcome %v, want its own (error: %v)", key, err, want)
			}
		}
		if b.inflight != 0 || len(b.waiting) != 0 {
			t.Errorf("after all: %d in flight, %d waiting, want none", b.inflight, len(b.waiting))
		}
	})
}

// TestReplBatcherLimits: waiting writes are split into batches of at most
// batchMaxItems writes and batchMaxBytes bytes, oldest first.
func TestReplBatcherLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		writes    int
		valueSize int
		wantSizes []int
	}{
		{"count", batchMaxItems + 44, 10, []int{batchMaxItems, 44}},
		{"bytes", 40, 15 << 10, []int{17, 17, 6}}, // 17 of ~15 KiB fit 256 KiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var b replBatcher
				f := &fakeReplica{hold: batchInflight, release: make(chan struct{})}
				var wg sync.WaitGroup
				holdInflight(&b, f, &wg, 1)
				for i := range tc.writes {
					wg.Go(func() { _ = b.do(context.Background(), replMsg(fmt.Sprintf("w-%04d", i), tc.valueSize), f.send) })
					synctest.Wait() // in order: the oldest waits first
				}
				close(f.release)
				wg.Wait()
				// Batches taken in turn may reach the replica in either order.
				later := f.batches[batchInflight:]
				slices.SortFunc(later, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
				var sizes []int
				var order []string
				for _, keys := range later {
					sizes = append(sizes, len(keys))
					order = append(order, keys...)
				}
				if fmt.Sprint(sizes) != fmt.Sprint(tc.wantSizes) {
					t.Errorf("batch sizes %v, want %v", sizes, tc.wantSizes)
				}
				for i, k := range order {
					if want := fmt.Sprintf("w-%04d", i); k != want {
						t.Fatalf("write %d sent as %s: want oldest first (%s)", i, k, want)
					}
				}
			})
		})
	}
}

// TestBatchDeadline: a batch is sent under the latest deadline of its
// writes (each writer stops waiting at its own), or none if one has none.
func TestBatchDeadline(t *testing.T) {
	now := time.Now()
	items := []*replItem{
		{deadline: now.Add(3 * time.Second)},
		{deadline: now.Add(time.Second)},
		{deadline: now.Add(2 * time.Second)},
	}
	if got := batchDeadline(items); !got.Equal(now.Add(3 * time.Second)) {
		t.Errorf("deadline %v after now, want 3s", got.Sub(now))
	}
	if got := batchDeadline(append(items, &replItem{})); !got.IsZero() {
		t.Errorf("deadline %v with a write without one, want none", got)
	}
}

// slowReplica answers after latency, or fails the batch with a timeout at
// its deadline if that comes first, as a call under it would.
func slowReplica(latency time.Duration) sendFunc {
	return func(batch []*replItem) {
		wait := latency
		d := batchDeadline(batch)
		if !d.IsZero() && time.Until(d) < latency {
			wait = max(time.Until(d), 0)
		}
		time.Sleep(wait)
		if wait < latency {
			for _, it := range batch {
				it.err = wire.ErrTimeout
			}
		}
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fillInflight starts batchInflight writes with 2s left, which take every
// slot for batches on their way to the replica, and waits until they are
// sent. wg counts them.
func fillInflight(t *testing.T, b *replBatcher, send sendFunc, wg *sync.WaitGroup) {
	for i := range batchInflight {
		wg.Go(func() { _ = b.do(ctxFor(t, 2*time.Second), replMsg(fmt.Sprintf("first-%d", i), 1), send) })
	}
	synctest.Wait()
}

// TestReplBatcherWaiterKeepsItsDeadline: a write waiting behind batches
// to a slow replica returns at its own deadline, as surely not sent, not
// when they come back.
func TestReplBatcherWaiterKeepsItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		send := slowReplica(1500 * time.Millisecond)
		var wg sync.WaitGroup
		defer wg.Wait()
		fillInflight(t, &b, send, &wg)
		start := time.Now()
		err := b.do(ctxFor(t, 100*time.Millisecond), replMsg("late", 1), send)
		if took := time.Since(start); took > 100*time.Millisecond || !errors.Is(err, wire.ErrUnreachable) {
			t.Errorf("a write with 100ms left returned after %v with %v, want at 100ms, not sent", took, err)
		}
		b.mu.Lock()
		queued := len(b.waiting)
		b.mu.Unlock()
		if queued != 0 {
			t.Errorf("%d writes still queued after the late one gave up", queued)
		}
	})
}

// TestReplBatcherOldWriteDoesNotFailItsBatch: a write with little time
// left does not make the fresh writes of its batch time out (the batch
// goes under the latest deadline).
func TestReplBatcherOldWriteDoesNotFailItsBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		send := slowReplica(40 * time.Millisecond)
		var wg sync.WaitGroup
		defer wg.Wait()
		fillInflight(t, &b, send, &wg)
		var old error
		done := make(chan struct{})
		go func() { old = b.do(ctxFor(t, 60*time.Millisecond), replMsg("old", 1), send); close(done) }()
		synctest.Wait()
		if err := b.do(ctxFor(t, 2*time.Second), replMsg("fresh", 1), send); err != nil {
			t.Errorf("a fresh write against a 40ms replica: %v", err)
		}
		<-done
		// The old write was sent at 40ms, in the batch it had the turn to
		// send, and came back at 80ms: applied, 20ms past its deadline.
		if old != nil {
			t.Errorf("the old write: %v", old)
		}
	})
}

// TestReplBatcherSurvivesAPanickingSend: a send that panics still ends its
// batch and hands the turn on, so later writes to the replica go on.
func TestReplBatcherSurvivesAPanickingSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		calls := 0
		send := func(batch []*replItem) {
			calls++
			if calls == 1 {
				panic("boom")
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the panic did not go on to the writer")
				}
			}()
			_ = b.do(context.Background(), replMsg("a", 1), send)
		}()
		if err := b.do(context.Background(), replMsg("b", 1), send); err != nil {
			t.Errorf("a write after the panic: %v", err)
		}
		if b.inflight != 0 {
			t.Errorf("%d batches in flight after all, want 0", b.inflight)
		}
	})
}

// TestReplBatcherDoManySurvivesAPanickingSend: a writer of several writes
// whose batch panics while its other writes wait leaves the queue whole:
// the turn handed to one of its waiting writes is still sent, so another
// writer's write in that batch gets its outcome, and nothing is left in
// flight or waiting.
func TestReplBatcherDoManySurvivesAPanickingSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		release := make(chan struct{})
		var mu sync.Mutex
		var batches [][]string
		send := func(batch []*replItem) {
			var keys []string
			for _, it := range batch {
				keys = append(keys, it.msg.Entry.Key)
			}
			mu.Lock()
			batches = append(batches, keys)
			held := len(batches) <= batchInflight
			mu.Unlock()
			if held {
				<-release
			}
			if keys[0] == "boom" {
				panic("the replica's codec panicked")
			}
		}
		var wg sync.WaitGroup
		for i := range batchInflight {
			wg.Go(func() { _ = b.do(context.Background(), replMsg(fmt.Sprintf("held-%d", i), 10), send) })
		}
		synctest.Wait()
		// Two writes too large to share a batch: the second waits while the
		// first is sent.
		big := []wire.Replicate{*replMsg("boom", 200<<10), *replMsg("next", 200<<10)}
		var panicked any
		wg.Go(func() {
			defer func() { panicked = recover() }()
			b.doMany(context.Background(), big, send)
		})
		synctest.Wait()
		var other error
		wg.Go(func() { other = b.do(context.Background(), replMsg("other", 10), send) })
		synctest.Wait()
		close(release)
		wg.Wait()
		if panicked == nil {
			t.Error("the panic did not go on to the writer")
		}
		if other != nil {
			t.Errorf("the other writer's write: %v", other)
		}
		if !slices.ContainsFunc(batches, func(keys []string) bool { return slices.Equal(keys, []string{"next", "other"}) }) {
			t.Errorf("batches %v: want the turn handed to the panicking writer's waiting write sent", batches)
		}
		if b.inflight != 0 || len(b.waiting) != 0 {
			t.Errorf("after all: %d in flight, %d waiting, want none", b.inflight, len(b.waiting))
		}
	})
}

// TestTakeBatchAnswer: each write gets its own result of the answer, or
// the call's error.
func TestTakeBatchAnswer(t *testing.T) {
	batch := func() []*replItem { return []*replItem{{}, {}, {}} }
	b := batch()
	takeBatchAnswer(b, &wire.ReplicateBatchAck{Results: []wire.ReplicateResult{
		{Applied: true}, {Code: "stale_epoch", Message: "stale placement epoch: 3 here"}, {}}}, nil)
	if b[0].err != nil || b[2].err != nil || !errors.Is(b[1].err, wire.ErrStaleEpoch) || b[1].err.Error() != "stale placement epoch: 3 here" {
		t.Errorf("outcomes %v, %v, %v: want nil, the stale epoch, nil", b[0].err, b[1].err, b[2].err)
	}
	b = batch()
	takeBatchAnswer(b, nil, wire.ErrTimeout)
	for i, it := range b {
		if !errors.Is(it.err, wire.ErrTimeout) {
			t.Errorf("write %d after a timed-out call: %v", i, it.err)
		}
	}
}

// TestBatchAnswerErr: a replica's answer that does not match the batch
// leaves every write of it unknown, never refused.
func TestBatchAnswerErr(t *testing.T) {
	for _, tc := range []struct {
		msg  wire.Message
		n    int
		want error
	}{
		{&wire.ReplicateBatchAck{Results: make([]wire.ReplicateResult, 3)}, 3, nil},
		{&wire.ReplicateBatchAck{Results: make([]wire.ReplicateResult, 2)}, 3, wire.ErrUnknownOutcome},
		{&wire.ReplicateAck{Applied: true}, 3, wire.ErrUnknownOutcome},
	} {
		if err := batchAnswerErr(tc.msg, tc.n); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%T for %d writes: %v, want %v", tc.msg, tc.n, err, tc.want)
		}
	}
}

// TestReplBatcherDoMany: a writer's several writes go in one batch when
// nothing is on its way, or wait with other writers' writes and go in the
// batch taken next, in order; each gets its own outcome; writes whose
// deadline passed while they waited are failed, not sent, and the writer
// still returns.
func TestReplBatcherDoMany(t *testing.T) {
	msgs := func(keys ...string) []wire.Replicate {
		out := make([]wire.Replicate, len(keys))
		for i, k := range keys {
			out[i] = *replMsg(k, 10)
		}
		return out
	}
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		f := &fakeReplica{release: make(chan struct{})}
		errs := b.doMany(context.Background(), msgs("a", "b!", "c"), f.send)
		if !slices.EqualFunc(f.batches, [][]string{{"a", "b!", "c"}}, slices.Equal) {
			t.Fatalf("batches %v: want the three writes in one", f.batches)
		}
		if errs[0] != nil || !errors.Is(errs[1], wire.ErrStaleTerm) || errs[2] != nil {
			t.Errorf("outcomes %v: want each write's own", errs)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		f := &fakeReplica{hold: batchInflight, release: make(chan struct{})}
		var wg sync.WaitGroup
		holdInflight(&b, f, &wg, 10) // both sent, held by the replica
		var single, many []error
		wg.Go(func() { single = []error{b.do(context.Background(), replMsg("alone!", 10), f.send)} })
		synctest.Wait()
		wg.Go(func() { many = b.doMany(context.Background(), msgs("m1", "m2!", "m3"), f.send) })
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var late []error
		wg.Go(func() { late = b.doMany(ctx, msgs("late1", "late2"), f.send) })
		synctest.Wait()
		time.Sleep(2 * time.Second) // the late writes' deadline passes while they wait
		close(f.release)
		wg.Wait()
		if len(f.batches) != batchInflight+1 || !slices.Equal(f.batches[batchInflight], []string{"alone!", "m1", "m2!", "m3"}) {
			t.Fatalf("batches %v: want the held ones, then the waiting writes in order without the late ones", f.batches)
		}
		if !errors.Is(single[0], wire.ErrStaleTerm) || many[0] != nil || !errors.Is(many[1], wire.ErrStaleTerm) || many[2] != nil {
			t.Errorf("outcomes %v, %v: want each write's own", single, many)
		}
		for i, err := range late {
			if !errors.Is(err, wire.ErrUnreachable) {
				t.Errorf("late write %d: %v, want it failed unsent (ErrUnreachable)", i, err)
			}
		}
		if b.inflight != 0 || len(b.waiting) != 0 {
			t.Errorf("after all: %d in flight, %d waiting, want none", b.inflight, len(b.waiting))
		}
	})
	// The writer of several writes handed the turn sends the batch, which
	// holds another writer's write too.
	synctest.Test(t, func(t *testing.T) {
		var b replBatcher
		f := &fakeReplica{hold: batchInflight, release: make(chan struct{})}
		var wg sync.WaitGroup
		holdInflight(&b, f, &wg, 10)
		var single, many []error
		wg.Go(func() { many = b.doMany(context.Background(), msgs("m1!", "m2"), f.send) })
		synctest.Wait()
		wg.Go(func() { single = []error{b.do(context.Background(), replMsg("after", 10), f.send)} })
		synctest.Wait()
		close(f.release)
		wg.Wait()
		if len(f.batches) != batchInflight+1 || !slices.Equal(f.batches[batchInflight], []string{"m1!", "m2", "after"}) {
			t.Fatalf("batches %v: want the held ones, then the waiting writes in order", f.batches)
		}
		if !errors.Is(many[0], wire.ErrStaleTerm) || many[1] != nil || single[0] != nil {
			t.Errorf("outcomes %v, %v: want each write's own", many, single)
		}
	})
}
