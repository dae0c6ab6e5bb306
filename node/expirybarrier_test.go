package node_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// TestReadOfAValueJustExpiredWaitsForItsWrite: a read that finds a value
// just expired answers only once no leader write of the key is in flight
// (a write judged against the value while it was live may be about to
// make a new one readable), on every node and in GetMany; a value expired
// long ago is answered absent at once.
func TestReadOfAValueJustExpiredWaitsForItsWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := c.WaitLeader(30 * time.Second)
		c.WaitFor(30*time.Second, "every node ready", c.AllReady)
		ctx := context.Background()
		if l.SameStripe("soon", "long-ago") {
			t.Fatal("the test's two keys share a key lock: pick others")
		}
		for _, key := range []string{"soon", "long-ago"} {
			if r := l.Do(http.MethodPut, "/v1/kv/"+key+"?ttl=100ms", []byte("v")); r.Status != http.StatusOK {
				t.Fatalf("put: %v", r)
			}
		}
		// Writes of the keys in flight from before their expiry on: the
		// expirer's deletes wait too, so the values stay stored.
		release := l.HoldKeyLock("soon")
		releaseOld := l.HoldKeyLock("long-ago")
		defer releaseOld()
		type answer struct {
			node int
			err  error
		}
		reads := func(key string) chan answer {
			answers := make(chan answer, 2*len(c.Nodes()))
			for _, n := range c.Nodes() {
				go func() {
					_, err := n.Get(ctx, key)
					answers <- answer{n.Index, err}
				}()
				go func() {
					answers <- answer{n.Index, n.GetMany(ctx, []string{key, "other"})[0].Err}
				}()
			}
			synctest.Wait()
			return answers
		}
		time.Sleep(150 * time.Millisecond) // "soon" expired 50ms ago
		answers := reads("soon")
		select {
		case a := <-answers:
			t.Fatalf("node %d answered %v while a write of the key was in flight", a.node, a.err)
		default:
		}
		release()
		for range 2 * len(c.Nodes()) {
			if a := <-answers; !errors.Is(a.err, wire.ErrNotFound) {
				t.Errorf("node %d: %v, want not found once the write ended", a.node, a.err)
			}
		}
		// Expired long before: no write judged while it was live can still
		// hold the lock (it would have timed out), so no read waits.
		time.Sleep(10 * time.Second)
		answers = reads("long-ago")
		for range 2 * len(c.Nodes()) {
			select {
			case a := <-answers:
				if !errors.Is(a.err, wire.ErrNotFound) {
					t.Errorf("node %d, long after the expiry: %v", a.node, a.err)
				}
			default:
				t.Fatal("a read of a value expired 10s ago waited for the key's lock")
			}
		}
	})
}

// TestReadOfAValueJustExpiredInDoubtIsUnavailable: a value just expired
// whose last write's outcome is unknown answers 503 (ErrUnavailable) on
// every node and in GetMany, neither the value nor its absence: the write
// may yet be completed after the expiry it relied on. Once the expiry is
// old enough that no such write can still be completed, the key reads
// absent. The expirer's delete, which would settle the doubt, waits at
// the bucket's closed gate meanwhile.
func TestReadOfAValueJustExpiredInDoubtIsUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 8
		c := clustertest.Start(t, clustertest.Options{Nodes: 3, Buckets: buckets})
		l := c.WaitLeader(30 * time.Second)
		c.WaitFor(30*time.Second, "every node ready", c.AllReady)
		ctx := context.Background()
		const key = "doubtful"
		if r := l.Do(http.MethodPut, "/v1/kv/"+key+"?ttl=100ms", []byte("v")); r.Status != http.StatusOK {
			t.Fatalf("put: %v", r)
		}
		l.MarkInDoubt(key)
		open := l.CloseGate(shard.BucketOf(key, buckets))
		time.Sleep(150 * time.Millisecond) // expired 50ms ago
		for _, n := range c.Nodes() {
			if _, err := n.Get(ctx, key); !errors.Is(err, wire.ErrUnavailable) {
				t.Errorf("node %d: Get %v, want unavailable", n.Index, err)
			}
			if err := n.GetMany(ctx, []string{key, "other"})[0].Err; !errors.Is(err, wire.ErrUnavailable) {
				t.Errorf("node %d: GetMany %v, want unavailable", n.Index, err)
			}
		}
		if r := c.Nodes()[0].Do(http.MethodGet, "/v1/kv/"+key, nil); r.Status != http.StatusServiceUnavailable {
			t.Errorf("HTTP GET answered %d, want 503", r.Status)
		}
		open()
		time.Sleep(10 * time.Second)
		for _, n := range c.Nodes() {
			if _, err := n.Get(ctx, key); !errors.Is(err, wire.ErrNotFound) {
				t.Errorf("node %d, 10s after the expiry: %v, want not found", n.Index, err)
			}
		}
	})
}

// TestLeaderJudgesAReadsExpiryWhileItHoldsTheLock: a read the leader
// makes on another node's behalf is judged at the instant the leader
// holds the key's lock, and the asker takes that answer as final. The
// asker here is a follower cut off from the key's primary, so its read
// goes through the leader once its call to the primary times out (2s);
// the leader waits for the key's lock (a write in flight) until 5ms
// before the value expires (3s), and its answer arrives 10ms later. Judged again by the asker's clock it read
// absent, while a conditional write that took the lock just after the
// read, and judged the value live, could still be on its way: the
// nemesis found that order (seed 6628 of TestLinearizableWithTTLsAndDelays).
func TestLeaderJudgesAReadsExpiryWhileItHoldsTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const buckets = 8
		c, l := delayedCluster(t, buckets, 10*time.Millisecond)
		ctx := context.Background()
		primary, own, _ := primaryBucketsOf(t, ctx, c, l, buckets)
		var asker *clustertest.Node
		for _, f := range c.Followers(l) {
			if f != primary {
				asker = f
			}
		}
		key := keyIn("judged", own[0], buckets)
		if r := l.Do(http.MethodPut, "/v1/kv/"+key+"?ttl=3s", []byte("v")); r.Status != http.StatusOK {
			t.Fatalf("put: %v", r)
		}
		var e store.Entry
		c.WaitFor(time.Second, "the value read back", func() bool {
			var err error
			e, err = l.Get(ctx, key)
			return err == nil
		})
		expires := time.UnixMilli(e.Expires)
		c.Net.Block(clustertest.PeerAddr(asker.Index), clustertest.PeerAddr(primary.Index))
		release := l.HoldKeyLock(key)
		type answer struct {
			value []byte
			err   error
		}
		answers := make(chan answer, 1)
		go func() {
			e, err := asker.Get(ctx, key)
			answers <- answer{e.Value, err}
		}()
		time.Sleep(time.Until(expires) - 5*time.Millisecond)
		select {
		case a := <-answers:
			t.Fatalf("the read answered %q, %v while the leader held the key's lock", a.value, a.err)
		default:
		}
		release()
		a := <-answers
		if !time.Now().After(expires) {
			t.Fatalf("the answer arrived at %v, before the expiry at %v: the test did not make its case", time.Now(), expires)
		}
		if a.err != nil || string(a.value) != "v" {
			t.Errorf("read %q, %v: want the value, live when the leader held the key's lock", a.value, a.err)
		}
	})
}
