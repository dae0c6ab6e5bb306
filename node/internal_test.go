package node_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// Internal keys (a file's chunks) are stored and read like any key, but no
// listing of the client key space and no watcher sees them; a manifest's
// put reaches watchers marked as a file.
func TestInternalKeysStayOutOfListingsAndWatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := settle(t, c)
		f := c.Followers(l)[0]
		ctx := context.Background()
		sub, err := f.Watch("", nil)
		if err != nil {
			t.Fatal(err)
		}
		chunk := kv.InternalPrefix + "f/c/x/0"
		for _, op := range []wire.WriteOp{
			{Kind: wire.WritePut, Key: chunk, Value: []byte("chunk bytes")},
			{Kind: wire.WritePut, Key: "a", Value: []byte("plain")},
			{Kind: wire.WritePut, Key: "b", Value: []byte(`{"v":1}`), ContentType: kv.FileType},
		} {
			if _, err := f.Write(ctx, op); err != nil {
				t.Fatalf("%s: %v", op.Key, err)
			}
		}
		if e, err := f.Get(ctx, chunk); err != nil || string(e.Value) != "chunk bytes" {
			t.Fatalf("reading the internal key: %q, %v", e.Value, err)
		}
		for _, after := range []string{"", kv.InternalPrefix} {
			keys, _, err := f.List(ctx, "", after, 100)
			if err != nil || !slices.Equal(keys, []string{"a", "b"}) {
				t.Fatalf("List(\"\", after %q) = %q, %v; want [a b]", after, keys, err)
			}
		}
		keys, _, err := f.List(ctx, kv.InternalPrefix+"f/", "", 100)
		if err != nil || !slices.Equal(keys, []string{chunk}) {
			t.Fatalf("listing the internal prefix itself = %q, %v", keys, err)
		}
		evs := collect(t, sub, time.Second)
		var got []string
		for _, e := range evs {
			if e.Reset {
				continue
			}
			got = append(got, e.Key)
			if e.File != (e.Key == "b") {
				t.Errorf("event of %q has File=%v", e.Key, e.File)
			}
		}
		if !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("watcher saw %q, want [a b] (no internal key)", got)
		}
	})
}
