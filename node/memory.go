package node

import (
	"log/slog"
	runtimemetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/store"
)

// The memory limit (Config.MaxMemory). What counts is the store's own
// data: key and value bytes plus entryOverhead per entry (tombstones
// included), not the Go heap, which runs ahead and behind the data with
// the garbage collector. A node at its limit says so in its heartbeats;
// the leader then refuses, before any replica applies them, writes that
// would grow a bucket of that node (507); reads, deletes and writes that
// do not grow go on, and writes are accepted again once space is freed.
// A heartbeat is at most a heartbeat interval old, so a flood can pass the
// limit by what the leader accepts in that time.
//
// Config.MaxHeap guards the process itself: the Go heap holds more than
// the data (request bodies, replication frames, the collector's garbage),
// so a node whose data limit is 90% of its container could otherwise be
// killed by the kernel before its data reached the limit. A node whose
// live heap reaches MaxHeap counts itself full in the same way.

// entryOverhead is the memory an entry costs beyond its key and value: the
// store's record header and index slot (39 bytes measured, store's
// BenchmarkMemoryPerKey), rounded up for the map and allocator slack.
const entryOverhead = 64

// memoryUsed returns the bytes of data this node holds, as counted
// against Config.MaxMemory.
func (n *Node) memoryUsed() int64 {
	st := n.store.Stats()
	return st.Bytes + entryOverhead*(st.Keys+st.Tombstones)
}

// memoryFull reports whether this node holds its limit: its data at
// Config.MaxMemory, or its live heap at Config.MaxHeap.
func (n *Node) memoryFull() bool {
	if n.cfg.MaxMemory > 0 && n.memoryUsed() >= n.cfg.MaxMemory {
		return true
	}
	if n.cfg.MaxHeap > 0 {
		if live := n.heap.live(time.Now()); live >= n.cfg.MaxHeap {
			n.rareLog.Log("heap-full", slog.LevelWarn, "the Go heap is at its guard: refusing writes that would grow this node's data until it shrinks (repeated at most once a minute)",
				"heap_live", live, "max_heap", n.cfg.MaxHeap, "data", n.memoryUsed())
			return true
		}
	}
	return false
}

// heapGauge samples the Go heap's live bytes (as of the last collection)
// at most every heapSampleEvery, so that the write path can ask on every
// write.
type heapGauge struct {
	mu        sync.Mutex // guards the sample buffer while reading
	sample    [1]runtimemetrics.Sample
	sampledAt atomic.Int64 // unix nanoseconds of the last sample
	bytes     atomic.Int64
}

const heapSampleEvery = 20 * time.Millisecond

// live returns the heap's live bytes, sampled at most heapSampleEvery ago.
func (g *heapGauge) live(now time.Time) int64 {
	if now.UnixNano()-g.sampledAt.Load() < int64(heapSampleEvery) {
		return g.bytes.Load()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sample[0].Name = "/gc/heap/live:bytes"
	runtimemetrics.Read(g.sample[:])
	if g.sample[0].Value.Kind() == runtimemetrics.KindUint64 {
		g.bytes.Store(int64(g.sample[0].Value.Uint64()))
	}
	g.sampledAt.Store(now.UnixNano())
	return g.bytes.Load()
}

// grows reports whether writing e over the key's current value (cur, if
// found) makes the node hold more.
func grows(e store.Entry, cur store.Entry, found bool) bool {
	if e.Deleted {
		return false
	}
	if !found {
		return true
	}
	return len(e.Key)+len(e.Value) > len(cur.Key)+len(cur.Value)
}
