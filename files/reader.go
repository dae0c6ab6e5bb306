package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// readChunk reads chunk i of run r and checks its length.
func (fs *FS) readChunk(ctx context.Context, r Run, i int) ([]byte, error) {
	e, err := fs.getRetry(ctx, chunkKey(r.ID, i))
	if errors.Is(err, wire.ErrNotFound) {
		return nil, fmt.Errorf("%w: chunk %d of upload %s is gone", ErrDamaged, i, r.ID)
	}
	if err != nil {
		return nil, err
	}
	if len(e.Value) != r.chunkLen(i) {
		return nil, fmt.Errorf("%w: chunk %d of upload %s holds %d bytes, not %d", ErrDamaged, i, r.ID, len(e.Value), r.chunkLen(i))
	}
	return e.Value, nil
}

// File is an open file or value: an io.ReadSeeker over its bytes. A file
// is read chunk by chunk, the next one fetched while the current one is
// read, so that at most two chunks are held. Close must be called; it
// waits for a fetch in flight.
type File struct {
	Info
	plain *bytes.Reader // a plain value

	fs     *FS
	ctx    context.Context
	cancel context.CancelFunc
	m      *Manifest
	starts []int64
	off    int64

	cur      []byte // the chunk holding curStart..
	curStart int64
	curOK    bool
	next     *fetch // the chunk after cur, on its way
}

// fetch is one chunk read in the background.
type fetch struct {
	start int64
	done  chan struct{}
	data  []byte
	err   error
}

// Open opens the file or value at key for reading. ctx bounds every read.
func (fs *FS) Open(ctx context.Context, key string) (*File, error) {
	if key == "" || kv.IsInternal(key) {
		return nil, fmt.Errorf("%w: %q", ErrBadPath, key)
	}
	e, err := fs.st.Get(ctx, key)
	if err != nil {
		if errors.Is(err, wire.ErrNotFound) {
			if in, serr := fs.Stat(ctx, key); serr == nil && in.Dir {
				return nil, fmt.Errorf("%w: %s", ErrIsDir, key)
			}
		}
		return nil, err
	}
	return fs.OpenEntry(ctx, e)
}

// OpenEntry opens an entry already read (a GET that found a manifest).
func (fs *FS) OpenEntry(ctx context.Context, e kv.Entry) (*File, error) {
	in, m, err := infoOf(e)
	if err != nil {
		return nil, err
	}
	f := &File{Info: in, fs: fs}
	if m == nil {
		f.plain = bytes.NewReader(e.Value)
		return f, nil
	}
	f.m, f.starts = m, runStarts(m)
	f.ctx, f.cancel = context.WithCancel(ctx)
	return f, nil
}

// Read reads from the current offset.
func (f *File) Read(p []byte) (int, error) {
	if f.plain != nil {
		return f.plain.Read(p)
	}
	if f.off >= f.m.Size {
		return 0, io.EOF
	}
	if !f.curOK || f.off < f.curStart || f.off >= f.curStart+int64(len(f.cur)) {
		if err := f.load(f.off); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.cur[f.off-f.curStart:])
	f.off += int64(n)
	return n, nil
}

// WriteTo writes the rest of the file to w, a chunk per call (so that a
// copy to a network connection needs no buffer of its own).
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.plain != nil {
		return f.plain.WriteTo(w)
	}
	var total int64
	for f.off < f.m.Size {
		if !f.curOK || f.off < f.curStart || f.off >= f.curStart+int64(len(f.cur)) {
			if err := f.load(f.off); err != nil {
				return total, err
			}
		}
		n, err := w.Write(f.cur[f.off-f.curStart:])
		f.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// load makes cur the chunk holding off and starts fetching the next one.
func (f *File) load(off int64) error {
	run, chunk, start := locate(f.m, f.starts, off)
	var data []byte
	if nx := f.next; nx != nil && nx.start == start {
		<-nx.done
		if nx.err != nil {
			return nx.err
		}
		data = nx.data
	} else {
		f.dropNext()
		var err error
		if data, err = f.fs.readChunk(f.ctx, f.m.Runs[run], chunk); err != nil {
			return err
		}
	}
	f.next = nil
	f.cur, f.curStart, f.curOK = data, start, true
	if end := start + int64(len(data)); end < f.m.Size {
		r2, c2, s2 := locate(f.m, f.starts, end)
		nx := &fetch{start: s2, done: make(chan struct{})}
		f.next = nx
		go func() {
			defer close(nx.done)
			nx.data, nx.err = f.fs.readChunk(f.ctx, f.m.Runs[r2], c2)
		}()
	}
	return nil
}

// dropNext abandons the fetch in flight, waiting for it.
func (f *File) dropNext() {
	if f.next != nil {
		<-f.next.done
		f.next = nil
	}
}

// Seek sets the offset of the next Read (io.Seeker).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if f.plain != nil {
		return f.plain.Seek(offset, whence)
	}
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.m.Size
	}
	if offset < 0 {
		return f.off, errors.New("files: seek before the start")
	}
	f.off = offset
	return offset, nil
}

// Close ends the reads in flight. Safe to call more than once.
func (f *File) Close() error {
	if f.cancel != nil {
		f.cancel()
		f.dropNext()
		f.cur = nil
	}
	return nil
}

// getRetry reads a key, retrying for at most Config.RetryFor while the
// cluster recovers (a node that held the chunk's primary copy died: its
// bucket is read from another replica once the failure is noticed).
func (fs *FS) getRetry(ctx context.Context, key string) (kv.Entry, error) {
	deadline := fs.now().Add(fs.cfg.RetryFor)
	wait := 50 * time.Millisecond
	for {
		e, err := fs.st.Get(ctx, key)
		if err == nil || !retryable(err) || fs.now().After(deadline) {
			return e, err
		}
		select {
		case <-ctx.Done():
			return kv.Entry{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
