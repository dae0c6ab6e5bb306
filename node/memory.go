package node

import (
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

// memoryFull reports whether this node holds its limit.
func (n *Node) memoryFull() bool {
	return n.cfg.MaxMemory > 0 && n.memoryUsed() >= n.cfg.MaxMemory
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
