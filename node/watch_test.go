package node_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// change is an acknowledged write as the writer saw it.
type change struct {
	key, value string
	deleted    bool
	version    store.Version
}

// makeChanges does n random acknowledged changes (put, append, delete)
// under prefix through every running node in turn, and returns them.
func makeChanges(t *testing.T, c *clustertest.Cluster, rng *rand.Rand, prefix string, n int) []change {
	t.Helper()
	var out []change
	for i := 0; len(out) < n; i++ {
		if i > 20*n {
			t.Fatalf("only %d of %d changes acknowledged", len(out), n)
		}
		nodes := c.Nodes()
		nd := nodes[i%len(nodes)]
		key := fmt.Sprintf("%sk%d", prefix, rng.IntN(40))
		var r clustertest.Response
		ch := change{key: key}
		switch rng.IntN(5) {
		case 0:
			r = nd.Do(http.MethodDelete, "/v1/kv/"+key, nil)
			ch.deleted = true
		case 1:
			r = nd.Do(http.MethodPost, "/v1/kv/"+key+"?op=append", []byte(fmt.Sprintf("+%d", i)))
		default:
			ch.value = fmt.Sprintf("v%d", i)
			r = nd.Do(http.MethodPut, "/v1/kv/"+key, []byte(ch.value))
		}
		switch {
		case r.Status == http.StatusOK:
			v, err := store.ParseVersion(strings.Trim(r.Header.Get("ETag"), `"`))
			if err != nil {
				t.Fatalf("ETag %q", r.Header.Get("ETag"))
			}
			ch.version = v
			if ch.value == "" { // an append: read what it made
				g := nd.Do(http.MethodGet, "/v1/kv/"+key, nil)
				if g.Header.Get("ETag") != r.Header.Get("ETag") {
					continue // overwritten meanwhile (no concurrent writers here, so: retry)
				}
				ch.value = string(g.Body)
			}
			out = append(out, ch)
		case r.Status == http.StatusNoContent:
			// A delete answers no version: take it from the event stream's order
			// by reading the tombstone is not possible, so record it unversioned.
			out = append(out, ch)
		case r.Status == http.StatusNotFound:
		default:
			time.Sleep(20 * time.Millisecond) // virtual time: back off during a failover
		}
	}
	return out
}

// collect drains events from a subscription until quiet for a while.
func collect(t *testing.T, sub *node.Subscription, quiet time.Duration) []wire.Event {
	t.Helper()
	var out []wire.Event
	for {
		select {
		case <-sub.Ready():
			evs, open := sub.Take()
			if !open {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			out = append(out, evs...)
		case <-time.After(quiet):
			return out
		}
	}
}

// checkStream checks that the events of each key come in version order and
// match the acknowledged changes exactly: every change once, no other.
func checkStream(t *testing.T, events []wire.Event, changes []change) {
	t.Helper()
	last := map[string]store.Version{}
	var got []wire.Event
	for _, e := range events {
		if e.Reset {
			continue
		}
		if v, ok := last[e.Key]; ok && e.Version.Compare(v) <= 0 {
			t.Fatalf("key %s: version %v after %v", e.Key, e.Version, v)
		}
		last[e.Key] = e.Version
		got = append(got, e)
	}
	if len(got) != len(changes) {
		t.Fatalf("%d change events for %d acknowledged changes", len(got), len(changes))
	}
	// Events of different keys may interleave differently from the
	// writers' order only where writes were concurrent; here they were
	// not, so the stream matches the changes one for one.
	for i, ch := range changes {
		e := got[i]
		if e.Key != ch.key || e.Deleted != ch.deleted || (!ch.deleted && (string(e.Value) != ch.value || e.Version != ch.version)) {
			t.Fatalf("event %d is %s deleted=%v %q %v, want %s deleted=%v %q %v", i, e.Key, e.Deleted, e.Value, e.Version,
				ch.key, ch.deleted, ch.value, ch.version)
		}
	}
}

// TestWatchThroughFollowerAcrossFailover opens a watch through a follower,
// makes 1,000 changes through every node, and checks the stream: exactly
// the acknowledged changes, in order per key. Then it kills the leader,
// checks the watcher is told to reset, makes more changes, and checks they
// all arrive; then it resumes a watch with ?since after a disconnect.
func TestWatchThroughFollowerAcrossFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := settle(t, c)
		f := c.Followers(l)[0]
		sub, err := f.Watch("w/", nil)
		if err != nil {
			t.Fatal(err)
		}
		other, err := f.Watch("elsewhere/", nil)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		first := makeChanges(t, c, rng, "w/", 1000)
		makeChanges(t, c, rng, "x/", 50) // not under the prefix
		checkStream(t, collect(t, sub, time.Second), first)
		if evs := collect(t, other, 100*time.Millisecond); len(evs) != 0 {
			t.Fatalf("a watch on elsewhere/ got %d events", len(evs))
		}

		c.Kill(l.Index)
		c.WaitFor(10*time.Second, "a new leader", func() bool { return c.Leader() != nil })
		evs := collect(t, sub, time.Second)
		if len(evs) == 0 || !evs[0].Reset {
			t.Fatalf("after the leader died the watcher got %v, want a reset first", evs)
		}
		second := makeChanges(t, c, rng, "w/", 200)
		evs = append(evs, collect(t, sub, time.Second)...)
		checkStream(t, evs, second)

		// Disconnect, miss some changes, resume with since.
		var lastSeen store.Version
		for _, e := range evs {
			if !e.Reset {
				lastSeen = e.Version
			}
		}
		f.Unwatch(sub)
		missed := makeChanges(t, c, rng, "w/", 100)
		resumed, err := f.Watch("w/", &lastSeen)
		if err != nil {
			t.Fatal(err)
		}
		evs = collect(t, resumed, time.Second)
		if len(evs) > 0 && evs[0].Reset {
			t.Fatalf("resuming from %v (still in the history) sent a reset", lastSeen)
		}
		checkStream(t, evs, missed)

		// A version the history never held: a reset.
		old, err := f.Watch("w/", &store.Version{Term: 1, Seq: 1})
		if err != nil {
			t.Fatal(err)
		}
		if evs := collect(t, old, 100*time.Millisecond); len(evs) != 1 || !evs[0].Reset {
			t.Fatalf("resuming from an unknown version: %v, want one reset", evs)
		}
	})
}

// TestSlowWatcherIsDroppedAndWritesGoOn subscribes a watcher that never
// reads: once its buffer is full it is ended as too slow, writes keep being
// acknowledged, and a reading watcher gets every change.
func TestSlowWatcherIsDroppedAndWritesGoOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Configure: func(_ int, cfg *node.Config) {
			cfg.Watch.Buffer, cfg.Watch.MaxWatchers = 16, 3
		}})
		l := settle(t, c)
		stuck, err := l.Watch("", nil)
		if err != nil {
			t.Fatal(err)
		}
		reader, err := l.Watch("", nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int, 1)
		go func() {
			n := 0
			for e := range reader.All() {
				if !e.Reset {
					n++
				}
			}
			got <- n
		}()
		for i := range 200 {
			if r := l.Do(http.MethodPut, fmt.Sprintf("/v1/kv/s%d", i), []byte("v")); r.Status != http.StatusOK {
				t.Fatalf("write %d with a stuck watcher: %v", i, r)
			}
			synctest.Wait() // the reader has caught up; the stuck one has not
		}
		synctest.Wait()
		if evs, open := stuck.Take(); open || len(evs) != 0 { // a dropped feed holds nothing
			t.Fatalf("the dropped feed: open %v with %d events", open, len(evs))
		}
		if stuck.Err() != node.ErrWatcherTooSlow {
			t.Fatalf("stuck watcher ended with %v, want too slow", stuck.Err())
		}
		if _, dropped := l.Watchers(); dropped != 1 {
			t.Fatalf("%d watchers dropped, want 1", dropped)
		}
		// The cap: 3 watchers (the reader and two more).
		a, err1 := l.Watch("", nil)
		b, err2 := l.Watch("", nil)
		if _, err3 := l.Watch("", nil); err1 != nil || err2 != nil || err3 == nil {
			t.Fatalf("cap of 3: errors %v %v %v, want nil nil and a refusal", err1, err2, err3)
		}
		l.Unwatch(a)
		l.Unwatch(b)
		l.Unwatch(reader)
		if n := <-got; n != 200 {
			t.Fatalf("the reading watcher got %d changes, want 200", n)
		}
	})
}
