package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// PutOptions modify a Put.
type PutOptions struct {
	// ContentType is served with the file (empty: application/octet-stream).
	ContentType string
	// Append adds the bytes to the end of what key holds (a file or a
	// plain value; nothing: a new file), atomically: if key changes
	// meanwhile the append fails with ErrChanged.
	Append bool
	// IfMatch, when set, replaces only that version of key.
	IfMatch *kv.Version
	// IfNoneMatch creates only.
	IfNoneMatch bool
}

// Put stores the bytes of r as the file at key, streaming: r is read one
// chunk at a time and at most Config.InFlight chunks are being written at
// once. The file appears whole when Put returns nil, and not at all when
// it fails before its manifest is written (its chunks are removed). A
// failure writing the manifest itself may leave the outcome unknown
// (wire.ErrUnknownOutcome). Past Config.MaxFile bytes it fails with
// ErrTooLarge without reading further.
func (fs *FS) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (Info, error) {
	if kv.IsInternal(key) || key == "" {
		return Info{}, fmt.Errorf("%w: %q", ErrBadPath, key)
	}
	m := &Manifest{Version: 1, Type: o.ContentType}
	base := o.IfMatch
	var carry []byte // bytes of the current file that go first (an append)
	if o.Append {
		e, err := fs.st.Get(ctx, key)
		switch {
		case errors.Is(err, wire.ErrNotFound):
			base, o.IfNoneMatch = nil, true
		case err != nil:
			return Info{}, err
		case e.ContentType == kv.FileType:
			old, err := decodeManifest(e.Value)
			if err != nil {
				return Info{}, err
			}
			if m.Type == "" {
				m.Type = old.Type
			}
			m.Runs, m.Size = old.Runs, old.Size
			// A last chunk that is not full is copied into the new run
			// (chunks are never rewritten), so runs stay few.
			if n := len(m.Runs); n > 0 {
				last := m.Runs[n-1]
				if last.Last < fs.cfg.ChunkSize {
					c, err := fs.readChunk(ctx, last, last.Count-1)
					if err != nil {
						return Info{}, err
					}
					carry = c
					m.Runs = append([]Run(nil), m.Runs...)
					if last.Count == 1 {
						m.Runs = m.Runs[:n-1]
					} else {
						last.Count--
						last.Last = last.Chunk
						m.Runs[n-1] = last
					}
					m.Size -= int64(len(c))
				}
			}
			v := e.Version
			base = &v
		default:
			if m.Type == "" {
				m.Type = e.ContentType
			}
			carry = e.Value
			v := e.Version
			base = &v
		}
	}
	if m.Type == "" {
		m.Type = "application/octet-stream"
	}
	if carry != nil {
		r = io.MultiReader(bytes.NewReader(carry), r)
	}
	up := &upload{fs: fs, key: key, id: newID(), chunk: fs.cfg.ChunkSize, limit: fs.cfg.MaxFile - m.Size}
	run, err := up.run(ctx, r)
	if err != nil {
		return Info{}, err
	}
	if run.Count > 0 {
		m.Runs = append(m.Runs, run)
		m.Size += run.Bytes()
	}
	m.MTime = fs.now().UnixMilli()
	val := m.encode()
	if len(val) > fs.cfg.MaxValue {
		up.abort()
		return Info{}, fmt.Errorf("%w: the file's manifest would be %d bytes (%d runs of appends), the largest value is %d",
			ErrTooLarge, len(val), len(m.Runs), fs.cfg.MaxValue)
	}
	if !up.recVer.IsZero() {
		// Fails if the collector judged the chunks meanwhile.
		if err := up.renew(ctx, up.n); err != nil {
			up.abort()
			return Info{}, err
		}
	}
	v, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: key, Value: val, ContentType: kv.FileType,
		IfMatch: base, IfNoneMatch: o.IfNoneMatch})
	if err != nil {
		if !errors.Is(err, wire.ErrUnknownOutcome) {
			up.abort() // surely not written: nothing names the chunks
		}
		if o.Append && errors.Is(err, wire.ErrPrecondition) {
			err = fmt.Errorf("%w: %s was written during the append", ErrChanged, key)
		}
		return Info{}, err
	}
	up.settle(ctx)
	return Info{Key: key, Size: m.Size, ModTime: m.ModTime(), File: true, Type: m.Type, Version: v}, nil
}

// upload writes one run of chunks under its own ID.
type upload struct {
	fs    *FS
	key   string
	id    string
	chunk int
	limit int64 // bytes this run may hold

	n      int        // chunks started
	rec    record     // the record as last written
	recVer kv.Version // its version; zero: no record yet (no chunk yet)
	lastAt int64      // Unix ms of the last renewal
}

// run reads r to its end and writes it as chunks, InFlight at a time.
func (u *upload) run(ctx context.Context, r io.Reader) (Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	// At most InFlight chunk writes at once, and one chunk being read: the
	// upload's own memory. Each chunk gets a buffer of its own, never
	// reused: the node may keep the very slice it is given as the stored
	// value (a replica on this node).
	slots := make(chan struct{}, u.fs.cfg.InFlight)
	buf := make([]byte, u.chunk)
	var total int64
	last := 0
	for failed() == nil {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			total += int64(n)
			if total > u.limit {
				fail(fmt.Errorf("%w: the file passes the limit of %d bytes", ErrTooLarge, u.fs.cfg.MaxFile))
				break
			}
			if u.recVer.IsZero() || u.fs.now().UnixMilli()-u.lastAt > u.fs.cfg.Grace.Milliseconds()/3 {
				if rerr := u.renew(ctx, u.n+1); rerr != nil {
					fail(rerr)
					break
				}
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				fail(ctx.Err())
				break
			}
			i := u.n
			u.n++
			last = n
			data := buf[:n:n]
			if n < len(buf) {
				data = append([]byte(nil), data...) // a short last chunk keeps no full buffer alive
			}
			wg.Go(func() {
				defer func() { <-slots }()
				if err := u.fs.putRetry(ctx, wire.WriteOp{Kind: wire.WritePut, Key: chunkKey(u.id, i), Value: data}); err != nil {
					fail(fmt.Errorf("writing chunk %d of %s: %w", i, u.key, err))
				}
			})
			if n == len(buf) {
				buf = make([]byte, u.chunk)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			fail(fmt.Errorf("reading the upload: %w", err))
		}
	}
	wg.Wait()
	if err := failed(); err != nil {
		u.abort()
		return Run{}, err
	}
	if u.n == 0 {
		return Run{}, nil
	}
	return Run{ID: u.id, Count: u.n, Chunk: u.chunk, Last: last}, nil
}

// renew writes the record: busy for another grace period, claiming the
// chunks below n. The first call creates it; a later one fails with
// ErrChanged if the collector judged the upload meanwhile (it stalled
// past the grace period).
func (u *upload) renew(ctx context.Context, n int) error {
	u.lastAt = u.fs.now().UnixMilli()
	u.rec = record{Keys: []string{u.key}, N: n, Busy: u.lastAt + u.fs.cfg.Grace.Milliseconds()}
	var was *kv.Version
	if !u.recVer.IsZero() {
		was = &u.recVer
	}
	v, err := u.fs.casRecord(ctx, u.id, was, &u.rec)
	if err != nil {
		return fmt.Errorf("claiming the chunks of %s: %w", u.key, err)
	}
	u.recVer = v
	return nil
}

// settle marks the record idle once the manifest names the chunks.
func (u *upload) settle(ctx context.Context) {
	if u.recVer.IsZero() {
		return
	}
	u.rec.Busy, u.rec.N = 0, u.n
	if v, err := u.fs.casRecord(ctx, u.id, &u.recVer, &u.rec); err == nil {
		u.recVer = v
	}
}

// abort removes what the upload wrote; what it cannot remove the
// collector will.
func (u *upload) abort() {
	keys := make([]string, 0, u.n+1)
	for i := range u.n {
		keys = append(keys, chunkKey(u.id, i))
	}
	if !u.recVer.IsZero() {
		keys = append(keys, recordKey(u.id))
	}
	u.fs.deleteQuietly(keys...)
	u.n, u.recVer = 0, kv.Version{}
}
