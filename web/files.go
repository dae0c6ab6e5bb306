package web

// Files in the key space (package files): a key whose value is a file's
// manifest is served as the file it names. Everything here is reached
// from the key routes of kv.go only when a key holds a manifest, when a
// read asks for a Range, or for a listing's ?detail.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// newFiles returns the file layer over b for a Config without one.
func newFiles(b Backend, maxValue int) *files.FS {
	cfg := files.DefaultConfig(max(maxValue, 1<<20))
	cfg.ChunkSize = max(1, min(cfg.ChunkSize, maxValue))
	fs, err := files.New(b, cfg)
	if err != nil {
		return nil
	}
	return fs
}

// serveEntry answers GET or HEAD of a key's entry through
// http.ServeContent, which handles Range (206, 416), If-None-Match,
// If-Range and HEAD: for a file, streamed chunk by chunk from the cluster;
// for a plain value, only when the request asks for a Range.
func (a *api) serveEntry(c *gin.Context, e store.Entry, tag string) {
	h := c.Writer.Header()
	h["X-Content-Type-Options"] = nosniff
	h["Content-Security-Policy"] = valueCSP
	var content interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	}
	ct := e.ContentType
	var mtime time.Time
	if files.IsManifest(e) {
		if a.files == nil {
			writeError(c, fmt.Errorf("%w: files are not served by this node", wire.ErrInternal))
			return
		}
		f, err := a.files.OpenEntry(c.Request.Context(), e)
		if err != nil {
			writeError(c, err)
			return
		}
		defer f.Close()
		content, ct, mtime = f, f.Type, f.ModTime
		h["X-Jumpkv-File"] = []string{"true"}
	} else {
		content = bytes.NewReader(e.Value)
	}
	if ct == "" {
		ct = defaultContentType
	}
	h["Content-Type"] = []string{ct}
	// ServeContent judges If-None-Match with weak comparison against the
	// ETag set here; "*" matches any entry.
	setETag(c, tag)
	rc := http.NewResponseController(c.Writer)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve more requests
	http.ServeContent(&rangeErrorJSON{ResponseWriter: c.Writer, rc: rc}, c.Request, "", mtime, content)
}

// stallTimeout ends a file download whose client stops reading: each
// write of the body must go through within it (the server sets no write
// timeout, which would cut long downloads).
const stallTimeout = time.Minute

// rangeErrorJSON turns ServeContent's plain-text 416 into the API's JSON
// error, and gives every write of the body its own deadline; everything
// else passes through.
type rangeErrorJSON struct {
	http.ResponseWriter
	rc      *http.ResponseController
	swallow bool
}

func (w *rangeErrorJSON) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.swallow = true
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
	_, _ = w.ResponseWriter.Write([]byte(`{"error":"the Range lies past the end of the value","code":"range_not_satisfiable"}`))
}

func (w *rangeErrorJSON) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(stallTimeout)) // unsupported by a test recorder: no deadline
	return w.ResponseWriter.Write(p)
}

// wantsRange reports whether a read must go through serveEntry although
// the entry is a plain value.
func wantsRange(r *http.Request) bool { return r.Header.Get("Range") != "" }

// fileAppend serves POST ?op=append to a key that holds a file: the body
// is streamed into new chunks and the manifest replaced, as FTP's APPE.
func (a *api) fileAppend(c *gin.Context, key string, cur store.Entry, op wire.WriteOp) {
	if op.IfMatch != nil && *op.IfMatch != cur.Version {
		writeError(c, fmt.Errorf("%w: %q is not at version %s", wire.ErrPrecondition, key, op.IfMatch))
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, a.files.Config().MaxFile)
	in, err := a.files.Put(c.Request.Context(), key, body, files.PutOptions{Append: true, ContentType: op.ContentType, IfMatch: &cur.Version})
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(c, fmt.Errorf("%w: a file may hold at most %d bytes", wire.ErrTooLarge, a.files.Config().MaxFile))
		return
	case err != nil:
		writeError(c, err)
		return
	}
	tag := etag(in.Version)
	setETag(c, tag)
	respond(c, http.StatusOK, jsonContentType, writeResultJSON(key, tag[1:len(tag)-1]))
}

// entryView is one key of a listing with ?detail=true.
type entryView struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	File bool   `json:"file,omitempty"`
}

// details returns the size of each listed key (a file's own size), reading
// them concurrently; a key deleted since the listing is left out.
func (a *api) details(c *gin.Context, keys []string) ([]entryView, error) {
	if a.files == nil {
		return nil, fmt.Errorf("%w: files are not served by this node", wire.ErrInternal)
	}
	infos, err := a.files.StatKeys(c.Request.Context(), keys)
	if err != nil {
		return nil, err
	}
	out := make([]entryView, 0, len(infos))
	for _, in := range infos {
		if in.Key != "" {
			out = append(out, entryView{Key: in.Key, Size: in.Size, File: in.File})
		}
	}
	return out, nil
}

// checkClientKey refuses a key no client may name (the internal namespace
// of the file layer, kv.IsInternal).
func checkClientKey(key string) error {
	if kv.IsInternal(key) {
		return fmt.Errorf("%w: keys may not start with a NUL byte (reserved for the node's own use)", wire.ErrBadRequest)
	}
	return nil
}

// checkClientType refuses a Content-Type no client may write: a manifest
// forged by a client could name another file's chunks.
func checkClientType(ct string) error {
	if strings.EqualFold(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]), kv.FileType) {
		return fmt.Errorf("%w: the Content-Type %s is reserved for files (upload them over FTP)", wire.ErrBadRequest, kv.FileType)
	}
	return nil
}

// fileSize is the size of a watch event's file; ok is false for a value.
func fileSize(e wire.Event) (int64, bool) {
	if !e.File {
		return 0, false
	}
	return files.ManifestSize(e.Value)
}
