// Package leader decides who leads: bully election with terms, failure
// detection by heartbeat round trips, and the leases that keep a deposed or
// paused leader (or a cut-off primary) from acting on stale authority.
//
// Elector is the pure core: it does no I/O, starts no goroutines and reads
// no clock (every input carries "now"). The node package drives it.
package leader

import (
	"errors"
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/shard"
)

// Config sets the election's timing. Derive test configs from
// DefaultConfig; zero fields take their defaults in WithDefaults.
type Config struct {
	// ID is this node's ID.
	ID shard.NodeID
	// DeadAfter is how long a peer may stay silent before it counts as dead
	// (and a silent leader is replaced).
	DeadAfter time.Duration
	// HeartbeatInterval is how often every node pings every member.
	HeartbeatInterval time.Duration
	// SuspectAfter is the silence after which a peer is reported suspect.
	SuspectAfter time.Duration
	// LeaderLease is how long a leader acts after a quorum acknowledged
	// one of its heartbeats (counted from that heartbeat's sending).
	LeaderLease time.Duration
	// ReadLease is how long a follower serves reads as a primary after the
	// leader confirmed it (counted from the follower's request).
	ReadLease time.Duration
}

// DefaultConfig returns the defaults for a node with the given ID and the
// given --dead-after (2s in the SPEC).
func DefaultConfig(id shard.NodeID, deadAfter time.Duration) Config {
	return Config{ID: id, DeadAfter: deadAfter}.WithDefaults()
}

// WithDefaults fills zero fields from DeadAfter: heartbeats every twentieth
// of it, suspicion after half of it, and leases of two fifths each, so that a
// leader's lease plus a read lease it granted end before voters that heard
// it will elect anyone else (with a fifth to spare for clock drift).
func (c Config) WithDefaults() Config {
	if c.DeadAfter == 0 {
		c.DeadAfter = 2 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.DeadAfter / 20
	}
	if c.SuspectAfter == 0 {
		c.SuspectAfter = c.DeadAfter / 2
	}
	if c.LeaderLease == 0 {
		c.LeaderLease = c.DeadAfter * 2 / 5
	}
	if c.ReadLease == 0 {
		c.ReadLease = c.DeadAfter * 2 / 5
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ID == 0:
		return errors.New("leader: node ID must not be 0")
	case c.DeadAfter < 10*time.Millisecond:
		return fmt.Errorf("leader: dead-after %v is too short (at least 10ms)", c.DeadAfter)
	case c.HeartbeatInterval <= 0 || c.HeartbeatInterval*2 > c.DeadAfter:
		return fmt.Errorf("leader: heartbeat interval %v must be positive and at most half of dead-after %v", c.HeartbeatInterval, c.DeadAfter)
	case c.SuspectAfter <= 0 || c.SuspectAfter > c.DeadAfter:
		return fmt.Errorf("leader: suspect-after %v must be in (0, dead-after %v]", c.SuspectAfter, c.DeadAfter)
	case c.LeaderLease <= 0 || c.ReadLease <= 0:
		return errors.New("leader: leases must be positive")
	case (c.LeaderLease+c.ReadLease)*5 > c.DeadAfter*4:
		return fmt.Errorf("leader: leader lease %v plus read lease %v must stay within 4/5 of dead-after %v", c.LeaderLease, c.ReadLease, c.DeadAfter)
	}
	return nil
}
