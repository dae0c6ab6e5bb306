// Package wal is a node's durable log: checksummed records in append-only
// segment files, group commit, snapshots that compact the log in the
// background, crash recovery that tells a torn tail from damage, and a small
// atomic metadata store, all in one data directory.
//
// Records are opaque byte strings; the caller encodes its own entries. The
// life of a log:
//
//	l, err := wal.Open(cfg)                 // lock the directory, list its files
//	id, err := l.LoadMeta("node")           // optional, before or after Replay
//	info, err := l.Replay(apply)            // newest snapshot, then every record after it
//	err = l.Append(rec)                     // durable per cfg.Fsync when it returns
//	s, err := l.StartSnapshot()             // rotate; stream state into s; s.Commit()
//	err = l.Close()
//
// The on-disk format, the fsync modes, the torn-versus-corrupt rule and the
// measured figures are in docs/durability.md.
package wal
