// Package persist makes a node's store durable: every change to the store
// is a record in a wal.Log before it is applied to memory, recovery replays
// the log into the store, and a background compaction writes the store as
// a snapshot when the log has grown to about twice the live data.
//
// The order of a write is: log (durable per the fsync mode), then apply to
// memory, then answer. Durable.Append holds the snapshot barrier across both
// steps, so a snapshot never starts between a record's append and its
// apply (which would lose the record: the snapshot would not have it and
// the segment holding it would be deleted).
//
// Besides entries the log holds the few facts a node needs to come back as
// itself after a crash of every node at once: which buckets it held
// completely (a fill ended), and the cluster state it last installed (an
// opaque encoding of the node package's choice). Node identity lives in
// the log's metadata store.
package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wal"
)

// Config sets up a node's persistence. Start from DefaultConfig.
type Config struct {
	// Log is the log's configuration (directory, fsync mode, limits).
	Log wal.Config
	// Buckets is the store's bucket count; a record of another bucket is
	// damage.
	Buckets int
	// CompactMin is the log size under which no compaction runs, however
	// small the live data.
	CompactMin int64
	// CompactEvery is how often the log's size is compared with the live
	// data.
	CompactEvery time.Duration
	// Logger receives recovery and compaction reports.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a node keeping its data in dir.
func DefaultConfig(dir string, buckets int) Config {
	return Config{Log: wal.DefaultConfig(dir), Buckets: buckets, CompactMin: 64 << 20, CompactEvery: 5 * time.Second}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Buckets < 1:
		return fmt.Errorf("persist: %d buckets", c.Buckets)
	case c.CompactMin < 0 || c.CompactEvery <= 0:
		return fmt.Errorf("persist: compaction at %d bytes every %v", c.CompactMin, c.CompactEvery)
	}
	return c.Log.Validate()
}

// Identity is who a data directory belongs to.
type Identity struct {
	ID          uint64 `json:"id"`
	Incarnation uint64 `json:"incarnation"`
}

// Recovered is what Open read back besides the store's entries.
type Recovered struct {
	// Identity is the directory's owner; zero for a new directory.
	Identity Identity
	// Held lists, by bucket, the copies that were complete at the crash.
	Held []bool
	// State is the last cluster state recorded (nil: none).
	State []byte
	// MaxTerm is the highest term among the versions of the entries read.
	MaxTerm uint64
	// Entries counts the entries applied; Log reports the log's recovery.
	Entries int
	Log     wal.Recovery
}

// Durable is a store's log. Its methods are safe for concurrent use.
type Durable struct {
	cfg Config
	log *wal.Log
	mem *store.Store

	// barrier is held for reading across an append and its apply, and
	// for writing while a snapshot starts (the log rotates).
	barrier *barrier

	// mu guards held and state: what the next snapshot writes besides the
	// entries. compacting is true while a snapshot is written.
	mu         sync.Mutex
	held       []bool
	state      []byte
	compacting bool

	compactions, compactErrors uint64 // under mu
}

// Open opens (or creates) the data directory, replays it into mem, which
// must be empty, and returns what it recovered. A torn record at the end is
// dropped and logged; damage before the end is an error naming the file and
// offset.
func Open(cfg Config, mem *store.Store) (*Durable, Recovered, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Recovered{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Log.Logger = cfg.Logger
	l, err := wal.Open(cfg.Log)
	if err != nil {
		return nil, Recovered{}, err
	}
	d := &Durable{cfg: cfg, log: l, mem: mem, held: make([]bool, cfg.Buckets), barrier: newBarrier()}
	var rec Recovered
	if raw, err := l.LoadMeta("identity"); err == nil {
		if rec.Identity, err = parseIdentity(raw); err != nil {
			_ = l.Close()
			return nil, Recovered{}, fmt.Errorf("persist: %s: identity: %w", cfg.Log.Dir, err)
		}
	} else if !errors.Is(err, errNotExist) {
		_ = l.Close()
		return nil, Recovered{}, err
	}
	// Everything the replay allocates stays live (the store's records, its
	// growing indexes aside): collecting while the heap grows from nothing
	// to the whole data set only marks the same records again and again.
	// The collector waits until the replay ends (a memory limit, when one
	// is set, still applies).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	info, err := l.Replay(func(_ wal.Source, raw []byte) error {
		r, err := decode(raw, cfg.Buckets)
		if err != nil {
			return err
		}
		switch r.kind {
		case kindEntry:
			mem.Apply(r.bucket, r.entry) // copies the key and value it keeps
			rec.Entries++
			rec.MaxTerm = max(rec.MaxTerm, r.entry.Version.Term)
		case kindHeld:
			d.held[r.bucket] = true
		case kindPurge:
			mem.PurgeTombstone(r.bucket, r.entry.Key, r.entry.Version)
		case kindForget:
			mem.Forget(r.bucket, r.entry.Key, r.entry.Version)
		case kindState:
			d.state = append([]byte(nil), r.state...)
		}
		return nil
	})
	if err != nil {
		_ = l.Close()
		return nil, Recovered{}, fmt.Errorf("persist: recovering %s: %w", cfg.Log.Dir, err)
	}
	rec.Log = info
	rec.Held = append([]bool(nil), d.held...)
	rec.State = d.state
	return d, rec, nil
}

// SaveIdentity records who owns the directory.
func (d *Durable) SaveIdentity(id Identity) error {
	return d.log.SaveMeta("identity", id.encode())
}

// Append logs entries of bucket b, durable per the fsync mode, then calls
// apply, which applies them to memory (it may refuse, and its error is
// returned; the records stay in the log, and replay applies them by
// version, like any write whose outcome was unknown). When the log refuses
// (a full or failing disk: errors.Is(err, wal.ErrNoSpace)), apply is not
// called.
func (d *Durable) Append(b int, entries []store.Entry, apply func() error) error {
	enc := encoders.Get().(*encoder)
	err := d.appendThen(enc.entries(b, entries), apply)
	enc.release()
	return err
}

// TryAppend is Append for a caller that must not wait for the disk or for
// other writers (see wal.Log.TryAppendBatch): it returns an error
// matching wal.ErrWouldWait, having logged and applied nothing, when
// appending would wait (under fsync always, always).
func (d *Durable) TryAppend(b int, entries []store.Entry, apply func() error) error {
	enc := encoders.Get().(*encoder)
	defer enc.release()
	return d.tryAppendThen(enc.entries(b, entries), apply)
}

// AppendAcross is Append for entries of several buckets (entries[i] of
// bucket buckets[i]): one batch of records, logged in one turn at the log,
// then one call of apply. With try it is TryAppend: it returns an error
// matching wal.ErrWouldWait, having logged and applied nothing, rather
// than wait.
func (d *Durable) AppendAcross(buckets []int, entries []store.Entry, try bool, apply func() error) error {
	enc := encoders.Get().(*encoder)
	defer enc.release()
	recs := enc.across(buckets, entries)
	if try {
		return d.tryAppendThen(recs, apply)
	}
	return d.appendThen(recs, apply)
}

// tryAppendThen appends recs, then calls apply, unless appending would
// wait (wal.ErrWouldWait, nothing done).
func (d *Durable) tryAppendThen(recs [][]byte, apply func() error) error {
	if !d.barrier.TryRLock() { // a snapshot is starting
		return wal.ErrWouldWait
	}
	defer d.barrier.RUnlock()
	if err := d.log.TryAppendBatch(recs); err != nil {
		return err
	}
	return apply()
}

// encoder encodes a write's records into one reused buffer (the log copies
// them before Append returns).
type encoder struct {
	buf  []byte
	ends []int
	recs [][]byte
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// entries returns the records of entries of bucket b, valid until release.
func (e *encoder) entries(b int, entries []store.Entry) [][]byte {
	return e.encode(entries, func(int) int { return b })
}

// across returns the records of entries, entries[i] of bucket buckets[i],
// valid until release.
func (e *encoder) across(buckets []int, entries []store.Entry) [][]byte {
	return e.encode(entries, func(i int) int { return buckets[i] })
}

func (e *encoder) encode(entries []store.Entry, bucket func(i int) int) [][]byte {
	e.buf, e.ends, e.recs = e.buf[:0], e.ends[:0], e.recs[:0]
	for i := range entries {
		e.buf = appendEntry(e.buf, bucket(i), &entries[i])
		e.ends = append(e.ends, len(e.buf))
	}
	start := 0
	for _, end := range e.ends {
		e.recs = append(e.recs, e.buf[start:end:end])
		start = end
	}
	return e.recs
}

// release returns e to the pool, unless a large write grew it.
func (e *encoder) release() {
	if cap(e.buf) > 1<<20 {
		return
	}
	clear(e.recs)
	encoders.Put(e)
}

// Purge logs the removal of key's tombstone at v in bucket b, then calls
// apply.
func (d *Durable) Purge(b int, key string, v store.Version, apply func() error) error {
	return d.appendThen([][]byte{appendKeyVersion(nil, kindPurge, b, key, v)}, apply)
}

// Forget logs the removal of key's entry at v in bucket b (see
// store.Store.Forget), then calls apply.
func (d *Durable) Forget(b int, key string, v store.Version, apply func() error) error {
	return d.appendThen([][]byte{appendKeyVersion(nil, kindForget, b, key, v)}, apply)
}

// MarkHeld records that this node's copy of bucket b is complete. The
// mark outlives a restart only together with a recorded state that assigns
// the bucket to this node (the caller checks both).
func (d *Durable) MarkHeld(b int) error {
	return d.appendThen([][]byte{appendBucket(nil, kindHeld, b)}, func() error {
		d.mu.Lock()
		d.held[b] = true
		d.mu.Unlock()
		return nil
	})
}

// SaveState records the cluster state the node installed. The node calls
// it holding its own lock, which an appender's apply may be waiting for:
// it goes ahead of a snapshot start that waits (barrier.rLockUrgent).
func (d *Durable) SaveState(state []byte) error {
	rec := append([]byte{kindState}, state...)
	d.barrier.rLockUrgent()
	defer d.barrier.RUnlock()
	return d.appendLocked([][]byte{rec}, func() error {
		d.mu.Lock()
		d.state = append(d.state[:0:0], state...)
		d.mu.Unlock()
		return nil
	})
}

func (d *Durable) appendThen(recs [][]byte, apply func() error) error {
	d.barrier.RLock()
	defer d.barrier.RUnlock()
	return d.appendLocked(recs, apply)
}

// appendLocked appends recs, then calls apply; the caller holds the
// barrier shared.
func (d *Durable) appendLocked(recs [][]byte, apply func() error) error {
	if err := d.log.AppendBatch(recs); err != nil {
		return err
	}
	return apply()
}

// Stats returns the log's counters and the compactions run.
func (d *Durable) Stats() (wal.Stats, uint64, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Stats(), d.compactions, d.compactErrors
}

// Close closes the log. Call it once nothing appends any more.
func (d *Durable) Close() error { return d.log.Close() }

// Run compacts the log in the background until ctx ends: every
// CompactEvery it compares the log's size with the live data and writes a
// snapshot once the log has grown past about twice the live data (and past
// CompactMin).
func (d *Durable) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := d.log.Stats()
		live := d.mem.Stats()
		budget := max(d.cfg.CompactMin, 2*(live.Bytes+64*(live.Keys+live.Tombstones)))
		if st.LogBytes <= budget {
			continue
		}
		if err := d.Compact(); err != nil {
			d.cfg.Logger.Warn("compaction failed; will retry", "err", err, "log_bytes", st.LogBytes)
		}
	}
}

// Compact writes the store as a snapshot and drops the log segments it
// covers. Writes go on meanwhile: they wait only while the log rotates.
func (d *Durable) Compact() error {
	d.mu.Lock()
	if d.compacting {
		d.mu.Unlock()
		return wal.ErrSnapshotBusy
	}
	d.compacting = true
	d.mu.Unlock()
	start := time.Now()
	err := d.compact()
	d.mu.Lock()
	d.compacting = false
	if err != nil {
		d.compactErrors++
	} else {
		d.compactions++
	}
	d.mu.Unlock()
	if err == nil {
		st := d.log.Stats()
		d.cfg.Logger.Info("log compacted", "took", time.Since(start).Round(time.Millisecond),
			"snapshot_bytes", st.SnapshotBytes, "log_bytes", st.LogBytes)
	}
	return err
}

func (d *Durable) compact() error {
	d.barrier.Lock()
	snap, err := d.log.StartSnapshot()
	d.mu.Lock()
	held := append([]bool(nil), d.held...)
	state := append([]byte(nil), d.state...)
	d.mu.Unlock()
	d.barrier.Unlock()
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			snap.Abort()
		}
	}()
	var buf []byte
	for b := range d.cfg.Buckets {
		after := ""
		for {
			entries, more := d.mem.Range(b, after, 1<<20)
			for i := range entries {
				buf = appendEntry(buf[:0], b, &entries[i])
				if err := snap.Add(buf); err != nil {
					return err
				}
			}
			if !more || len(entries) == 0 {
				break
			}
			after = entries[len(entries)-1].Key
		}
		if held[b] {
			if err := snap.Add(appendBucket(buf[:0], kindHeld, b)); err != nil {
				return err
			}
		}
	}
	if state != nil {
		if err := snap.Add(append([]byte{kindState}, state...)); err != nil {
			return err
		}
	}
	if err := snap.Commit(); err != nil {
		return err
	}
	ok = true
	return nil
}
