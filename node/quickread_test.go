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
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// TestReadOnTheReaderDeclinesToWaitForAMerge checks that a replica asked
// to read on its connection's reader (a quick request) answers there only
// once the bucket is merged under the current authority; until then it
// declines with transport.ErrWouldBlock rather than merge on the reader,
// and the same request served off the reader merges and answers.
func TestReadOnTheReaderDeclinesToWaitForAMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		l := c.WaitLeader(30 * time.Second)
		st := l.Placement()
		// A bucket both of whose replicas are followers: the backup is
		// merged by nobody until it is asked to act as primary.
		key, reps := keyPlaced(st, func(reps []shard.NodeID) bool {
			return len(reps) == 2 && reps[0] != l.ID() && reps[1] != l.ID()
		})
		backup := c.ByID(reps[1])
		if r := l.Do(http.MethodPut, "/v1/kv/"+key, []byte("v1")); r.Status != http.StatusOK {
			t.Fatalf("put: %v", r)
		}
		b := shard.BucketOf(key, 64)
		read := func(ctx context.Context) (wire.Message, error) {
			return backup.ServePeer(ctx, transport.Envelope{From: uint64(l.ID()), Term: l.Term(),
				Msg: &wire.Read{Bucket: b, Since: st.Table.Since[b], Key: key, Acting: true}})
		}
		if !backup.Quick(&wire.Read{Bucket: b, Key: key, Acting: true}) {
			t.Fatal("a read at a replica is not a quick request")
		}
		if _, err := read(transport.WithInline(t.Context())); !errors.Is(err, transport.ErrWouldBlock) {
			t.Fatalf("inline read of a bucket not merged: %v, want ErrWouldBlock", err)
		}
		for _, pass := range []struct {
			name string
			ctx  context.Context
		}{{"off the reader, merging first", t.Context()}, {"inline, once merged", transport.WithInline(t.Context())}} {
			resp, err := read(pass.ctx)
			if err != nil {
				t.Fatalf("read %s: %v", pass.name, err)
			}
			if rr, ok := resp.(*wire.ReadResp); !ok || !rr.Found || string(rr.Entry.Value) != "v1" {
				t.Fatalf("read %s: %#v, want v1", pass.name, resp)
			}
		}
	})
}
