package files

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/wire"
)

// CollectStats counts one collection pass's work.
type CollectStats struct {
	Uploads int // records judged
	Chunks  int // chunks removed
	Records int // records removed (uploads with nothing left)
}

// Collect runs one collection pass over every upload record: chunks that
// no manifest has named for Config.Grace are removed, and the record with
// them once none is left. Only one node should run it at a time (the
// leader: see RunCollector); two at once do no harm but double the work,
// since every step is a conditional write.
func (fs *FS) Collect(ctx context.Context) (CollectStats, error) {
	var st CollectStats
	after := ""
	for {
		keys, next, err := fs.st.List(ctx, recordPrefix, after, listPage)
		if err != nil {
			return st, err
		}
		for _, k := range keys {
			id := k[len(recordPrefix):]
			if !validID(id) {
				continue
			}
			st.Uploads++
			res, err := fs.judge(ctx, id, false)
			if err != nil && ctx.Err() != nil {
				return st, ctx.Err()
			}
			if err != nil {
				fs.log.Debug("files: collection of an upload put off", "upload", id, "err", err)
			}
			st.Chunks += res.chunks
			if res.gone {
				st.Records++
			}
		}
		if next == "" {
			return st, nil
		}
		after = next
	}
}

// RunCollector runs Collect every Config.CollectEvery while leading()
// reports true, until ctx ends.
func (fs *FS) RunCollector(ctx context.Context, leading func() bool) {
	t := time.NewTicker(fs.cfg.CollectEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !leading() {
			continue
		}
		st, err := fs.Collect(ctx)
		if err != nil && ctx.Err() == nil {
			fs.log.Warn("files: collection pass failed", "err", err)
		}
		if st.Chunks > 0 || st.Records > 0 {
			fs.log.Info("files: removed unnamed chunks", "chunks", st.Chunks, "uploads_ended", st.Records, "uploads", st.Uploads)
		}
	}
}

type judged struct {
	chunks int  // chunks removed
	gone   bool // the record was removed
}

// judge decides what of upload id's chunks may go, and removes it: the
// chunks at or past the largest count a manifest at the record's keys
// names, once that count has stood for the grace period (at once when
// now is set: a delete). A record busy with an operation in flight is
// left alone, and nothing is removed on any doubt (a read that failed).
func (fs *FS) judge(ctx context.Context, id string, now bool) (judged, error) {
	rec, v, found, err := fs.getRecord(ctx, id)
	if err != nil || !found {
		return judged{}, err
	}
	t := fs.now().UnixMilli()
	if !rec.Drop {
		if rec.Busy > t {
			return judged{}, nil
		}
		keep, live, err := fs.named(ctx, id, rec.Keys)
		if err != nil {
			return judged{}, err
		}
		switch {
		case keep > 0 && keep >= rec.N:
			// Everything written is named: forget keys that no longer
			// name it, and any trim judged before a rename.
			if rec.Trim != nil || len(live) != len(rec.Keys) {
				rec.Keys, rec.Trim, rec.Since = live, nil, 0
				_, err = fs.casRecord(ctx, id, &v, &rec)
			}
			return judged{}, err
		case !now && (rec.Trim == nil || *rec.Trim != keep):
			rec.Trim, rec.Since = &keep, t
			_, err = fs.casRecord(ctx, id, &v, &rec)
			return judged{}, err
		case !now && t-rec.Since < fs.cfg.Grace.Milliseconds():
			return judged{}, nil
		}
		rec.Keys, rec.Trim, rec.Drop = live, &keep, true
		if v, err = fs.casRecord(ctx, id, &v, &rec); err != nil {
			return judged{}, err
		}
	}
	// Remove the chunks past Trim: no manifest names them, and none can
	// again (a later manifest names only chunks an earlier one did, or an
	// upload's own, which holds its record busy).
	keep := *rec.Trim
	var res judged
	after := ""
	if keep > 0 {
		after = chunkKey(id, keep-1)
	}
	for {
		keys, next, err := fs.st.List(ctx, chunkPrefix+id+"/", after, listPage)
		if err != nil {
			return res, err
		}
		for _, k := range keys {
			if i, ok := chunkIndex(id, k); !ok || i < keep {
				continue
			}
			if _, err := fs.st.Write(ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: k}); err != nil && !errors.Is(err, wire.ErrNotFound) {
				return res, err
			}
			res.chunks++
		}
		if next == "" {
			break
		}
		after = next
	}
	if keep == 0 {
		err = fs.deleteRecord(ctx, id, v)
		res.gone = err == nil
		return res, err
	}
	rec.N, rec.Trim, rec.Since, rec.Drop = keep, nil, 0, false
	_, err = fs.casRecord(ctx, id, &v, &rec)
	return res, err
}

// named returns the largest count of upload id's chunks a manifest at
// one of keys names, and the keys that name some.
func (fs *FS) named(ctx context.Context, id string, keys []string) (int, []string, error) {
	most := 0
	live := []string{}
	for _, k := range keys {
		e, err := fs.st.Get(ctx, k)
		if errors.Is(err, wire.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		if e.ContentType != kv.FileType {
			continue
		}
		m, err := decodeManifest(e.Value)
		if err != nil {
			continue // not a manifest that names anything
		}
		for _, r := range m.Runs {
			if r.ID == id {
				most = max(most, r.Count)
				if !slices.Contains(live, k) {
					live = append(live, k)
				}
			}
		}
	}
	return most, live, nil
}
