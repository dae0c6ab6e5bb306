package files

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// Delete removes the file or value at key (only version ifMatch, when
// set) and, for a file, its chunks at once (those another manifest still
// names, after a rename that did not finish, stay). It returns what was
// removed.
func (fs *FS) Delete(ctx context.Context, key string, ifMatch *kv.Version) (Info, error) {
	if key == "" || kv.IsInternal(key) {
		return Info{}, fmt.Errorf("%w: %q", ErrBadPath, key)
	}
	e, err := fs.st.Get(ctx, key)
	if err != nil {
		return Info{}, err
	}
	in, m, _ := infoOf(e) // a damaged manifest is still deleted
	if ifMatch == nil {
		ifMatch = &e.Version
	} else if *ifMatch != e.Version {
		return Info{}, fmt.Errorf("%w: %s is at version %s", wire.ErrPrecondition, key, e.Version)
	}
	if _, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: key, IfMatch: ifMatch}); err != nil {
		return Info{}, err
	}
	if m != nil {
		for _, r := range m.Runs {
			if _, err := fs.judge(ctx, r.ID, true); err != nil {
				fs.log.Debug("files: chunks left to the collector", "key", key, "upload", r.ID, "err", err)
			}
		}
	}
	return in, nil
}

// Rename moves the file or value at from to to, replacing what to held.
// Readers see to before from disappears: the new manifest is written,
// then the old one deleted (only if from did not change meanwhile).
func (fs *FS) Rename(ctx context.Context, from, to string) error {
	if from == "" || to == "" || kv.IsInternal(from) || kv.IsInternal(to) {
		return fmt.Errorf("%w: rename %q to %q", ErrBadPath, from, to)
	}
	if from == to {
		_, err := fs.Stat(ctx, from)
		return err
	}
	e, err := fs.st.Get(ctx, from)
	if errors.Is(err, wire.ErrNotFound) {
		if in, serr := fs.Stat(ctx, from); serr == nil && in.Dir {
			return fmt.Errorf("%w: renaming a folder moves every key under it one by one, not atomically: move its files instead", ErrIsDir)
		}
	}
	if err != nil {
		return err
	}
	var claims map[string]kv.Version
	if e.ContentType == kv.FileType {
		m, err := decodeManifest(e.Value)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(m.Runs))
		for _, r := range m.Runs {
			ids = append(ids, r.ID)
		}
		claims, err = fs.claim(ctx, ids, to)
		defer fs.release(context.WithoutCancel(ctx), claims)
		if err != nil {
			return err
		}
	}
	if _, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: to, Value: e.Value, ContentType: e.ContentType}); err != nil {
		return err
	}
	_, err = fs.st.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: from, IfMatch: &e.Version})
	if errors.Is(err, wire.ErrPrecondition) || errors.Is(err, wire.ErrNotFound) {
		return nil // from changed meanwhile: that newer write stays
	}
	return err
}

// MakeDir creates the folder key: a marker key (key + "/", empty,
// Content-Type DirType) that keeps it when it holds nothing else.
func (fs *FS) MakeDir(ctx context.Context, key string) error {
	if key == "" || kv.IsInternal(key) {
		return fmt.Errorf("%w: %q", ErrBadPath, key)
	}
	if in, err := fs.Stat(ctx, key); err == nil {
		if in.Dir {
			return fmt.Errorf("%w: the folder %s exists", wire.ErrExists, key)
		}
		return fmt.Errorf("%w: a file named %s exists", wire.ErrExists, key)
	}
	_, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WritePut, Key: key + "/", ContentType: DirType})
	return err
}

// RemoveDir removes the empty folder key (its marker).
func (fs *FS) RemoveDir(ctx context.Context, key string) error {
	if key == "" || kv.IsInternal(key) {
		return fmt.Errorf("%w: the root folder cannot be removed", ErrBadPath)
	}
	keys, _, err := fs.st.List(ctx, key+"/", "", 2)
	if err != nil {
		return err
	}
	switch {
	case len(keys) == 0:
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case len(keys) > 1 || keys[0] != key+"/":
		return fmt.Errorf("%w: %s", ErrNotEmpty, key)
	}
	_, err = fs.st.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: key + "/"})
	return err
}

// listPage is the number of keys read per listing call of ReadDir.
const listPage = 500

// statWorkers bounds the concurrent reads ReadDir does for sizes.
const statWorkers = 8

// ReadDir calls fn with each entry of folder dir ("" is the root), in
// name order: its files and values, and its sub-folders once each. It
// streams: one page of keys is held at a time, and a sub-folder's keys are
// skipped, not read. With within set (a user's key prefix that extends
// dir's), only the entries holding keys under within are listed. It stops
// at fn's first error and returns it.
func (fs *FS) ReadDir(ctx context.Context, dir, within string, fn func(Info) error) error {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	listPrefix := prefix
	if strings.HasPrefix(within, prefix) {
		listPrefix = within
	}
	after := ""
	for {
		keys, next, err := fs.st.List(ctx, listPrefix, after, listPage)
		if err != nil {
			return err
		}
		// Turn the page into entries: files (stat'ed concurrently) and
		// folders; the keys under a folder seen are skipped.
		entries := make([]Info, 0, len(keys))
		skipUnder := ""
		for _, k := range keys {
			if skipUnder != "" && strings.HasPrefix(k, skipUnder) {
				continue
			}
			rest := k[len(prefix):]
			if rest == "" {
				continue // the folder's own marker
			}
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				skipUnder = prefix + rest[:i+1]
				entries = append(entries, Info{Key: prefix + rest[:i], Dir: true})
				continue
			}
			entries = append(entries, Info{Key: k})
		}
		if err := fs.statAll(ctx, entries); err != nil {
			return err
		}
		for _, in := range entries {
			if in.Key == "" {
				continue // deleted since it was listed
			}
			if err := fn(in); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
		if skipUnder != "" && strings.HasPrefix(next, skipUnder) {
			after = skipUnder + "\xff" // past every key under that folder (no UTF-8 byte is 0xff)
		}
	}
}

// statAll fills in the file entries of a page, statWorkers at a time; an
// entry whose key vanished gets an empty Key.
func (fs *FS) statAll(ctx context.Context, entries []Info) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, statWorkers)
	)
	for i := range entries {
		if entries[i].Dir {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e, err := fs.st.Get(ctx, entries[i].Key)
			var in Info
			if err == nil {
				in, _, err = infoOf(e)
				if err != nil { // a damaged manifest: listed with its own size
					in, err = Info{Key: e.Key, Size: int64(len(e.Value)), Version: e.Version, Type: e.ContentType}, nil
				}
			}
			if errors.Is(err, wire.ErrNotFound) {
				in, err = Info{}, nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			entries[i] = in
		})
	}
	wg.Wait()
	return first
}

// StatKeys describes each of keys (a file's own size, a value's length),
// statWorkers at a time; a key absent now gets an Info with an empty Key.
func (fs *FS) StatKeys(ctx context.Context, keys []string) ([]Info, error) {
	infos := make([]Info, len(keys))
	for i, k := range keys {
		infos[i] = Info{Key: k}
	}
	return infos, fs.statAll(ctx, infos)
}
