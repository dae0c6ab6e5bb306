package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/internal/memstore"
	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// memBackend is a Backend over an in-memory store, for the file routes.
type memBackend struct{ *memstore.Store }

func (memBackend) ID() shard.NodeID                                  { return 7 }
func (memBackend) Leader() shard.NodeID                              { return 7 }
func (memBackend) Cluster(context.Context) (wire.ClusterInfo, error) { return wire.ClusterInfo{}, nil }
func (memBackend) Status() node.Status                               { return node.Status{ID: 7} }
func (memBackend) RemoveMember(context.Context, shard.NodeID) error  { return wire.ErrBadRequest }
func (memBackend) Ready() (bool, string)                             { return true, "" }
func (memBackend) Watch(string, *store.Version) (*node.Subscription, error) {
	return nil, wire.ErrUnavailable
}
func (memBackend) Unwatch(*node.Subscription)    {}
func (memBackend) Placement() *wire.ClusterState { return nil }
func (memBackend) Metrics() *prometheus.Registry { return nil }

func fileAPI(t *testing.T) (http.Handler, *files.FS, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	st.MaxValue = 4096
	cfg := files.DefaultConfig(4096)
	cfg.ChunkSize = 1000
	fs, err := files.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ValidateAPI(t, New(memBackend{st}, Config{MaxValue: 4096, Files: fs})), fs, st
}

func TestFilesOverHTTP(t *testing.T) {
	h, fs, st := fileAPI(t)
	ctx := context.Background()
	data := make([]byte, 5500)
	_, _ = rand.Read(data)
	in, err := fs.Put(ctx, "docs/r.pdf", bytes.NewReader(data), files.PutOptions{ContentType: "application/pdf"})
	if err != nil {
		t.Fatal(err)
	}
	tag := etag(in.Version)

	r := serve(h, "GET", "/v1/kv/docs/r.pdf", "")
	if r.Code != 200 || !bytes.Equal(r.Body.Bytes(), data) {
		t.Fatalf("GET: %d, %d bytes", r.Code, r.Body.Len())
	}
	if r.Header().Get("Content-Type") != "application/pdf" || r.Header().Get("ETag") != tag ||
		r.Header().Get("Accept-Ranges") != "bytes" || r.Header().Get("X-Jumpkv-File") != "true" {
		t.Fatalf("GET headers: %v", r.Header())
	}
	r = serve(h, "GET", "/v1/kv/docs/r.pdf", "", "Range", "bytes=990-2009")
	if r.Code != 206 || !bytes.Equal(r.Body.Bytes(), data[990:2010]) || r.Header().Get("Content-Range") != "bytes 990-2009/5500" {
		t.Fatalf("Range: %d %v", r.Code, r.Header())
	}
	r = serve(h, "GET", "/v1/kv/docs/r.pdf", "", "Range", "bytes=-7")
	if r.Code != 206 || !bytes.Equal(r.Body.Bytes(), data[5493:]) {
		t.Fatalf("suffix Range: %d", r.Code)
	}
	if r = serve(h, "GET", "/v1/kv/docs/r.pdf", "", "Range", "bytes=9000-"); r.Code != 416 {
		t.Fatalf("Range past the end: %d", r.Code)
	}
	if r = serve(h, "GET", "/v1/kv/docs/r.pdf", "", "If-None-Match", tag); r.Code != 304 {
		t.Fatalf("If-None-Match: %d", r.Code)
	}
	r = serve(h, "HEAD", "/v1/kv/docs/r.pdf", "")
	if r.Code != 200 || r.Header().Get("Content-Length") != "5500" || r.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %v", r.Code, r.Header())
	}

	// A plain value serves a Range too.
	serve(h, "PUT", "/v1/kv/docs/v", "0123456789")
	if r = serve(h, "GET", "/v1/kv/docs/v", "", "Range", "bytes=2-4"); r.Code != 206 || r.Body.String() != "234" {
		t.Fatalf("Range of a value: %d %q", r.Code, r.Body)
	}

	// Listings: no internal key; ?detail gives sizes.
	r = serve(h, "GET", "/v1/kv?detail=true", "")
	var lr listResult
	if err := json.Unmarshal(r.Body.Bytes(), &lr); err != nil || r.Code != 200 {
		t.Fatalf("list: %d %s", r.Code, r.Body)
	}
	if strings.Join(lr.Keys, ",") != "docs/r.pdf,docs/v" || len(lr.Entries) != 2 ||
		lr.Entries[0] != (entryView{Key: "docs/r.pdf", Size: 5500, File: true}) || lr.Entries[1] != (entryView{Key: "docs/v", Size: 10}) {
		t.Fatalf("list: %+v", lr)
	}

	// Append streams into the file.
	r = serve(h, "POST", "/v1/kv/docs/r.pdf?op=append", "more")
	if r.Code != 200 {
		t.Fatalf("append: %d %s", r.Code, r.Body)
	}
	if r = serve(h, "GET", "/v1/kv/docs/r.pdf", ""); !bytes.Equal(r.Body.Bytes(), append(data, "more"...)) {
		t.Fatal("after append: different bytes")
	}

	// Clients cannot forge a manifest nor name an internal key.
	if r = serve(h, "PUT", "/v1/kv/forged", `{"v":1}`, "Content-Type", kv.FileType); r.Code != 400 {
		t.Fatalf("a forged manifest: %d", r.Code)
	}
	if r = serve(h, "GET", "/v1/kv/%00f/u/x", ""); r.Code != 400 {
		t.Fatalf("an internal key: %d", r.Code)
	}

	// DELETE removes the file and its chunks.
	if r = serve(h, "DELETE", "/v1/kv/docs/r.pdf", ""); r.Code != 204 {
		t.Fatalf("DELETE: %d %s", r.Code, r.Body)
	}
	for _, k := range st.Keys() {
		if kv.IsInternal(k) {
			t.Fatalf("left after DELETE: %q", k)
		}
	}
	if r = serve(h, "GET", "/v1/kv/docs/r.pdf", ""); r.Code != 404 {
		t.Fatalf("GET after DELETE: %d", r.Code)
	}
}

func TestFileWatchMessageCarriesTheSize(t *testing.T) {
	m := files.Manifest{Version: 1, Size: 3, Runs: []files.Run{{ID: strings.Repeat("a", 32), Count: 1, Chunk: 10, Last: 3}}}
	b, _ := json.Marshal(m)
	msg := watchMessage(wire.Event{Key: "f", Value: b, File: true, Version: store.Version{Term: 1, Seq: 4}})
	out, _ := json.Marshal(msg)
	if string(out) != `{"type":"put","key":"f","version":"1.4","size":3,"file":true}` {
		t.Fatalf("file event: %s", out)
	}
	msg = watchMessage(wire.Event{Key: "v", Value: []byte("x"), Version: store.Version{Term: 1, Seq: 5}})
	if out, _ := json.Marshal(msg); string(out) != `{"type":"put","key":"v","value":"eA==","version":"1.5"}` {
		t.Fatalf("value event: %s", out)
	}
}
