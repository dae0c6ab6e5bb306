package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/shard"
)

// TestPrimaryReads: with WithPrimaryReads, every read through a client
// that names one node lands on the key's primary; after a node dies the
// reads still succeed (the dead primary skipped, the table refetched).
func TestPrimaryReads(t *testing.T) {
	lc := startLive(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	w := newClient(t, []string{lc.endpoint(0)})
	keys := make([]string, 120)
	for i := range keys {
		keys[i] = fmt.Sprintf("route/k%03d", i)
		if _, err := w.Put(ctx, keys[i], []byte(keys[i])); err != nil {
			t.Fatal(err)
		}
	}
	// Where each key's primary is, as the cluster says.
	resp, err := http.Get(lc.endpoint(0) + "/v1/placement")
	if err != nil {
		t.Fatal(err)
	}
	var pl struct{ Buckets [][]uint64 }
	if err := json.NewDecoder(resp.Body).Decode(&pl); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := make([][]string, 3)
	for _, k := range keys {
		id := pl.Buckets[shard.BucketOf(k, len(pl.Buckets))][0]
		i := lc.index(id)
		want[i] = append(want[i], k)
	}
	lc.mu.Lock()
	lc.reads = make([][]string, 3)
	lc.mu.Unlock()
	r := newClient(t, []string{lc.endpoint(1)}, client.WithPrimaryReads())
	for _, k := range keys {
		if v, err := r.Get(ctx, k); err != nil || string(v.Data) != k {
			t.Fatalf("Get %s: %v %v", k, v, err)
		}
	}
	lc.mu.Lock()
	got := lc.reads
	lc.mu.Unlock()
	for i := range 3 {
		slices.Sort(got[i])
		slices.Sort(want[i])
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("node %d served reads of %d keys, %d of which it is the primary", i, len(got[i]), len(want[i]))
		}
	}

	// A node dies: reads go on, those of its keys through the others.
	ci, err := r.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	down := 2
	if lc.index(ci.Leader) == 2 {
		down = 0
	}
	lc.kill(down)
	for _, k := range keys {
		if v, err := r.Get(ctx, k); err != nil || string(v.Data) != k {
			t.Fatalf("Get %s after node %d died: %v %v", k, down, v, err)
		}
	}
}

// BenchmarkGetRouting compares reads sent to one node (which asks the
// key's primary when it is not) with reads sent straight to the primary
// (WithPrimaryReads), against three jumpkv processes on loopback:
//
//	go test -run '^$' -bench GetRouting -benchtime 5000x ./client
func BenchmarkGetRouting(b *testing.B) {
	pc := startProcs(b, 3)
	ctx := b.Context()
	w, err := client.New([]string{pc.endpoint(0)})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench/k%04d", i)
		if _, err := w.Put(ctx, keys[i], make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name string
		opts []client.Option
	}{{"one-endpoint", nil}, {"primary", []client.Option{client.WithPrimaryReads()}}} {
		b.Run(mode.name, func(b *testing.B) {
			c, err := client.New([]string{pc.endpoint(0)}, mode.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Get(ctx, keys[0]); err != nil { // warm the table and the connections
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := c.Get(ctx, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
