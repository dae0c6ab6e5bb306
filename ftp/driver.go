package ftp

import (
	"errors"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	server "goftp.io/server/v2"

	"github.com/jumpkv/jumpkv/files"
)

// maxKey is the longest key (node.Config.MaxKey's default).
const maxKey = 1024

// keyOf turns a command's path argument into a key: goftp's cleaned
// absolute path without its leading slash ("" is the root). A name with
// NUL, CR or LF, or that is not UTF-8, names no key.
func keyOf(sess *server.Session, param string) (string, error) {
	if strings.ContainsAny(param, "\x00\r\n") || !utf8.ValidString(param) {
		return "", errors.Join(files.ErrBadPath, errors.New("names may not hold NUL, CR or LF and must be UTF-8"))
	}
	k := strings.TrimPrefix(sess.BuildPath(param), "/")
	if len(k) > maxKey {
		return "", errors.Join(files.ErrBadPath, errors.New("the path is longer than a key may be (1024 bytes)"))
	}
	return k, nil
}

// fileInfo is an os.FileInfo of a files.Info.
type fileInfo struct{ in files.Info }

func (f fileInfo) Name() string {
	if f.in.Key == "" {
		return "/"
	}
	return f.in.Name()
}
func (f fileInfo) Size() int64 { return f.in.Size }
func (f fileInfo) Mode() os.FileMode {
	if f.in.Dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (f fileInfo) ModTime() time.Time {
	if f.in.ModTime.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return f.in.ModTime.UTC()
}
func (f fileInfo) IsDir() bool { return f.in.Dir }
func (f fileInfo) Sys() any    { return nil }

// driver is goftp's view of the tree, for the stock commands that remain
// (CWD, MDTM, MLST, RNFR/RNTO, MKD, RMD). Paths come cleaned by goftp.
type driver struct{ s *Server }

var _ server.Driver = (*driver)(nil)

func (d *driver) key(ctx *server.Context, path string) (string, *session, error) {
	st := d.s.sessionOf(ctx.Sess)
	if st.ended {
		return "", st, errClosed
	}
	k, err := keyOf(ctx.Sess, path)
	return k, st, err
}

func (d *driver) Stat(ctx *server.Context, path string) (os.FileInfo, error) {
	k, st, err := d.key(ctx, path)
	if err != nil {
		return nil, err
	}
	in, err := d.s.fs.Stat(d.s.ctx, k)
	if err != nil {
		return nil, err
	}
	if in.Dir {
		_, err = d.s.canDir(st, k)
	} else {
		err = d.s.canFile(st, k, false)
	}
	if err != nil {
		return nil, err
	}
	return fileInfo{in}, nil
}

func (d *driver) ListDir(ctx *server.Context, path string, fn func(os.FileInfo) error) error {
	k, st, err := d.key(ctx, path)
	if err != nil {
		return err
	}
	within, err := d.s.canDir(st, k)
	if err != nil {
		return err
	}
	return d.s.fs.ReadDir(d.s.ctx, k, within, func(in files.Info) error { return fn(fileInfo{in}) })
}

func (d *driver) DeleteDir(ctx *server.Context, path string) error {
	k, st, err := d.key(ctx, path)
	if err != nil {
		return err
	}
	if err := d.s.canFile(st, k+"/", true); err != nil {
		return err
	}
	return d.s.fs.RemoveDir(d.s.ctx, k)
}

func (d *driver) DeleteFile(ctx *server.Context, path string) error {
	k, st, err := d.key(ctx, path)
	if err != nil {
		return err
	}
	if err := d.s.canFile(st, k, true); err != nil {
		return err
	}
	_, err = d.s.fs.Delete(d.s.ctx, k, nil)
	return err
}

func (d *driver) Rename(ctx *server.Context, from, to string) error {
	kf, st, err := d.key(ctx, from)
	if err != nil {
		return err
	}
	kt, _, err := d.key(ctx, to)
	if err != nil {
		return err
	}
	if from == "" {
		return errors.New("RNFR first")
	}
	if err := d.s.canFile(st, kf, true); err != nil {
		return err
	}
	if err := d.s.canFile(st, kt, true); err != nil {
		return err
	}
	return d.s.fs.Rename(d.s.ctx, kf, kt)
}

func (d *driver) MakeDir(ctx *server.Context, path string) error {
	k, st, err := d.key(ctx, path)
	if err != nil {
		return err
	}
	if err := d.s.canFile(st, k+"/", true); err != nil {
		return err
	}
	return d.s.fs.MakeDir(d.s.ctx, k)
}

// GetFile and PutFile are not called: RETR, STOR and APPE are this
// package's (commands.go).
func (d *driver) GetFile(*server.Context, string, int64) (int64, io.ReadCloser, error) {
	return 0, nil, errors.New("not used")
}

func (d *driver) PutFile(*server.Context, string, io.Reader, int64) (int64, error) {
	return 0, errors.New("not used")
}
