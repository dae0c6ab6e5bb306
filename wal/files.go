package wal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is what the log needs of an open file; *os.File has it all.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// FS is the file layer every file operation of the log goes through, so
// tests can inject failures. OSFS is the operating system's.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	ReadDir(dir string) ([]os.DirEntry, error)
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir fsyncs a directory, making renames and creations in it durable.
	SyncDir(dir string) error
}

// OSFS is the operating system's file layer.
type OSFS struct{}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}
func (OSFS) Remove(name string) error                    { return os.Remove(name) }
func (OSFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (OSFS) ReadDir(dir string) ([]os.DirEntry, error)   { return os.ReadDir(dir) }
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// File names in the data directory. Sequence numbers are 16 hex digits so
// names sort in order.
//
//	wal-<seq>.log     a segment
//	snap-<seq>.snap   a snapshot covering every segment before <seq>
//	meta-<name>       a metadata value
//	*.tmp             a file being written; removed on Open
//	LOCK              held (flock) while a Log has the directory open
const (
	segmentPrefix  = "wal-"
	segmentSuffix  = ".log"
	snapPrefix     = "snap-"
	snapSuffix     = ".snap"
	metaPrefix     = "meta-"
	tmpSuffix      = ".tmp"
	lockName       = "LOCK"
	filePerm       = 0o644
	dirPerm        = 0o755
	maxMetaNameLen = 64
)

func segmentName(seq uint64) string {
	return fmt.Sprintf("%s%016x%s", segmentPrefix, seq, segmentSuffix)
}
func snapName(seq uint64) string { return fmt.Sprintf("%s%016x%s", snapPrefix, seq, snapSuffix) }

// parseSeq returns the sequence number of a name prefix<16 hex>suffix.
func parseSeq(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	hex := name[len(prefix) : len(name)-len(suffix)]
	if len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil && seq > 0
}

func (l *Log) path(name string) string { return filepath.Join(l.cfg.Dir, name) }

// fileSize returns f's size.
func fileSize(f File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
