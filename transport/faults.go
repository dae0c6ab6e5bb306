package transport

import (
	"math"
	"time"
)

// NetStats counts a Network's messages: requests, responses and the
// connection-loss notices of closing transports, each in its own direction.
type NetStats struct {
	Sent      uint64 // handed to the network
	Delivered uint64 // delivered to their destination
	Dropped   uint64 // lost to a partition, block, isolation or the drop rate
	Held      int    // waiting now for a paused end to resume
	// QuickStalls counts quick requests whose handler held their
	// connection's reader longer than the bound (Network.SetQuickStall).
	QuickStalls uint64
}

// faults is the fault state of a Network, guarded by Network.mu. Filters
// (partition, blocks, isolation, drop rate, delay) are decided when a
// message is sent; pauses when it arrives.
type faults struct {
	group    map[string]int // partition group per listed address; nil: no partition
	blocked  map[link]bool
	isolated map[string]bool
	dropRate float64
	delayMin time.Duration
	delayMax time.Duration
	paused   map[string]bool
	held     []heldMsg
	stats    NetStats
}

// link is a one-way path between two addresses.
type link struct{ from, to string }

// heldMsg is a message waiting for Resume.
type heldMsg struct {
	from, to string
	deliver  func()
}

// Partition splits the network: messages between addresses in different
// groups are dropped. Addresses not listed form one more group together.
// It replaces any previous partition; with no groups it removes it.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = nil
	if len(groups) == 0 {
		return
	}
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, addr := range g {
			n.group[addr] = i
		}
	}
}

// Block drops messages sent from one address to another (one way only).
func (n *Network) Block(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.blocked == nil {
		n.blocked = make(map[link]bool)
	}
	n.blocked[link{from, to}] = true
}

// Unblock undoes Block(from, to).
func (n *Network) Unblock(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.blocked, link{from, to})
}

// Isolate cuts addr off from every other address, both ways.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isolated == nil {
		n.isolated = make(map[string]bool)
	}
	n.isolated[addr] = true
}

// Heal removes the partition, all blocks and all isolation. The drop rate,
// delay and pauses stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group, n.blocked, n.isolated = nil, nil, nil
}

// SetDropRate makes the network drop each message with probability p
// (clamped to [0, 1]).
func (n *Network) SetDropRate(p float64) {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate = min(p, 1)
}

// SetDelay delays each message by a duration drawn uniformly from
// [lo, hi]; zero durations remove the delay. A negative lo counts as zero
// and hi below lo as lo.
func (n *Network) SetDelay(lo, hi time.Duration) {
	lo = max(lo, 0)
	hi = max(hi, lo)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delayMin, n.delayMax = lo, hi
}

// Pause holds, without dropping, every message to or from addr that
// arrives while it is paused.
func (n *Network) Pause(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused == nil {
		n.paused = make(map[string]bool)
	}
	n.paused[addr] = true
}

// Resume ends Pause(addr) and delivers, in arrival order, the held
// messages whose other end is not paused too. Delivery runs on the
// caller's goroutine and does not block.
func (n *Network) Resume(addr string) {
	n.mu.Lock()
	delete(n.paused, addr)
	var release []heldMsg
	kept := n.held[:0]
	for _, h := range n.held {
		if n.paused[h.from] || n.paused[h.to] {
			kept = append(kept, h)
		} else {
			release = append(release, h)
		}
	}
	clear(n.held[len(kept):])
	n.held = kept
	n.stats.Delivered += uint64(len(release))
	n.mu.Unlock()
	for _, h := range release {
		h.deliver()
	}
}

// Stats returns the message counts so far.
func (n *Network) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Held = len(n.held)
	return s
}

// transmit sends one message from one address to another: it is dropped
// by the filters, or delivered (calling deliver, which must not block)
// after the configured delay, or held if an end is paused when it arrives.
// Without a delay, deliver runs on the caller's goroutine; with one, on a
// timer's.
func (n *Network) transmit(from, to string, deliver func()) {
	n.mu.Lock()
	n.stats.Sent++
	if n.cutLocked(from, to) || (n.dropRate > 0 && n.rng.Float64() < n.dropRate) {
		n.stats.Dropped++
		n.mu.Unlock()
		return
	}
	d := n.delayMin
	if n.delayMax > n.delayMin {
		d += time.Duration(n.rng.Int64N(int64(n.delayMax-n.delayMin) + 1))
	}
	n.mu.Unlock()
	if d <= 0 {
		n.arrive(from, to, deliver)
		return
	}
	time.AfterFunc(d, func() { n.arrive(from, to, deliver) })
}

// arrive delivers a message that reached its destination, or holds it if
// either end is paused.
func (n *Network) arrive(from, to string, deliver func()) {
	n.mu.Lock()
	if n.paused[from] || n.paused[to] {
		n.held = append(n.held, heldMsg{from: from, to: to, deliver: deliver})
		n.mu.Unlock()
		return
	}
	n.stats.Delivered++
	n.mu.Unlock()
	deliver()
}

// cutLocked reports whether a partition, block or isolation drops messages
// from one address to another. A node's messages to itself are cut only by
// an explicit Block.
func (n *Network) cutLocked(from, to string) bool {
	if n.blocked[link{from, to}] {
		return true
	}
	if from == to {
		return false
	}
	if n.isolated[from] || n.isolated[to] {
		return true
	}
	if n.group != nil {
		gf, ok := n.group[from]
		if !ok {
			gf = -1
		}
		gt, ok := n.group[to]
		if !ok {
			gt = -1
		}
		return gf != gt
	}
	return false
}
