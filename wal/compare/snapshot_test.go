package compare

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	twal "github.com/tidwall/wal"
	bolt "go.etcd.io/bbolt"

	"github.com/jumpkv/jumpkv/wal"
)

// One million entries of a 16-byte key and 108 bytes of value (8 of
// version, 100 of data), the recovery target's load.
const entries = 1_000_000

func key(i int) []byte { return fmt.Appendf(nil, "key-%012d", i) }

var value = make([]byte, 108)

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// BenchmarkSnapshot1M writes 1M entries as a snapshot and reads them back:
// the jumpkv snapshot file against a bbolt database (one transaction,
// keys in order, fill 100%: bbolt's best case).
//
//	cd wal/compare && go test -run XXX -bench Snapshot1M -benchtime 3x
func BenchmarkSnapshot1M(b *testing.B) {
	b.Run("jumpkv", func(b *testing.B) {
		dir := b.TempDir()
		var size int64
		b.Run("write", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				os.RemoveAll(dir)
				cfg := wal.DefaultConfig(dir)
				l, err := wal.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				l.Replay(func(wal.Source, []byte) error { return nil })
				s, err := l.StartSnapshot()
				if err != nil {
					b.Fatal(err)
				}
				rec := make([]byte, 0, 128)
				for i := range entries {
					rec = append(append(rec[:0], key(i)...), value...)
					if err := s.Add(rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Commit(); err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
			size = dirSize(b, dir)
			b.ReportMetric(float64(size)/1e6, "MB-on-disk")
		})
		b.Run("read", func(b *testing.B) {
			for b.Loop() {
				l, err := wal.Open(wal.DefaultConfig(dir))
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				if _, err := l.Replay(func(_ wal.Source, r []byte) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				l.Close()
				if n != entries {
					b.Fatalf("read %d", n)
				}
			}
		})
	})
	b.Run("bbolt", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "snap.db")
		// One transaction for the lot, then one per 10,000 entries (bbolt
		// is known to prefer transactions of moderate size).
		for _, perTx := range []int{entries, 10_000} {
			b.Run(fmt.Sprintf("write-%d-per-tx", perTx), func(b *testing.B) {
				for b.Loop() {
					os.Remove(path)
					db, err := bolt.Open(path, 0o644, nil)
					if err != nil {
						b.Fatal(err)
					}
					for start := 0; start < entries; start += perTx {
						err = db.Update(func(tx *bolt.Tx) error {
							bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
							if err != nil {
								return err
							}
							bk.FillPercent = 1.0
							for i := start; i < start+perTx; i++ {
								if err := bk.Put(key(i), value); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
					}
					db.Close()
				}
				st, _ := os.Stat(path)
				b.ReportMetric(float64(st.Size())/1e6, "MB-on-disk")
			})
		}
		b.Run("read", func(b *testing.B) {
			for b.Loop() {
				db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				db.View(func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("kv")).ForEach(func(k, v []byte) error { n++; return nil })
				})
				db.Close()
				if n != entries {
					b.Fatalf("read %d", n)
				}
			}
		})
	})
}

// BenchmarkRecover1M reads 1M records back from a log: jumpkv's Replay
// against opening a tidwall/wal log and reading every index.
//
//	cd wal/compare && go test -run XXX -bench Recover1M -benchtime 3x
func BenchmarkRecover1M(b *testing.B) {
	rec := append(key(0), value...)
	b.Run("jumpkv", func(b *testing.B) {
		dir := b.TempDir()
		cfg := wal.DefaultConfig(dir)
		cfg.Fsync = wal.FsyncNo
		l, _ := wal.Open(cfg)
		l.Replay(func(wal.Source, []byte) error { return nil })
		batch := make([][]byte, 1000)
		for i := range batch {
			batch[i] = rec
		}
		for range entries / len(batch) {
			if err := l.AppendBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
		l.Close()
		b.ResetTimer()
		for b.Loop() {
			l, err := wal.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			if _, err := l.Replay(func(_ wal.Source, r []byte) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			l.Close()
			if n != entries {
				b.Fatalf("read %d", n)
			}
		}
	})
	b.Run("tidwall", func(b *testing.B) {
		dir := b.TempDir()
		opts := *twal.DefaultOptions
		opts.LogFormat = twal.Binary
		opts.NoSync = true
		opts.SegmentSize = 64 << 20
		log, err := twal.Open(dir, &opts)
		if err != nil {
			b.Fatal(err)
		}
		var batch twal.Batch
		for i := 1; i <= entries; i++ {
			batch.Write(uint64(i), rec)
			if i%1000 == 0 {
				if err := log.WriteBatch(&batch); err != nil {
					b.Fatal(err)
				}
				batch.Clear()
			}
		}
		log.Close()
		b.ResetTimer()
		for b.Loop() {
			log, err := twal.Open(dir, &opts)
			if err != nil {
				b.Fatal(err)
			}
			first, _ := log.FirstIndex()
			last, _ := log.LastIndex()
			n := 0
			for i := first; i <= last; i++ {
				if _, err := log.Read(i); err != nil {
					b.Fatal(err)
				}
				n++
			}
			log.Close()
			if n != entries {
				b.Fatalf("read %d", n)
			}
		}
	})
}
