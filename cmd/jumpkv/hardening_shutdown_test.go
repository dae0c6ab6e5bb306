package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestProcessGracefulScaleDown runs five nodes holding 2,000 keys and
// scales them down to three by SIGTERM, one node at a time, the leader
// first: each begins its handoff at once (an idle client connection open
// to it), exits 0 after handing its buckets off, the rest agree on the
// smaller membership, and every key reads back after each step.
func TestProcessGracefulScaleDown(t *testing.T) {
	const nKeys = 2000
	c := startProcCluster(t, 5, "--dead-after", "1s", "--buckets", "128")
	l := c.settled(60 * time.Second)
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("scale/%04d", i)
	}
	start := time.Now()
	putAll(t, c, keys)
	t.Logf("%d keys written in %v", nKeys, time.Since(start).Round(time.Millisecond))
	readAll(t, c, keys)

	for step, victim := range []int{l, -1} {
		if victim < 0 { // then a follower
			victim = (c.settled(60*time.Second) + 1) % len(c.procs)
			for c.procs[victim] == nil {
				victim = (victim + 1) % len(c.procs)
			}
		}
		p := c.procs[victim]
		// A connection that never sends a request (as a client's spare
		// keep-alive dial does) must not hold the handoff back: net/http's
		// Shutdown waits 5s for such a connection.
		idle, err := net.Dial("tcp", p.http)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		begin := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		waitLog(t, p, 15*time.Second, "leaving the cluster: handing buckets off")
		if d := time.Since(begin); d > 2500*time.Millisecond {
			t.Errorf("step %d: the handoff began %v after SIGTERM", step, d.Round(time.Millisecond))
		}
		waitLog(t, p, 15*time.Second, "left the cluster")
		handoff := time.Since(begin)
		idle.Close() // now the HTTP server need not wait for it
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Fatalf("step %d: node %s exit after SIGTERM: %v\n%s", step, p.http, err, p.out)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("step %d: node %s did not exit 15s after SIGTERM\n%s", step, p.http, p.out)
		}
		left := time.Since(begin)
		out := p.out.String()
		if !strings.Contains(out, "left the cluster") || strings.Contains(out, "could not hand buckets off") {
			t.Fatalf("step %d: node %s exited without handing its buckets off:\n%s", step, p.http, out)
		}
		c.procs[victim] = nil
		want := len(c.running())
		// The others drop it from the membership.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok := true
			for _, q := range c.running() {
				cv, good := clusterOf(t, q.http)
				if !good || len(cv.Nodes) != want || cv.Leader == 0 {
					ok = false
					break
				}
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				cv, _ := clusterOf(t, c.running()[0].http)
				t.Fatalf("step %d: the cluster still does not count %d members 30s after the leave: %+v", step, want, cv)
			}
			time.Sleep(100 * time.Millisecond) // polling real processes
		}
		c.settled(60 * time.Second)
		start := time.Now()
		readAll(t, c, keys)
		cv, _ := clusterOf(t, c.running()[0].http)
		t.Logf("step %d: node %s handed off in %v, exited 0 after %v; %d members, %d replicas; all %d keys read back in %v",
			step, p.http, handoff.Round(time.Millisecond), left.Round(time.Millisecond), len(cv.Nodes), cv.Replicas, nKeys, time.Since(start).Round(time.Millisecond))
	}
	for _, p := range c.running() {
		if out := p.out.String(); strings.Contains(out, "data is lost") {
			t.Errorf("node %s reports lost data:\n%s", p.http, out)
		}
	}
}

// putAll writes every key (its value is the key itself) through the
// running nodes in turn, 16 at a time, retrying 503s for up to 10s each.
func putAll(t *testing.T, c *procCluster, keys []string) {
	t.Helper()
	nodes := c.running()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := retry(func() (int, []byte) {
					st, _, b := request(t, "PUT", "http://"+nodes[i%len(nodes)].http+"/v1/kv/"+keys[i], []byte(keys[i]))
					return st, b
				}, 200); err != nil {
					select {
					case errs <- fmt.Errorf("PUT %s: %v", keys[i], err):
					default:
					}
				}
			}
		})
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// readAll reads every key back through the running nodes in turn, 16 at a
// time: each must answer 200 with its value. A 503 (a bucket moving) is
// retried for up to 10s; a 404 is a lost key.
func readAll(t *testing.T, c *procCluster, keys []string) {
	t.Helper()
	nodes := c.running()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lost []string
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				var body []byte
				err := retry(func() (int, []byte) {
					st, _, b := request(t, "GET", "http://"+nodes[i%len(nodes)].http+"/v1/kv/"+keys[i], nil)
					body = b
					return st, b
				}, 200)
				if err != nil || string(body) != keys[i] {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s (%v, %q)", keys[i], err, body))
					mu.Unlock()
				}
			}
		})
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(lost) > 0 {
		t.Fatalf("%d of %d keys lost or unreadable, e.g. %s", len(lost), len(keys), strings.Join(lost[:min(5, len(lost))], "; "))
	}
}

// retry calls f until it returns want, retrying only 503s and transport
// errors (status 0) for up to 10s.
func retry(f func() (int, []byte), want int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, b := f()
		if st == want {
			return nil
		}
		if st != 503 && st != 0 || time.Now().After(deadline) {
			return fmt.Errorf("%d %s", st, b)
		}
		time.Sleep(50 * time.Millisecond) // retrying a real process
	}
}
