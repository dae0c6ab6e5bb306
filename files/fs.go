package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// Store is what the file layer needs of a node (node.Node has it; so does
// web.Backend). Methods are called concurrently; errors wrap wire's
// sentinels (wire.ErrNotFound for an absent key).
type Store interface {
	Get(ctx context.Context, key string) (kv.Entry, error)
	Write(ctx context.Context, op wire.WriteOp) (kv.Version, error)
	List(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error)
}

// FS is the file layer over a Store. It keeps no state of its own but its
// configuration: every node may serve every file.
type FS struct {
	st  Store
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns the file layer over st.
func New(st Store, cfg Config) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FS{st: st, cfg: cfg, log: log, now: time.Now}, nil
}

// Config returns the layer's configuration.
func (fs *FS) Config() Config { return fs.cfg }

// DirType is the Content-Type of a folder's marker key (the folder's path
// with a trailing slash, made by MakeDir), as S3 consoles write them.
const DirType = "application/x-directory"

// Info describes a file, a plain value or a folder.
type Info struct {
	Key     string // the key; a folder's prefix without its trailing slash
	Size    int64
	ModTime time.Time  // zero for plain values and folders (not recorded)
	Dir     bool       // a folder: keys exist under Key + "/"
	File    bool       // stored as a manifest and chunks (not a plain value)
	Type    string     // the Content-Type served
	Version kv.Version // the key's version (zero for a folder)
}

// Name returns the last segment of the key.
func (i Info) Name() string { return i.Key[strings.LastIndexByte(i.Key, '/')+1:] }

// infoOf describes a key's entry.
func infoOf(e kv.Entry) (Info, *Manifest, error) {
	in := Info{Key: e.Key, Version: e.Version, Type: e.ContentType}
	if e.ContentType != kv.FileType {
		in.Size = int64(len(e.Value))
		return in, nil, nil
	}
	m, err := decodeManifest(e.Value)
	if err != nil {
		return Info{}, nil, fmt.Errorf("%s: %w", e.Key, err)
	}
	in.Size, in.File, in.ModTime, in.Type = m.Size, true, m.ModTime(), m.Type
	return in, m, nil
}

// IsManifest reports whether an entry is a file's manifest.
func IsManifest(e kv.Entry) bool { return e.ContentType == kv.FileType }

// ManifestSize returns the size of the file whose manifest is b (a watch
// event's value); false if b is no manifest.
func ManifestSize(b []byte) (int64, bool) {
	m, err := decodeManifest(b)
	if err != nil {
		return 0, false
	}
	return m.Size, true
}

// Stat describes key: a file or value stored there, else a folder if keys
// exist under key + "/". The root ("") is always a folder.
func (fs *FS) Stat(ctx context.Context, key string) (Info, error) {
	if key == "" {
		return Info{Dir: true}, nil
	}
	e, err := fs.st.Get(ctx, key)
	switch {
	case err == nil:
		in, _, err := infoOf(e)
		return in, err
	case !errors.Is(err, wire.ErrNotFound):
		return Info{}, err
	}
	keys, _, err := fs.st.List(ctx, key+"/", "", 1)
	if err != nil {
		return Info{}, err
	}
	if len(keys) == 0 {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return Info{Key: key, Dir: true}, nil
}

// newID returns a random upload ID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// retryable reports whether a write surely did not happen and may succeed
// later (no leader during a failover, too few replicas for a moment), or
// may have happened (an unknown outcome): idempotent writes are retried.
func retryable(err error) bool {
	return errors.Is(err, wire.ErrNoLeader) || errors.Is(err, wire.ErrUnavailable) ||
		errors.Is(err, wire.ErrReadOnly) || errors.Is(err, wire.ErrUnknownOutcome) ||
		errors.Is(err, wire.ErrTimeout) || errors.Is(err, wire.ErrUnreachable) || errors.Is(err, wire.ErrConnLost)
}

// putRetry writes an idempotent put (a chunk: its key is never written
// with other bytes), retrying while the cluster recovers, for at most
// Config.RetryFor.
func (fs *FS) putRetry(ctx context.Context, op wire.WriteOp) error {
	deadline := fs.now().Add(fs.cfg.RetryFor)
	wait := 50 * time.Millisecond
	for {
		_, err := fs.st.Write(ctx, op)
		if err == nil || !retryable(err) || fs.now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// deleteQuietly removes keys it owns (chunks of a failed upload), on a
// context of its own so that a client gone does not leave them behind.
func (fs *FS) deleteQuietly(keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), fs.cfg.RetryFor+5*time.Second)
	defer cancel()
	for _, k := range keys {
		if _, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: k}); err != nil && !errors.Is(err, wire.ErrNotFound) {
			fs.log.Debug("files: leaving a key to the collector", "key", k, "err", err)
		}
	}
}
