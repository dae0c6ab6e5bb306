package persist

import (
	"fmt"
	"testing"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wal"
)

// BenchmarkRecover1M measures Open (the log's replay into a store) of a
// data directory holding 1,000,000 entries of 100-byte values over 1024
// buckets, as a restarted node does:
//
//	go test -run '^$' -bench Recover1M -benchtime 3x ./persist
func BenchmarkRecover1M(b *testing.B) {
	const n, buckets = 1_000_000, 1024
	dir := b.TempDir()
	cfg := DefaultConfig(dir, buckets)
	cfg.Log.Fsync = wal.FsyncNo
	mem := store.New(buckets)
	d, _, err := Open(cfg, mem)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	batch := make([]store.Entry, 0, 1000)
	for i := range n {
		key := fmt.Sprintf("bench/%07d", i)
		batch = append(batch, store.Entry{Key: key, Value: value, Version: store.Version{Term: 1, Seq: uint64(i + 1)}})
		if len(batch) == cap(batch) || i == n-1 {
			for _, e := range batch {
				bk := shard.BucketOf(e.Key, buckets)
				if err := d.Append(bk, []store.Entry{e}, func() error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			batch = batch[:0]
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		mem := store.New(buckets)
		d, rec, err := Open(DefaultConfig(dir, buckets), mem)
		if err != nil {
			b.Fatal(err)
		}
		if rec.Entries != n || mem.Stats().Keys != n {
			b.Fatalf("recovered %d entries, %d keys", rec.Entries, mem.Stats().Keys)
		}
		d.Close()
	}
}
