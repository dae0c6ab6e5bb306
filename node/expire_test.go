package node_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestTTLKeyExpiresEverywhere writes a key with ttl=2s: it reads back with
// X-Jumpkv-Expires until then, reads 404 from every node from its expiry
// on, is deleted as a tombstone, and a watcher sees one expire event.
func TestTTLKeyExpiresEverywhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := settle(t, c)
		sub, err := c.Nodes()[0].Watch("", nil)
		if err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		if r := l.Do(http.MethodPut, "/v1/kv/temp?ttl=2s", []byte("soon gone")); r.Status != 200 {
			t.Fatalf("PUT: %v", r)
		}
		for _, n := range c.Nodes() {
			r := n.Do(http.MethodGet, "/v1/kv/temp", nil)
			exp, err := time.Parse(time.RFC3339Nano, r.Header.Get("X-Jumpkv-Expires"))
			if r.Status != 200 || err != nil || exp.Sub(written) != 2*time.Second {
				t.Fatalf("GET via node %d: %v, X-Jumpkv-Expires %q (%v)", n.Index, r, r.Header.Get("X-Jumpkv-Expires"), err)
			}
		}
		time.Sleep(2 * time.Second)
		for _, n := range c.Nodes() {
			if r := n.Do(http.MethodGet, "/v1/kv/temp", nil); r.Status != http.StatusNotFound {
				t.Fatalf("GET via node %d at the expiry: %v, want 404", n.Index, r)
			}
		}
		c.WaitFor(time.Second, "the expired value deleted as a tombstone", func() bool {
			for _, n := range c.Nodes() {
				if n.Store().Stats().Tombstones == 0 && n.Store().Stats().Keys != 0 {
					return false
				}
			}
			return l.Store().Stats().Keys == 0
		})
		var kinds []string
		c.WaitFor(time.Second, "the expire event", func() bool {
			evs, _ := sub.Take()
			for _, e := range evs {
				switch {
				case e.Reset:
				case e.Expired:
					kinds = append(kinds, "expire")
				case e.Deleted:
					kinds = append(kinds, "delete")
				default:
					kinds = append(kinds, "put")
				}
			}
			return len(kinds) >= 2
		})
		if fmt.Sprint(kinds) != "[put expire]" {
			t.Fatalf("watcher saw %v, want [put expire]", kinds)
		}
	})
}

// TestManyTTLsExpireOnTime writes 10,000 keys with random ttls from 1s to
// 5s: none reads back after its expiry, and every one is deleted within
// a second of it, with one expire event each.
func TestManyTTLsExpireOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		settle(t, c)
		sub, err := c.Nodes()[1].Watch("", nil)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 10000
		expiry := map[string]time.Time{}
		expired := map[string]int{}
		late := time.Duration(0)
		take := func() {
			evs, open := sub.Take()
			if !open {
				t.Fatalf("the watcher was dropped: %v", sub.Err())
			}
			for _, e := range evs {
				if !e.Expired {
					continue
				}
				expired[e.Key]++
				late = max(late, time.Since(expiry[e.Key]))
			}
		}
		for i := range n {
			k := fmt.Sprintf("ttl/%05d", i)
			ms := 1000 + rng.IntN(4000)
			start := time.Now()
			if r := c.Nodes()[i%3].Do(http.MethodPut, fmt.Sprintf("/v1/kv/%s?ttl=%dms", k, ms), []byte("v")); r.Status != 200 {
				t.Fatalf("PUT %s: %v", k, r)
			}
			expiry[k] = start.Add(time.Duration(ms) * time.Millisecond)
			if i%100 == 0 {
				take()
			}
		}
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) && len(expired) < n {
			now := time.Now()
			for k, at := range expiry {
				if now.Sub(at) >= 0 && rng.IntN(100) == 0 { // a sample of reads past expiry
					nd := c.Nodes()[rng.IntN(3)]
					if r := nd.Do(http.MethodGet, "/v1/kv/"+k, nil); r.Status != http.StatusNotFound {
						t.Fatalf("%s read %d %v after its expiry via node %d", k, r.Status, now.Sub(at), nd.Index)
					}
				}
			}
			take()
			time.Sleep(50 * time.Millisecond)
		}
		take()
		t.Logf("%d expire events, the latest %v after its key's expiry", len(expired), late)
		if len(expired) != n || late > time.Second {
			t.Fatalf("%d keys had an expire event (want %d), the latest %v after the expiry (want at most 1s)", len(expired), n, late)
		}
		for k, count := range expired {
			if count != 1 {
				t.Fatalf("%s: %d expire events", k, count)
			}
		}
		for _, nd := range c.Nodes() {
			if keys := nd.Store().Stats().Keys; keys != 0 {
				t.Fatalf("node %d still holds %d live keys after every expiry", nd.Index, keys)
			}
		}
	})
}
