package node

import (
	"time"

	"github.com/jumpkv/jumpkv/wal"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jumpkv/jumpkv/transport"
)

// metrics are a node's Prometheus collectors, in a registry of its own (no
// global state: tests run many nodes in one process).
type metrics struct {
	reg           *prometheus.Registry
	replication   prometheus.Histogram
	forward       prometheus.Histogram
	leaderChanges prometheus.Counter
	bucketMoves   prometheus.Counter
	repairs       prometheus.Counter
	purges        prometheus.Counter
	peerRefused   prometheus.Counter // peer messages the door refused
	peerPanics    prometheus.Counter // peer handlers that panicked
	catchUpBytes  prometheus.Counter // bytes copied into buckets by fills
	expired       prometheus.Counter // expired values this node deleted as primary
	refusedFull   prometheus.Counter // writes refused (507) for a replica at its --max-memory

	// Reads this node answered from its own copy, as the bucket's primary
	// or, leading, as a backup (atomics: they are counted on the hot path).
	readsPrimaryCopy, readsBackupCopy atomic.Uint64
	// Batches of replica writes this node sent as leader, and the writes
	// they carried (replbatch.go).
	replicateBatches, replicateBatched atomic.Uint64
	// Batches of reads this node sent to primaries, and the reads in them.
	readBatches, readBatched atomic.Uint64
	// Batches of writes this node forwarded to the leader, and the writes
	// in them (forwardbatch.go).
	forwardBatches, forwardBatched atomic.Uint64
	// Writes this node carried out together as leader (WriteMany).
	writesTogether atomic.Uint64
}

// latencyBuckets span 100µs to about 6s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 13)

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		replication: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jumpkv_replication_seconds",
			Help: "Time the leader spends applying a write to every replica of its bucket.", Buckets: latencyBuckets}),
		forward: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jumpkv_forward_seconds",
			Help: "Time a follower waits for the leader to carry out a forwarded write.", Buckets: latencyBuckets}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_leader_changes_total",
			Help: "Times this node saw a new leader (itself included)."}),
		bucketMoves: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_bucket_moves_total",
			Help: "Bucket copies moved by placement changes this node committed as leader."}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_antientropy_repaired_total",
			Help: "Entries anti-entropy copied to or from this node's replicas."}),
		purges: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_tombstones_purged_total",
			Help: "Tombstones purged once every replica held them."}),
		peerRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_peer_refused_total",
			Help: "Peer messages (requests and answers) refused as malformed or out of bounds."}),
		refusedFull: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_writes_refused_memory_total",
			Help: "Writes this node refused as leader (507) because a replica of their bucket holds its --max-memory."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_expired_total",
			Help: "Values past their expiry this node deleted, as their bucket's primary."}),
		catchUpBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_fill_copied_bytes_total",
			Help: "Bytes copied into this node's buckets by fills (key versions compared and entries fetched)."}),
		peerPanics: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumpkv_peer_panics_total",
			Help: "Peer handlers that panicked (the request was refused; this is a bug to report)."}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	// The peer transport's counters, when it keeps them (TCP does).
	peer := func(name, help string, f func(transport.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if t, ok := n.transport().(interface{ Stats() transport.Stats }); ok {
				return float64(f(t.Stats()))
			}
			return 0
		})
	}
	localReads := func(copyKind string, c *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_reads_local_total",
			Help:        "Reads answered from this node's own copy, without asking another node.",
			ConstLabels: prometheus.Labels{"copy": copyKind}}, func() float64 { return float64(c.Load()) })
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.replication, m.forward, m.leaderChanges, m.bucketMoves, m.repairs, m.purges, m.peerRefused, m.peerPanics, m.catchUpBytes, m.expired, m.refusedFull,
		gauge("jumpkv_memory_used_bytes", "The data this node holds, as counted against --max-memory (key and value bytes plus a fixed overhead per entry).",
			func() float64 { return float64(n.memoryUsed()) }),
		gauge("jumpkv_memory_limit_bytes", "This node's --max-memory (0: no limit).", func() float64 { return float64(n.cfg.MaxMemory) }),
		gauge("jumpkv_term", "The newest term this node has seen.", func() float64 { return float64(n.el.Term()) }),
		gauge("jumpkv_epoch", "The placement epoch this node has installed.", func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			return float64(n.state.Epoch())
		}),
		gauge("jumpkv_is_leader", "1 while this node leads.", func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.lead != nil {
				return 1
			}
			return 0
		}),
		gauge("jumpkv_keys", "Live keys this node holds (primary and backup copies).", func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			return float64(n.heldKeysLocked())
		}),
		gauge("jumpkv_bytes", "Key and value bytes of the live keys this node holds.", func() float64 { return float64(n.store.Stats().Bytes) }),
		gauge("jumpkv_tombstones", "Tombstones this node holds.", func() float64 { return float64(n.store.Stats().Tombstones) }),
		gauge("jumpkv_watch_subscribers", "Live watch subscriptions on this node.", func() float64 {
			live, _ := n.Watchers()
			return float64(live)
		}),
		peer("jumpkv_peer_frames_sent_total", "Frames (requests and answers) this node queued to its peers.",
			func(s transport.Stats) uint64 { return s.FramesSent }),
		peer("jumpkv_peer_writes_total", "Write calls that carried them to the peers: frames sent over writes is the batching.",
			func(s transport.Stats) uint64 { return s.Writes }),
		peer("jumpkv_peer_reader_writes_total", "Of those writes, those a connection's reader made for the answers it held.",
			func(s transport.Stats) uint64 { return s.ReaderWrites }),
		peer("jumpkv_peer_slow_writes_total", "Writes to a peer that took 5ms or more; readers then leave writing to the writer goroutine for a second.",
			func(s transport.Stats) uint64 { return s.SlowWrites }),
		peer("jumpkv_peer_requests_on_reader_total", "Peer requests served on their connection's reader, without a goroutine hand-off.",
			func(s transport.Stats) uint64 { return s.ServedQuick }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_replication_batches_total",
			Help: "Frames that carried several writes to one replica at once (sent as leader)."}, func() float64 { return float64(m.replicateBatches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_replication_batched_writes_total",
			Help: "Replica writes those frames carried: over the frames, the mean batch size."}, func() float64 { return float64(m.replicateBatched.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_read_batches_total",
			Help: "Frames that carried several reads of a client's pipeline or MGET to one primary at once."}, func() float64 { return float64(m.readBatches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_read_batched_reads_total",
			Help: "Reads those frames carried: over the frames, the mean batch size."}, func() float64 { return float64(m.readBatched.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_forward_batches_total",
			Help: "Frames that carried several client writes to the leader at once (sent as follower)."}, func() float64 { return float64(m.forwardBatches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_forward_batched_writes_total",
			Help: "Writes those frames carried: over the frames, the mean batch size."}, func() float64 { return float64(m.forwardBatched.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_writes_together_total",
			Help: "Writes the leader carried out in a unit of several (a Redis pipeline's SETs, MSET): one pass at the locks and one batch to each replica per phase."}, func() float64 { return float64(m.writesTogether.Load()) }),
		localReads("primary", &m.readsPrimaryCopy),
		localReads("backup", &m.readsBackupCopy),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jumpkv_watch_dropped_total",
			Help: "Watch subscriptions ended because the watcher fell behind."}, func() float64 {
			_, dropped := n.Watchers()
			return float64(dropped)
		}),
	)
	if n.persist != nil {
		m.reg.MustRegister(m.durabilityCollectors(n)...)
	}
	return m
}

// fsyncSeconds is the histogram of the data directory's fsyncs, made before
// the node (the log reports to it from Open on).
func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jumpkv_fsync_seconds",
		Help: "Duration of each fsync of the data directory's log.", Buckets: latencyBuckets})
}

// durabilityCollectors are the data directory's figures.
func (m *metrics) durabilityCollectors(n *Node) []prometheus.Collector {
	stat := func(name, help string, f func(st walStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			st, compactions, errs := n.persist.Stats()
			return f(walStats{st, compactions, errs})
		})
	}
	return []prometheus.Collector{
		n.fsyncSeconds,
		stat("jumpkv_log_bytes", "Bytes of the data directory's log segments (not counting the snapshot).",
			func(s walStats) float64 { return float64(s.LogBytes) }),
		stat("jumpkv_snapshot_bytes", "Bytes of the newest snapshot.", func(s walStats) float64 { return float64(s.SnapshotBytes) }),
		stat("jumpkv_snapshot_age_seconds", "Seconds since the newest snapshot was written (0: none yet).", func(s walStats) float64 {
			if s.LastSnapshot.IsZero() {
				return 0
			}
			return time.Since(s.LastSnapshot).Seconds()
		}),
		stat("jumpkv_recovery_seconds", "How long this node took to read its data directory back at start.",
			func(s walStats) float64 { return s.Recovery.Seconds() }),
		stat("jumpkv_compactions_total", "Log compactions (snapshots) written.", func(s walStats) float64 { return float64(s.compactions) }),
	}
}

// walStats is what the durability collectors read.
type walStats struct {
	wal.Stats
	compactions, compactErrors uint64
}

// Metrics returns the node's Prometheus registry (the HTTP layer adds its
// own collectors to it and serves it at /metrics).
func (n *Node) Metrics() *prometheus.Registry { return n.metrics.reg }
