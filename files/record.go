package files

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// record is an upload's claim on its chunks, stored at recordKey(id). The
// collector judges an upload's chunks by it: chunks at or past the largest
// count any manifest at Keys names are garbage, unless an operation holds
// the record Busy.
type record struct {
	// Keys may hold manifests naming the upload's chunks: its file, and
	// the target of a rename in flight.
	Keys []string `json:"keys"`
	// N bounds the chunks written (every index is below it) once the
	// upload has ended; a crashed upload may have written past it.
	N int `json:"n"`
	// Busy is the Unix millisecond until which an operation in flight
	// may still add a manifest naming the chunks; 0 once it has ended.
	Busy int64 `json:"busy,omitempty"`
	// Trim, when set, is the count of chunks the manifests named when the
	// collector last looked (at Since): the chunks past it are removed
	// once they have stayed unnamed for the grace period.
	Trim  *int  `json:"trim,omitempty"`
	Since int64 `json:"since,omitempty"`
	// Drop says the chunks past Trim are being removed.
	Drop bool `json:"drop,omitempty"`
}

func (r *record) encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// getRecord reads upload id's record; found is false when there is none.
func (fs *FS) getRecord(ctx context.Context, id string) (rec record, v kv.Version, found bool, err error) {
	e, err := fs.st.Get(ctx, recordKey(id))
	if errors.Is(err, wire.ErrNotFound) {
		return record{}, kv.Version{}, false, nil
	}
	if err != nil {
		return record{}, kv.Version{}, false, err
	}
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return record{}, kv.Version{}, false, fmt.Errorf("%w: upload record %s: %v", ErrDamaged, id, err)
	}
	return rec, e.Version, true, nil
}

// casRecord writes rec over the version was (nil: only if absent) and
// returns the new version. ErrChanged if the record changed meanwhile. A
// write whose outcome is unknown is settled by reading the record back.
func (fs *FS) casRecord(ctx context.Context, id string, was *kv.Version, rec *record) (kv.Version, error) {
	op := wire.WriteOp{Kind: wire.WritePut, Key: recordKey(id), Value: rec.encode(), IfMatch: was, IfNoneMatch: was == nil}
	return fs.cas(ctx, op)
}

// deleteRecord removes upload id's record at version was.
func (fs *FS) deleteRecord(ctx context.Context, id string, was kv.Version) error {
	_, err := fs.cas(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: recordKey(id), IfMatch: &was})
	return err
}

// cas runs a conditional write of an internal key, retrying while the
// cluster recovers; an unknown outcome is resolved by reading the key back
// (the value written is unique to this writer: it carries a fresh time or
// count).
func (fs *FS) cas(ctx context.Context, op wire.WriteOp) (kv.Version, error) {
	deadline := fs.now().Add(fs.cfg.RetryFor)
	wait := 50 * time.Millisecond
	for {
		v, err := fs.st.Write(ctx, op)
		switch {
		case err == nil:
			return v, nil
		case errors.Is(err, wire.ErrPrecondition) || errors.Is(err, wire.ErrExists) || errors.Is(err, wire.ErrNotFound):
			return kv.Version{}, fmt.Errorf("%w: %s", ErrChanged, op.Key)
		case errors.Is(err, wire.ErrUnknownOutcome):
			e, gerr := fs.st.Get(ctx, op.Key)
			switch {
			case op.Kind == wire.WriteDelete && errors.Is(gerr, wire.ErrNotFound):
				return kv.Version{}, nil
			case gerr == nil && op.Kind != wire.WriteDelete && bytes.Equal(e.Value, op.Value):
				return e.Version, nil
			case gerr == nil || errors.Is(gerr, wire.ErrNotFound):
				// Not applied, or overwritten since: judge the condition again.
				if op.IfMatch != nil && (gerr != nil || e.Version != *op.IfMatch) {
					return kv.Version{}, fmt.Errorf("%w: %s", ErrChanged, op.Key)
				}
			}
		case !retryable(err):
			return kv.Version{}, err
		}
		if fs.now().After(deadline) {
			return kv.Version{}, err
		}
		select {
		case <-ctx.Done():
			return kv.Version{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// claim marks the records of ids busy for another grace period with key
// added to their keys, so that the collector leaves their chunks while
// a manifest at key is about to name them. It returns the records'
// versions for release.
func (fs *FS) claim(ctx context.Context, ids []string, key string) (map[string]kv.Version, error) {
	out := map[string]kv.Version{}
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		rec, v, found, err := fs.getRecord(ctx, id)
		if err != nil {
			return out, err
		}
		if !found || rec.Drop {
			return out, fmt.Errorf("%w: the chunks of upload %s are being removed", ErrChanged, id)
		}
		if !slices.Contains(rec.Keys, key) {
			rec.Keys = append(rec.Keys, key)
		}
		rec.Busy = fs.now().Add(fs.cfg.Grace).UnixMilli()
		nv, err := fs.casRecord(ctx, id, &v, &rec)
		if err != nil {
			return out, err
		}
		out[id] = nv
	}
	return out, nil
}

// release ends the claims of claim: the records are no longer busy. A
// failure is harmless (a busy mark expires after the grace period).
func (fs *FS) release(ctx context.Context, claims map[string]kv.Version) {
	for id, v := range claims {
		rec, cur, found, err := fs.getRecord(ctx, id)
		if err != nil || !found || cur != v {
			continue
		}
		rec.Busy = 0
		_, _ = fs.casRecord(ctx, id, &cur, &rec)
	}
}
