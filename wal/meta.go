package wal

import (
	"fmt"
	"io"
	"os"
)

// A metadata file, meta-<name>: an 8-byte magic, the value's length
// (uint32 LE), its CRC-32C (uint32 LE), the value. It is replaced whole:
// written under a temporary name, fsynced, renamed, directory fsynced.
const metaHeader = 16

var metaMagic = [8]byte{'J', 'K', 'V', 'M', 'E', 'T', '0', '1'}

// SaveMeta stores value under name atomically and durably: after a crash,
// LoadMeta returns either the old value or the new one, whole. Names are 1
// to 64 characters of a-z, 0-9, '-' and '_'. It works before Replay.
func (l *Log) SaveMeta(name string, value []byte) error {
	if err := checkMetaName(name); err != nil {
		return err
	}
	if len(value) > l.cfg.MaxRecord {
		return fmt.Errorf("%w: metadata %q of %d bytes, the maximum is %d", ErrTooLarge, name, len(value), l.cfg.MaxRecord)
	}
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	path := l.path(metaPrefix + name)
	tmp := path + tmpSuffix
	buf := make([]byte, metaHeader, metaHeader+len(value))
	copy(buf, metaMagic[:])
	le.PutUint32(buf[8:], uint32(len(value)))
	le.PutUint32(buf[12:], checksum(value))
	buf = append(buf, value...)
	if err := l.writeFile(tmp, buf); err != nil {
		l.fs.Remove(tmp)
		return err
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		l.fs.Remove(tmp)
		return writeError("rename", tmp, err)
	}
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		return writeError("fsync directory", l.cfg.Dir, err)
	}
	return nil
}

// writeFile creates path with data and fsyncs it.
func (l *Log) writeFile(path string, data []byte) error {
	f, err := l.fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, filePerm)
	if err != nil {
		return writeError("create", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return writeError("write", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return writeError("fsync", path, err)
	}
	if err := f.Close(); err != nil {
		return writeError("close", path, err)
	}
	return nil
}

// LoadMeta returns the value stored under name. It returns an error
// matching os.ErrNotExist if there is none, and a *CorruptError if the file
// is damaged. It works before Replay.
func (l *Log) LoadMeta(name string) ([]byte, error) {
	if err := checkMetaName(name); err != nil {
		return nil, err
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	path := l.path(metaPrefix + name)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: metadata %q: %w", name, err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return nil, fmt.Errorf("wal: metadata %q: %w", name, err)
	}
	if size < metaHeader || size > metaHeader+int64(l.cfg.MaxRecord) {
		return nil, &CorruptError{File: path, Offset: 0, Reason: fmt.Sprintf("metadata file of %d bytes", size)}
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); int64(n) < size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("wal: metadata %q: %w", name, err)
	}
	switch {
	case [8]byte(buf[:8]) != metaMagic:
		return nil, &CorruptError{File: path, Offset: 0, Reason: "bad magic"}
	case int64(le.Uint32(buf[8:])) != size-metaHeader:
		return nil, &CorruptError{File: path, Offset: 8, Reason: fmt.Sprintf("length %d, the file holds %d", le.Uint32(buf[8:]), size-metaHeader)}
	case le.Uint32(buf[12:]) != checksum(buf[metaHeader:]):
		return nil, &CorruptError{File: path, Offset: metaHeader, Reason: "checksum mismatch"}
	}
	return buf[metaHeader:], nil
}

func checkMetaName(name string) error {
	if len(name) < 1 || len(name) > maxMetaNameLen {
		return fmt.Errorf("wal: metadata name %q must have 1 to %d characters", name, maxMetaNameLen)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("wal: metadata name %q may hold only a-z, 0-9, '-' and '_'", name)
		}
	}
	return nil
}
