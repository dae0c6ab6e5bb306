package resp

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// counts reads the pool's state under its lock: idle and live workers,
// and whether the janitor runs.
func (p *workers) counts() (idle, live int, janitor bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), p.live, p.janitorOn
}

// TestWorkersReuseTheMostRecentlyIdle: a task goes to an idle worker, the
// one idle most recently, rather than to a new goroutine.
func TestWorkersReuseTheMostRecentlyIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		p := &workers{wg: &wg}
		defer func() { p.stop(); wg.Wait() }()
		// Two workers busy at once, then both idle: a then b.
		release := make(chan struct{})
		var a, b *worker
		p.run(func() { <-release })
		p.run(func() { <-release })
		synctest.Wait()
		release <- struct{}{}
		synctest.Wait()
		p.mu.Lock()
		a = p.idle[0]
		p.mu.Unlock()
		release <- struct{}{}
		synctest.Wait()
		if idle, live, _ := p.counts(); idle != 2 || live != 2 {
			t.Fatalf("%d idle of %d live workers, want 2 of 2", idle, live)
		}
		p.mu.Lock()
		b = p.idle[1]
		p.mu.Unlock()
		ran := make(chan struct{})
		p.run(func() { close(ran) })
		<-ran
		synctest.Wait()
		if idle, live, _ := p.counts(); idle != 2 || live != 2 {
			t.Fatalf("after a third task: %d idle of %d live, want 2 of 2 (a new worker was started)", idle, live)
		}
		// b, the most recently idle, ran it and is back on top.
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.idle[0] != a || p.idle[1] != b {
			t.Fatal("the task did not go to the most recently idle worker")
		}
	})
}

// TestWorkersRetireWhenIdle: a worker idle for a whole workerIdle period
// ends (between one and two periods), and so does the janitor with the
// last worker; a busy one is not retired.
func TestWorkersRetireWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		p := &workers{wg: &wg}
		release := make(chan struct{})
		p.run(func() {})
		p.run(func() { <-release }) // busy throughout
		synctest.Wait()
		time.Sleep(workerIdle + time.Second)
		synctest.Wait()
		if idle, live, _ := p.counts(); idle != 1 || live != 2 {
			t.Fatalf("after one period: %d idle of %d live, want 1 of 2 (retired too early)", idle, live)
		}
		time.Sleep(workerIdle)
		synctest.Wait()
		if idle, live, jan := p.counts(); idle != 0 || live != 1 || !jan {
			t.Fatalf("after two periods: %d idle of %d live, janitor %v; want 0 of 1, running", idle, live, jan)
		}
		close(release)
		time.Sleep(3 * workerIdle)
		synctest.Wait()
		if idle, live, jan := p.counts(); idle != 0 || live != 0 || jan {
			t.Fatalf("all idle for long: %d idle of %d live, janitor %v; want none", idle, live, jan)
		}
		wg.Wait() // every goroutine ended
		// The pool starts again on demand.
		ran := make(chan struct{})
		p.run(func() { close(ran) })
		<-ran
		p.stop()
		wg.Wait()
	})
}

// TestWorkersStop: stop ends the idle workers and the janitor at once, a
// busy worker after its task, and a task run after stop still runs.
func TestWorkersStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		p := &workers{wg: &wg}
		release := make(chan struct{})
		p.run(func() {})
		p.run(func() { <-release })
		synctest.Wait()
		p.stop()
		synctest.Wait()
		if idle, live, jan := p.counts(); idle != 0 || live != 1 || jan {
			t.Fatalf("after stop: %d idle of %d live, janitor %v; want 0 of 1 (the busy one), none", idle, live, jan)
		}
		close(release)
		ran := false
		p.run(func() { ran = true })
		wg.Wait()
		if !ran {
			t.Fatal("a task run after stop did not run")
		}
	})
}
