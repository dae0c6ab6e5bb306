package clustertest

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// RunNemesis injects one fault at a time into c for d (the nemesis of the
// node and RESP linearizability tests): it kills, pauses, cuts off (both ways or one
// way) a node, the leader half the time, or makes the network drop and
// delay messages, each for 0.5 to 4 s, waiting for the cluster to recover
// before the next. It returns the faults injected.
func RunNemesis(c *Cluster, seed uint64, d time.Duration) []string {
	size := len(c.Nodes())
	rng := rand.New(rand.NewPCG(seed, 99))
	var faults []string
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		recovered := time.Now().Add(30 * time.Second)
		for !(c.Leader() != nil && c.AllReady()) && time.Now().Before(recovered) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		victim := rng.IntN(size)
		if l := c.Leader(); l != nil && rng.IntN(2) == 0 {
			victim = l.Index
		}
		hold := time.Duration(500+rng.IntN(3500)) * time.Millisecond
		switch rng.IntN(6) {
		case 3:
			faults = append(faults, fmt.Sprintf("cut %d's outgoing messages for %v", victim, hold))
			for j := range size {
				if j != victim {
					c.Net.Block(PeerAddr(victim), PeerAddr(j))
				}
			}
			time.Sleep(hold)
			c.Heal()
		case 4:
			faults = append(faults, fmt.Sprintf("cut %d's incoming messages for %v", victim, hold))
			for j := range size {
				if j != victim {
					c.Net.Block(PeerAddr(j), PeerAddr(victim))
				}
			}
			time.Sleep(hold)
			c.Heal()
		case 5:
			faults = append(faults, fmt.Sprintf("drop 5%% and delay up to 30ms for %v", hold))
			c.Net.SetDropRate(0.05)
			c.Net.SetDelay(0, 30*time.Millisecond)
			time.Sleep(hold)
			c.Net.SetDropRate(0)
			c.Net.SetDelay(c.opts.DelayMin, c.opts.DelayMax)
		case 0:
			faults = append(faults, fmt.Sprintf("kill %d for %v", victim, hold))
			c.Kill(victim)
			time.Sleep(hold)
			c.Restart(victim)
		case 1:
			faults = append(faults, fmt.Sprintf("pause %d for %v", victim, hold))
			c.Pause(victim)
			time.Sleep(hold)
			c.Resume(victim)
		default:
			faults = append(faults, fmt.Sprintf("isolate %d for %v", victim, hold))
			c.Isolate(victim)
			time.Sleep(hold)
			c.Heal()
		}
	}
	return faults
}
