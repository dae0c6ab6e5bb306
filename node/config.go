// Package node runs one jumpkv node: it wires the election, the placement
// table, replication and the store together, owns every goroutine they
// need, and offers Get/Write/List/Status to the HTTP layer.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jumpkv/jumpkv/leader"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// Config is one node's configuration. Start from DefaultConfig and call
// Validate; tests shorten the timings.
type Config struct {
	// ID is the node's ID; 0 derives it from PeerAddr (see IDFromAddr).
	ID shard.NodeID
	// PeerAddr is the advertised host:port other nodes dial to reach this one.
	PeerAddr string
	// HTTPAddr is the advertised host:port of the client API: the address
	// /v1/cluster and the dashboard give clients for this node.
	HTTPAddr string
	// Name is a name for people, shown next to the ID (--name); empty
	// shows the ID alone.
	Name string
	// Join lists peer addresses (host:port) to join; DNS names resolving to
	// several addresses mean all of them. It may include this node.
	Join []string
	// Replicas is the number of copies of each bucket; 0 means auto,
	// floor(n/2)+1 for n live members.
	Replicas int
	// Buckets is the number of buckets keys hash into; fixed for the life
	// of a cluster.
	Buckets int
	// DeadAfter is how long a silent node is suspected before it counts as
	// dead and its buckets are re-replicated.
	DeadAfter time.Duration
	// SyncInterval is the period of anti-entropy between replicas.
	SyncInterval time.Duration
	// MaxValue is the largest value accepted, in bytes.
	MaxValue int
	// MaxKey is the longest key accepted, in bytes.
	MaxKey int
	// Election holds the election's timings; zero fields derive from DeadAfter.
	Election leader.Config
	// CallTimeout bounds each request to a peer.
	CallTimeout time.Duration
	// FillTimeout bounds copying the buckets a node gains in a rebalance.
	FillTimeout time.Duration
	// Incarnation tells this process apart from earlier ones with the same
	// ID; 0 picks one from the clock.
	Incarnation uint64
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Watch sizes the watch machinery; zero fields take their defaults.
	Watch WatchConfig
	// Resolve looks up the addresses of a join host; nil uses the system
	// resolver. Tests on the in-memory network pass an identity function.
	Resolve func(host string) ([]string, error)
	// DataDir is where the node keeps its data durable; empty keeps it in
	// memory only. A node restarted from its data directory keeps its ID,
	// its incarnation and its copies.
	DataDir string
	// Fsync is the durability of a write with DataDir: FsyncAlways (a
	// replica acknowledges only what is on disk), FsyncEverySec or FsyncNo.
	Fsync wal.FsyncMode
	// DataFS is the file layer under DataDir; nil is the operating
	// system's. Tests put a wal.FaultFS here to fill the disk.
	DataFS wal.FS
	// MaxMemory is the data a node may hold (the store's key and value
	// bytes plus a fixed overhead per entry, memory.go) before writes that
	// would grow it are refused with 507; 0 is no limit. The command line
	// derives its default from the container's memory limit.
	MaxMemory int64
	// MaxHeap is the Go heap (live after the last collection) at which the
	// node also refuses growth, whatever its data: the guard that keeps a
	// node in a container clear of the kernel's OOM killer, since the heap
	// holds more than the data (request buffers, replication frames, the
	// collector's garbage). 0 is no guard. The command line sets it to 80%
	// of the container's memory limit when there is one.
	MaxHeap int64
	// LeftoverGrace is how long data recovered from disk for buckets this
	// node no longer holds is kept, so that a node placed back where it was
	// copies only what changed.
	LeftoverGrace time.Duration
}

// MaxKeyBytes is the longest key SPEC allows, in bytes.
const MaxKeyBytes = 1024

// DefaultConfig returns the SPEC defaults for a node advertising peerAddr.
// It is the one place defaults are written: New and Validate fill in only
// what derives from other fields (the ID, the incarnation, the logger and
// the election timings from DeadAfter).
func DefaultConfig(peerAddr string) Config {
	return Config{
		PeerAddr:      peerAddr,
		Buckets:       1024,
		DeadAfter:     2 * time.Second,
		SyncInterval:  5 * time.Second,
		MaxValue:      1 << 20,
		MaxKey:        MaxKeyBytes,
		CallTimeout:   2 * time.Second,
		FillTimeout:   60 * time.Second,
		Watch:         DefaultWatchConfig(),
		Fsync:         wal.FsyncAlways,
		LeftoverGrace: 2 * time.Minute,
	}
}

// withDerived fills the fields that derive from others. It sets no
// defaults of its own: a zero timing or size stays zero, and Validate
// refuses it.
func (c Config) withDerived() Config {
	if c.ID == 0 {
		c.ID = IDFromAddr(c.PeerAddr)
	}
	if c.Incarnation == 0 {
		c.Incarnation = uint64(time.Now().UnixNano())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Election.ID = c.ID
	if c.Election.DeadAfter == 0 {
		c.Election.DeadAfter = c.DeadAfter
	}
	c.Election = c.Election.WithDefaults()
	return c
}

// Validate reports the first setting that cannot work, naming the flag an
// operator would change.
func (c Config) Validate() error {
	d := c.withDerived()
	switch {
	case c.PeerAddr == "":
		return errors.New("the advertised peer address is empty")
	case d.ID == 0:
		return fmt.Errorf("cannot derive a node ID from peer address %q; set --id", c.PeerAddr)
	case c.Buckets < 1 || c.Buckets > wire.MaxBuckets:
		return fmt.Errorf("--buckets %d must be between 1 and %d", c.Buckets, wire.MaxBuckets)
	case c.Replicas < 0:
		return fmt.Errorf("--replicas %d must be positive or auto", c.Replicas)
	case c.DeadAfter < 10*time.Millisecond:
		return fmt.Errorf("--dead-after %v must be at least 10ms (a silent node is declared dead after it)", c.DeadAfter)
	case c.SyncInterval <= 0:
		return fmt.Errorf("--sync-interval %v must be positive", c.SyncInterval)
	case c.MaxValue < 1 || c.MaxValue > 64<<20:
		return fmt.Errorf("--max-value %d must be between 1 byte and 64MiB", c.MaxValue)
	case c.MaxKey < 1 || c.MaxKey > MaxKeyBytes:
		return fmt.Errorf("max key length %d must be between 1 and %d bytes", c.MaxKey, MaxKeyBytes)
	case c.CallTimeout <= 0:
		return fmt.Errorf("peer call timeout %v must be positive", c.CallTimeout)
	case c.FillTimeout <= 0:
		return fmt.Errorf("bucket copy timeout %v must be positive", c.FillTimeout)
	case c.Fsync < wal.FsyncAlways || c.Fsync > wal.FsyncNo:
		return fmt.Errorf("--fsync %d: want always, everysec or no", int(c.Fsync))
	case c.MaxMemory < 0:
		return fmt.Errorf("--max-memory %d must not be negative (0: no limit)", c.MaxMemory)
	case c.MaxHeap < 0:
		return fmt.Errorf("heap guard %d must not be negative (0: none)", c.MaxHeap)
	case len(c.Name) > MaxNameBytes || !validName(c.Name):
		return fmt.Errorf("--name %q: want up to %d letters, digits, '-', '_' or '.'", c.Name, MaxNameBytes)
	case c.LeftoverGrace < 0:
		return fmt.Errorf("leftover grace %v must not be negative", c.LeftoverGrace)
	}
	if err := c.Watch.Validate(); err != nil {
		return err
	}
	if err := d.Election.Validate(); err != nil {
		return fmt.Errorf("--dead-after %v: %w", c.DeadAfter, err)
	}
	return nil
}

// MaxNameBytes is the longest --name accepted.
const MaxNameBytes = 63

// validName reports whether name holds only letters, digits, '-', '_'
// and '.' (a host name does).
func validName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// MaxFrame returns the peer frame limit this configuration needs: room for
// a largest value and its key twice over (an append reads and writes one),
// and never less than 16MiB.
func (c Config) MaxFrame() int {
	need := 2*(c.MaxValue+c.MaxKey) + 64<<10
	if need < 16<<20 {
		need = 16 << 20
	}
	return need
}

// IDFromAddr derives a node ID from an advertised host:port: for an IPv4
// host, the address's 32 bits then the port's 16; otherwise a hash of the
// text. It returns 0 when addr is not host:port.
func IDFromAddr(addr string) shard.NodeID {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return 0
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		v4 := ip.To4()
		id := uint64(v4[0])<<40 | uint64(v4[1])<<32 | uint64(v4[2])<<24 | uint64(v4[3])<<16 | port
		if id != 0 {
			return shard.NodeID(id)
		}
	}
	// FNV-1a of the text, kept below 2^53 so JSON clients read it exactly.
	h := uint64(14695981039346656037)
	for i := 0; i < len(addr); i++ {
		h ^= uint64(addr[i])
		h *= 1099511628211
	}
	h &= 1<<53 - 1
	if h == 0 {
		h = 1
	}
	return shard.NodeID(h)
}
