package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var floodFor = flag.Duration("flood-for", 15*time.Second, "how long TestMaxMemoryUnderAPutFlood floods the cluster")

// TestMaxMemoryUnderAPutFlood floods a 3-node cluster with --max-memory
// 64MiB with 10 KB values under new keys, from 16 writers, for -flood-for:
// no node dies, each node's RSS stays within 1.5x the limit plus its RSS
// when idle (the runtime's baseline), every write is answered 200 or 507,
// 507s do come (the limit was reached), and every key answered 200 reads
// back afterwards.
func TestMaxMemoryUnderAPutFlood(t *testing.T) {
	const limit = 64 << 20
	c := startProcCluster(t, 3, "--max-memory", "64MiB", "--buckets", "64")
	waitCluster(t, c.procs, 60*time.Second)
	baseline := make([]int64, len(c.procs))
	for i, p := range c.procs {
		baseline[i] = rssKB(t, p.cmd.Process.Pid) << 10
	}

	value := bytes.Repeat([]byte("m"), 10<<10)
	var (
		mu      sync.Mutex
		acked   []string
		refused atomic.Int64
		other   []string
		maxRSS  = make([]int64, len(c.procs))
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // sample every node's RSS until the flood ends
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, p := range c.procs {
				select {
				case err := <-p.done:
					p.done <- err
					mu.Lock()
					other = append(other, fmt.Sprintf("node %d exited: %v", i, err))
					mu.Unlock()
					continue
				default:
				}
				if rss := rssKB(t, p.cmd.Process.Pid) << 10; rss > maxRSS[i] {
					mu.Lock()
					maxRSS[i] = rss
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	client := &http.Client{Timeout: 10 * time.Second}
	var writers sync.WaitGroup
	for w := range 16 {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("flood/w%02d-%06d", w, seq)
				url := "http://" + c.http[rng.IntN(len(c.http))] + "/v1/kv/" + key
				req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(value))
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					other = append(other, fmt.Sprintf("PUT %s: %v", key, err))
					mu.Unlock()
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				case http.StatusInsufficientStorage:
					refused.Add(1)
				default:
					mu.Lock()
					other = append(other, fmt.Sprintf("PUT %s: %d", key, resp.StatusCode))
					mu.Unlock()
					return
				}
			}
		})
	}
	deadline := time.NewTimer(*floodFor)
	select { // the flood's length; a writer stopping on an error ends it early
	case <-deadline.C:
	case <-func() chan struct{} { ch := make(chan struct{}); go func() { writers.Wait(); close(ch) }(); return ch }():
	}
	close(stop)
	writers.Wait()
	wg.Wait()

	if len(other) > 0 {
		t.Fatalf("%d failures besides 507, first: %s", len(other), other[0])
	}
	if refused.Load() == 0 {
		t.Fatalf("no write was refused with 507 in %v (%d acknowledged): the flood never reached --max-memory", *floodFor, len(acked))
	}
	for i := range c.procs {
		bound := limit*3/2 + baseline[i]
		t.Logf("node %d: RSS idle %.1f MiB, at most %.1f MiB under the flood (bound: 1.5 x 64 MiB + idle = %.1f MiB)",
			i, mib(baseline[i]), mib(maxRSS[i]), mib(bound))
		if maxRSS[i] > bound {
			t.Errorf("node %d: RSS reached %.1f MiB, above 1.5 x the limit plus its idle RSS (%.1f MiB)", i, mib(maxRSS[i]), mib(bound))
		}
	}
	missing := 0
	for i, key := range acked {
		st, _, b := request(t, "GET", "http://"+c.http[i%len(c.http)]+"/v1/kv/"+key, nil)
		if st != 200 || len(b) != len(value) {
			if missing++; missing <= 5 {
				t.Errorf("GET %s (answered 200 when written): %d, %d bytes", key, st, len(b))
			}
		}
	}
	t.Logf("%v of 10 KB PUTs from 16 writers: %d acknowledged (%d MiB), %d refused with 507, %d acknowledged keys unreadable",
		*floodFor, len(acked), len(acked)*len(value)>>20, refused.Load(), missing)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
