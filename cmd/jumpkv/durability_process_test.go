package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var killRounds = flag.Int("kill-rounds", 2, "rounds of TestProcessKillEveryNodeLosesNothing per cluster size")

// durableCluster is n node processes on loopback, each with its own data
// directory, restartable with the same flags.
type durableCluster struct {
	t     *testing.T
	bin   string
	http  []string
	peer  []string
	dirs  []string
	procs []*proc
}

func startDurableCluster(t *testing.T, n int) *durableCluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	c := &durableCluster{t: t, bin: binary(t), procs: make([]*proc, n)}
	base := t.TempDir()
	for i := range n {
		c.http = append(c.http, "127.0.0.1:"+strconv.Itoa(ports[i]))
		c.peer = append(c.peer, "127.0.0.1:"+strconv.Itoa(ports[n+i]))
		c.dirs = append(c.dirs, filepath.Join(base, fmt.Sprintf("node-%d", i+1)))
	}
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *durableCluster) start(i int) {
	c.procs[i] = startProc(c.t, c.bin, c.http[i], "node", "--http", c.http[i], "--peer", c.peer[i],
		"--advertise", "127.0.0.1", "--join", strings.Join(c.peer, ","), "--dead-after", "1s",
		"--buckets", "128", "--data-dir", c.dirs[i], "--fsync", "always")
}

// killAll SIGKILLs every node at once and waits for them to be gone.
func (c *durableCluster) killAll() {
	for _, p := range c.procs {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, p := range c.procs {
		_ = p.wait()
	}
}

// ledger is what a writer was told: the last acknowledged state of each
// key, and the keys whose last write had an unknown outcome.
type ledger struct {
	mu      sync.Mutex
	acked   map[string]string // value, or "" for an acknowledged delete
	unknown map[string]bool
}

// write runs until stop: it creates keys and deletes every third one
// after its creation was acknowledged, through every node in turn.
func (l *ledger) write(t *testing.T, nodes []string, round, writer int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(writer)))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("r%d-w%d-k%d", round, writer, i)
		value := fmt.Sprintf("v%d-%d", i, rng.IntN(1000))
		addr := nodes[i%len(nodes)]
		st, _, _ := request(t, "PUT", "http://"+addr+"/v1/kv/"+key, []byte(value))
		l.record(key, value, st)
		if st == 200 && i%3 == 0 {
			st, _, _ = request(t, "DELETE", "http://"+nodes[(i+1)%len(nodes)]+"/v1/kv/"+key, nil)
			l.record(key, "", st)
		}
	}
}

func (l *ledger) record(key, value string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case status == 200 || status == 204:
		l.acked[key] = value
		delete(l.unknown, key)
	case status == 503:
		// surely not applied
	default:
		l.unknown[key] = true // 504, or the node died under the request
	}
}

// TestProcessKillEveryNodeLosesNothing kills every node of a 3-node and a
// 5-node cluster with SIGKILL at once, at a random moment under a
// concurrent writers, and restarts them all from their data directories:
// every acknowledged write reads back unchanged from every node, and every
// acknowledged delete stays deleted (G8). -kill-rounds sets the rounds per
// size.
func TestProcessKillEveryNodeLosesNothing(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", size), func(t *testing.T) {
			c := startDurableCluster(t, size)
			waitCluster(t, c.procs, 60*time.Second)
			l := &ledger{acked: map[string]string{}, unknown: map[string]bool{}}
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			batches := 0.0
			for round := range *killRounds {
				stop := make(chan struct{})
				var writers sync.WaitGroup
				for w := range killWriters {
					writers.Go(func() { l.write(t, c.http, round, w, stop) })
				}
				time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond) // a random moment of the writers' run
				batches += metricSum(t, c.http, "jumpkv_replication_batches_total")
				c.killAll()
				close(stop)
				writers.Wait()
				for i := range c.procs {
					c.start(i)
				}
				waitCluster(t, c.procs, 60*time.Second)
				l.mu.Lock()
				checked, deleted := 0, 0
				for key, want := range l.acked {
					if l.unknown[key] {
						continue
					}
					for _, addr := range c.http {
						st, body := getRetrying503(t, addr, key)
						switch {
						case want == "" && st != 404:
							t.Fatalf("round %d: deleted %s came back via %s: %d %q", round, key, addr, st, body)
						case want != "" && (st != 200 || string(body) != want):
							t.Fatalf("round %d: %s via %s: %d %q, want %q", round, key, addr, st, body, want)
						}
					}
					checked++
					if want == "" {
						deleted++
					}
				}
				unknown := len(l.unknown)
				l.mu.Unlock()
				t.Logf("round %d: %d acknowledged keys (%d deletes) read back from all %d nodes; %d unknown outcomes",
					round, checked, deleted, size, unknown)
				if checked == 0 {
					t.Fatalf("round %d: no write was acknowledged before the kill", round)
				}
			}
			t.Logf("%v batches of replica writes sent before the kills", batches)
			if batches == 0 {
				t.Error("no replica write went in a batch: the writers did not check that path")
			}
		})
	}
}

// killWriters is how many clients write at once, so that the leader's
// replica writes overlap and go in batches.
const killWriters = 4

// metricSum sums a counter's value over the nodes' /metrics (0 for a
// node that does not answer).
func metricSum(t *testing.T, nodes []string, name string) float64 {
	sum := 0.0
	for _, addr := range nodes {
		st, _, body := request(t, "GET", "http://"+addr+"/metrics", nil)
		if st != 200 {
			continue
		}
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum
}

// getRetrying503 reads key through addr, retrying for up to 10s while the
// node answers 503 (an election after the restart: not an answer about
// the key).
func getRetrying503(t *testing.T, addr, key string) (int, []byte) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, body := request(t, "GET", "http://"+addr+"/v1/kv/"+key, nil)
		if st != 503 || time.Now().After(deadline) {
			return st, body
		}
		time.Sleep(50 * time.Millisecond) // polling a real process
	}
}
