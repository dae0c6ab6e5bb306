package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jumpkv/jumpkv/internal/memstore"
	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

const testChunk = 1024

// clock is a settable time for the collector's grace periods.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFS(t *testing.T) (*FS, *memstore.Store, *clock) {
	t.Helper()
	st := memstore.New()
	st.MaxValue = 4 * testChunk
	cfg := DefaultConfig(4 * testChunk)
	cfg.ChunkSize = testChunk
	cfg.MaxFile = 64 * testChunk
	cfg.RetryFor = 0
	fs, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	fs.now = c.now
	return fs, st, c
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func readAll(t *testing.T, fs *FS, key string) []byte {
	t.Helper()
	f, err := fs.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return buf.Bytes()
}

// internal returns the internal keys held: chunks and records.
func internal(st *memstore.Store) (chunks, records []string) {
	for _, k := range st.Keys() {
		switch {
		case strings.HasPrefix(k, chunkPrefix):
			chunks = append(chunks, k)
		case strings.HasPrefix(k, recordPrefix):
			records = append(records, k)
		}
	}
	return chunks, records
}

func TestPutOpenRoundTripAtEverySize(t *testing.T) {
	fs, st, _ := newFS(t)
	st.Alias = true // the store keeps the slices it is given, as a node's own replica does
	ctx := context.Background()
	for _, n := range []int{0, 1, testChunk - 1, testChunk, testChunk + 1, 5*testChunk + 3, 64 * testChunk} {
		data := random(n)
		in, err := fs.Put(ctx, "f", bytes.NewReader(data), PutOptions{})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if in.Size != int64(n) || !in.File {
			t.Fatalf("%d bytes: put says %+v", n, in)
		}
		if got := readAll(t, fs, "f"); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back %d different bytes", n, len(got))
		}
		s, err := fs.Stat(ctx, "f")
		if err != nil || s.Size != int64(n) || !s.File || s.Version != in.Version {
			t.Fatalf("%d bytes: stat %+v, %v", n, s, err)
		}
		// Every offset pattern a Range or REST makes.
		if n > 2 {
			f, _ := fs.Open(ctx, "f")
			for _, off := range []int64{int64(n) - 1, 0, int64(n) / 2, 1} {
				if _, err := f.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				part := make([]byte, min(int64(testChunk+10), int64(n)-off))
				if _, err := io.ReadFull(f, part); err != nil || !bytes.Equal(part, data[off:off+int64(len(part))]) {
					t.Fatalf("%d bytes: reading %d at %d: %v", n, len(part), off, err)
				}
			}
			f.Close()
		}
	}
	chunks, _ := internal(st)
	if len(chunks) == 0 {
		t.Fatal("no chunk stored")
	}
	if keys, _, _ := st.List(ctx, "", "", 0); !slices.Equal(keys, []string{"f"}) {
		t.Fatalf("client listing shows %q", keys)
	}
}

// boundedStore counts the chunk writes in flight at once.
type boundedStore struct {
	*memstore.Store
	now, most atomic.Int64
	release   chan struct{}
}

func (b *boundedStore) Write(ctx context.Context, op wire.WriteOp) (kv.Version, error) {
	if strings.HasPrefix(op.Key, chunkPrefix) && op.Kind == wire.WritePut {
		n := b.now.Add(1)
		for {
			m := b.most.Load()
			if n <= m || b.most.CompareAndSwap(m, n) {
				break
			}
		}
		defer b.now.Add(-1)
		<-b.release
	}
	return b.Store.Write(ctx, op)
}

// TestUploadKeepsAtMostInFlightChunksGoing: an upload keeps InFlight
// chunk writes going at once, no more, and reads at most one chunk ahead
// of them. Each write is held until the test releases it, once every
// goroutine of the upload is blocked (synctest.Wait): counting the writes
// in flight as fast as the test could release them found one at a time
// when the uploader was slow to start the next (a loaded CI machine).
func TestUploadKeepsAtMostInFlightChunksGoing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs := &boundedStore{Store: memstore.New(), release: make(chan struct{})}
		bs.MaxValue = 4 * testChunk
		cfg := DefaultConfig(4 * testChunk)
		cfg.ChunkSize, cfg.InFlight = testChunk, 3
		fs, err := New(bs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// A reader that counts how far ahead of the writes the upload reads.
		const chunks = 40
		data := random(chunks * testChunk)
		src := &countingReader{r: bytes.NewReader(data)}
		done := make(chan error, 1)
		go func() {
			_, err := fs.Put(context.Background(), "big", src, PutOptions{})
			done <- err
		}()
		for i := range chunks {
			synctest.Wait() // the upload has begun every write it may
			if n, want := bs.now.Load(), int64(min(cfg.InFlight, chunks-i)); n != want {
				t.Fatalf("after %d chunk writes, %d in flight, want %d", i, n, want)
			}
			bs.release <- struct{}{}
			// Released i+1 writes: the upload may have read at most
			// InFlight+1 chunks more than that.
			if ahead := src.n.Load() - int64(i+1)*testChunk; ahead > int64(cfg.InFlight+1)*testChunk {
				t.Fatalf("after %d chunk writes the upload read %d bytes ahead", i+1, ahead)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if m := bs.most.Load(); m != int64(cfg.InFlight) {
			t.Fatalf("%d chunk writes in flight at most, want %d", m, cfg.InFlight)
		}
		if got := readAll(t, fs, "big"); !bytes.Equal(got, data) {
			t.Fatal("read back different bytes")
		}
	})
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// failingReader yields n bytes, then an error (a client gone).
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestAbortedOrOversizedUploadLeavesNothing(t *testing.T) {
	fs, st, _ := newFS(t)
	ctx := context.Background()
	if _, err := fs.Put(ctx, "old", bytes.NewReader([]byte("kept")), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := st.Keys()
	if _, err := fs.Put(ctx, "a", &failingReader{n: 7*testChunk + 5}, PutOptions{}); err == nil {
		t.Fatal("an upload whose client went away succeeded")
	}
	_, err := fs.Put(ctx, "b", bytes.NewReader(random(64*testChunk+1)), PutOptions{})
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("an upload past MaxFile: %v, want ErrTooLarge", err)
	}
	_, err = fs.Put(ctx, "old", &failingReader{n: 3 * testChunk}, PutOptions{})
	if err == nil {
		t.Fatal("a failed overwrite succeeded")
	}
	if after := st.Keys(); !slices.Equal(after, before) {
		t.Fatalf("keys after the failed uploads %q, before %q", after, before)
	}
	if got := readAll(t, fs, "old"); string(got) != "kept" {
		t.Fatalf("a failed overwrite changed the file: %q", got)
	}
}

func TestAppendCopiesThePartialChunkAndTheCollectorTrimsIt(t *testing.T) {
	fs, st, clk := newFS(t)
	ctx := context.Background()
	a, b := random(2*testChunk+100), random(testChunk+50)
	if _, err := fs.Put(ctx, "log", bytes.NewReader(a), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Put(ctx, "log", bytes.NewReader(b), PutOptions{Append: true}); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(a), b...)
	if got := readAll(t, fs, "log"); !bytes.Equal(got, want) {
		t.Fatal("append read back different bytes")
	}
	chunks, _ := internal(st)
	if len(chunks) != 3+2 { // 3 of the first upload, 2 of the append
		t.Fatalf("%d chunks, want 5", len(chunks))
	}
	// The first upload's partial last chunk is now named by no manifest:
	// judged on one pass, removed on a pass after the grace period.
	if _, err := fs.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := internal(st); len(c) != 5 {
		t.Fatalf("removed before the grace period: %d chunks", len(c))
	}
	clk.add(fs.cfg.Grace + time.Second)
	s, err := fs.Collect(ctx)
	if err != nil || s.Chunks != 1 {
		t.Fatalf("collect after grace: %+v, %v; want 1 chunk removed", s, err)
	}
	if got := readAll(t, fs, "log"); !bytes.Equal(got, want) {
		t.Fatal("the collector damaged the file")
	}
	// Appending to a plain value makes it a file.
	if _, err := st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: "v", Value: []byte("abc"), ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	in, err := fs.Put(ctx, "v", strings.NewReader("def"), PutOptions{Append: true})
	if err != nil || !in.File || in.Type != "text/plain" {
		t.Fatalf("append to a value: %+v, %v", in, err)
	}
	if got := readAll(t, fs, "v"); string(got) != "abcdef" {
		t.Fatalf("append to a value read %q", got)
	}
}

func TestAppendRacingAWriteFails(t *testing.T) {
	fs, st, _ := newFS(t)
	ctx := context.Background()
	if _, err := fs.Put(ctx, "f", strings.NewReader("one"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// The file is overwritten while the append streams.
	r := &hookReader{r: strings.NewReader("two"), hook: func() {
		if _, err := st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: "f", Value: []byte("other")}); err != nil {
			t.Error(err)
		}
	}}
	if _, err := fs.Put(ctx, "f", r, PutOptions{Append: true}); !errors.Is(err, ErrChanged) {
		t.Fatalf("append racing a put: %v, want ErrChanged", err)
	}
	if got := readAll(t, fs, "f"); string(got) != "other" {
		t.Fatalf("read %q, want the racing put's value", got)
	}
	if c, recs := internal(st); len(recs) != 1 || len(c) != 1 {
		t.Fatalf("after the failed append: chunks %q records %q (want only the first upload's)", c, recs)
	}
}

type hookReader struct {
	r    io.Reader
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
	return h.r.Read(p)
}

func TestOverwriteKeepsOldChunksForTheGracePeriod(t *testing.T) {
	fs, st, clk := newFS(t)
	ctx := context.Background()
	old := random(3 * testChunk)
	if _, err := fs.Put(ctx, "f", bytes.NewReader(old), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	reader, err := fs.Open(ctx, "f") // a download begun before the overwrite
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	nw := random(2 * testChunk)
	if _, err := fs.Put(ctx, "f", bytes.NewReader(nw), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, reader); err != nil || !bytes.Equal(got.Bytes(), old) {
		t.Fatalf("the download begun before the overwrite: %v", err)
	}
	clk.add(fs.cfg.Grace + time.Second)
	s, err := fs.Collect(ctx)
	if err != nil || s.Chunks != 3 || s.Records != 1 {
		t.Fatalf("collect: %+v, %v; want the 3 old chunks and their record", s, err)
	}
	if got := readAll(t, fs, "f"); !bytes.Equal(got, nw) {
		t.Fatal("the new file was damaged")
	}
	// Nothing left to do: another pass removes nothing.
	clk.add(fs.cfg.Grace + time.Second)
	if s, _ := fs.Collect(ctx); s.Chunks != 0 {
		t.Fatalf("a later pass removed %d chunks of the live file", s.Chunks)
	}
	if c, _ := internal(st); len(c) != 2 {
		t.Fatalf("%d chunks left, want the new file's 2", len(c))
	}
}

func TestDeleteRemovesChunksAtOnce(t *testing.T) {
	fs, st, _ := newFS(t)
	ctx := context.Background()
	if _, err := fs.Put(ctx, "d/f", bytes.NewReader(random(5*testChunk)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	in, err := fs.Delete(ctx, "d/f", nil)
	if err != nil || in.Size != 5*testChunk {
		t.Fatalf("delete: %+v, %v", in, err)
	}
	if keys := st.Keys(); len(keys) != 0 {
		t.Fatalf("left after delete: %q", keys)
	}
	if _, err := fs.Delete(ctx, "d/f", nil); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestRenameMovesTheManifestAndKeepsTheChunks(t *testing.T) {
	fs, st, clk := newFS(t)
	ctx := context.Background()
	data := random(3*testChunk + 7)
	if _, err := fs.Put(ctx, "a", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Put(ctx, "b", strings.NewReader("replaced"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, "a"); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("the source after rename: %v", err)
	}
	for range 2 {
		clk.add(fs.cfg.Grace + time.Second)
		if _, err := fs.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, fs, "b"); !bytes.Equal(got, data) {
		t.Fatal("the renamed file reads different bytes after collection")
	}
	if c, recs := internal(st); len(c) != 4 || len(recs) != 1 {
		t.Fatalf("chunks %d records %d, want 4 and 1 (the replaced file's gone)", len(c), len(recs))
	}
	// Deleting the renamed file removes everything.
	if _, err := fs.Delete(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if keys := st.Keys(); len(keys) != 0 {
		t.Fatalf("left: %q", keys)
	}
}

func TestCollectorRemovesACrashedUploadAfterTheGracePeriod(t *testing.T) {
	fs, st, clk := newFS(t)
	ctx := context.Background()
	// The uploading node dies: it cleans nothing up.
	var dead atomic.Bool
	st.Fail = func(op wire.WriteOp) error {
		if dead.Load() && op.Kind == wire.WriteDelete {
			return wire.ErrUnavailable
		}
		return nil
	}
	src := bytes.NewReader(random(4 * testChunk))
	_, err := fs.Put(ctx, "f", readerFunc(func(p []byte) (int, error) {
		if src.Len() == 0 {
			dead.Store(true)
			return 0, errors.New("node killed")
		}
		return src.Read(p)
	}), PutOptions{})
	if err == nil {
		t.Fatal("the upload succeeded")
	}
	dead.Store(false)
	chunks, recs := internal(st)
	if len(chunks) != 4 || len(recs) != 1 {
		t.Fatalf("the crash left %d chunks and %d records, want 4 and 1", len(chunks), len(recs))
	}
	if _, err := fs.Stat(ctx, "f"); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("a crashed upload is visible: %v", err)
	}
	if s, _ := fs.Collect(ctx); s.Chunks != 0 {
		t.Fatal("removed while the upload's claim was fresh")
	}
	clk.add(fs.cfg.Grace + time.Second)
	fs.Collect(ctx) // judged unnamed
	clk.add(fs.cfg.Grace + time.Second)
	if s, err := fs.Collect(ctx); err != nil || s.Chunks != 4 || s.Records != 1 {
		t.Fatalf("collect: %+v, %v", s, err)
	}
	if keys := st.Keys(); len(keys) != 0 {
		t.Fatalf("left: %q", keys)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestReadDirStreamsFilesAndFolders(t *testing.T) {
	fs, st, _ := newFS(t)
	ctx := context.Background()
	for _, k := range []string{"top", "d/a", "d/b", "d/sub/x", "d/sub/y", "d/z", "e/1"} {
		if _, err := fs.Put(ctx, k, bytes.NewReader(random(len(k))), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: "d/plain", Value: []byte("12345")}); err != nil {
		t.Fatal(err)
	}
	if err := fs.MakeDir(ctx, "d/empty"); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := fs.ReadDir(ctx, "d", "", func(in Info) error {
		s := in.Name()
		if in.Dir {
			s += "/"
		} else {
			s += ":" + string(rune('0'+in.Size))
		}
		got = append(got, s)
		return nil
	})
	want := []string{"a:3", "b:3", "empty/", "plain:5", "sub/", "z:3"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ReadDir(d) = %q, %v; want %q", got, err, want)
	}
	got = nil
	_ = fs.ReadDir(ctx, "", "", func(in Info) error { got = append(got, in.Name()); return nil })
	if !slices.Equal(got, []string{"d", "e", "top"}) {
		t.Fatalf("ReadDir(root) = %q", got)
	}
	got = nil
	_ = fs.ReadDir(ctx, "", "d/s", func(in Info) error { got = append(got, in.Name()); return nil })
	if !slices.Equal(got, []string{"d"}) {
		t.Fatalf("ReadDir(root, within d/s) = %q", got)
	}
	got = nil
	_ = fs.ReadDir(ctx, "", "", func(in Info) error { got = append(got, in.Name()); return nil })
	if !slices.Equal(got, []string{"d", "e", "top"}) {
		t.Fatalf("ReadDir(root) = %q", got)
	}
	if err := fs.RemoveDir(ctx, "d"); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("removing a full folder: %v", err)
	}
	if err := fs.RemoveDir(ctx, "d/empty"); err != nil {
		t.Fatal(err)
	}
	if in, err := fs.Stat(ctx, "d/sub"); err != nil || !in.Dir {
		t.Fatalf("stat of a folder: %+v, %v", in, err)
	}
	if _, err := fs.Open(ctx, "d/sub"); !errors.Is(err, ErrIsDir) {
		t.Fatalf("opening a folder: %v", err)
	}
}

func TestForgedOrDamagedManifestsAreRefused(t *testing.T) {
	fs, st, _ := newFS(t)
	ctx := context.Background()
	for i, v := range []string{
		`not json`,
		`{"v":1,"size":10,"runs":[]}`,
		`{"v":1,"size":5,"runs":[{"id":"zz","n":1,"c":5,"l":5}]}`,
		`{"v":1,"size":5,"runs":[{"id":"0123456789abcdef0123456789abcdef","n":1,"c":5,"l":5}]}`, // no such chunk
		`{"v":1,"size":-1,"runs":[{"id":"0123456789abcdef0123456789abcdef","n":-1,"c":5,"l":4}]}`,
	} {
		if _, err := st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: "m", Value: []byte(v), ContentType: kv.FileType}); err != nil {
			t.Fatal(err)
		}
		f, err := fs.Open(ctx, "m")
		if err == nil {
			_, err = io.Copy(io.Discard, f)
			f.Close()
		}
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("manifest %d: %v, want ErrDamaged", i, err)
		}
	}
	if _, err := fs.Put(ctx, kv.InternalPrefix+"x", strings.NewReader("x"), PutOptions{}); !errors.Is(err, ErrBadPath) {
		t.Fatalf("a put to an internal key: %v", err)
	}
}
