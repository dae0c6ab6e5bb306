package wal

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// FaultFS wraps a file layer and injects failures: a disk that fills up,
// writes, fsyncs or truncations that fail, a slow fsync. It also counts
// fsyncs and remembers how much of each file the last fsync covered. It is
// meant for tests, here and in packages that use the log (set Config.FS).
type FaultFS struct {
	inner FS

	mu        sync.Mutex
	space     int64 // bytes writes may still add; < 0 means unlimited
	writeErr  error
	syncErr   error
	truncErr  error
	syncDelay time.Duration
	syncs     int
	synced    map[string]int64 // path -> bytes covered by its last fsync
}

// NewFaultFS wraps inner (OSFS{} if nil) with no faults set.
func NewFaultFS(inner FS) *FaultFS {
	if inner == nil {
		inner = OSFS{}
	}
	return &FaultFS{inner: inner, space: -1, synced: map[string]int64{}}
}

// SetSpace lets writes add n more bytes in all; the write that crosses the
// limit writes what fits and fails with ENOSPC, as a full disk does. A
// negative n means unlimited (space is back).
func (f *FaultFS) SetSpace(n int64) { f.mu.Lock(); f.space = n; f.mu.Unlock() }

// FailWrites makes every write fail with err, writing nothing; nil stops it.
func (f *FaultFS) FailWrites(err error) { f.mu.Lock(); f.writeErr = err; f.mu.Unlock() }

// FailSyncs makes every file fsync fail with err; nil stops it.
func (f *FaultFS) FailSyncs(err error) { f.mu.Lock(); f.syncErr = err; f.mu.Unlock() }

// FailTruncates makes every truncation fail with err; nil stops it.
func (f *FaultFS) FailTruncates(err error) { f.mu.Lock(); f.truncErr = err; f.mu.Unlock() }

// SetSyncDelay makes every file fsync take d longer (a slow disk).
func (f *FaultFS) SetSyncDelay(d time.Duration) { f.mu.Lock(); f.syncDelay = d; f.mu.Unlock() }

// Syncs returns the number of file fsyncs that succeeded.
func (f *FaultFS) Syncs() int { f.mu.Lock(); defer f.mu.Unlock(); return f.syncs }

// Synced returns how many bytes of path its last successful fsync covered.
func (f *FaultFS) Synced(path string) int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.synced[path] }

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	size, err := fileSize(inner)
	if err != nil {
		inner.Close()
		return nil, err
	}
	return &faultFile{File: inner, fs: f, name: name, hi: size}, nil
}

func (f *FaultFS) Remove(name string) error                    { return f.inner.Remove(name) }
func (f *FaultFS) Rename(oldname, newname string) error        { return f.inner.Rename(oldname, newname) }
func (f *FaultFS) ReadDir(dir string) ([]os.DirEntry, error)   { return f.inner.ReadDir(dir) }
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error { return f.inner.MkdirAll(dir, perm) }
func (f *FaultFS) SyncDir(dir string) error                    { return f.inner.SyncDir(dir) }

// faultFile applies its FaultFS's faults to one open file.
type faultFile struct {
	File
	fs   *FaultFS
	name string
	pos  int64 // for Write
	hi   int64 // highest byte written, or the size after a truncation
}

// allow returns how many of n bytes may be written and the error to
// return after writing them.
func (ff *faultFile) allow(n int) (int, error) {
	f := ff.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	if f.space < 0 || int64(n) <= f.space {
		if f.space >= 0 {
			f.space -= int64(n)
		}
		return n, nil
	}
	k := int(f.space)
	f.space = 0
	return k, syscall.ENOSPC
}

func (ff *faultFile) wrote(end int64) {
	ff.fs.mu.Lock()
	ff.hi = max(ff.hi, end)
	ff.fs.mu.Unlock()
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	k, ferr := ff.allow(len(p))
	n, err := ff.File.WriteAt(p[:k], off)
	ff.wrote(off + int64(n))
	if err == nil {
		err = ferr
	}
	return n, err
}

func (ff *faultFile) Write(p []byte) (int, error) {
	k, ferr := ff.allow(len(p))
	n, err := ff.File.Write(p[:k])
	ff.pos += int64(n)
	ff.wrote(ff.pos)
	if err == nil {
		err = ferr
	}
	return n, err
}

func (ff *faultFile) Sync() error {
	f := ff.fs
	f.mu.Lock()
	delay, serr := f.syncDelay, f.syncErr
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // a slow disk, not synchronisation
	}
	if serr != nil {
		return serr
	}
	if err := ff.File.Sync(); err != nil {
		return err
	}
	f.mu.Lock()
	f.syncs++
	f.synced[ff.name] = ff.hi
	f.mu.Unlock()
	return nil
}

func (ff *faultFile) Truncate(size int64) error {
	f := ff.fs
	f.mu.Lock()
	terr := f.truncErr
	f.mu.Unlock()
	if terr != nil {
		return terr
	}
	if err := ff.File.Truncate(size); err != nil {
		return err
	}
	f.mu.Lock()
	ff.hi = size
	f.mu.Unlock()
	return nil
}
