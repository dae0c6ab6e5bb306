package resp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestWorkersEveryTaskRunsOnce: many submitters hand tasks to the
// pool while the janitor retires idle workers (fake time advances across
// several periods) and the pool is stopped midway: every task runs
// exactly once, no goroutine is left (synctest fails the test on a
// deadlock or a goroutine still blocked at the end), and the pool's
// counts end at zero.
func TestWorkersEveryTaskRunsOnce(t *testing.T) {
	for round := range 20 {
		synctest.Test(t, func(t *testing.T) {
			var wg sync.WaitGroup
			p := &workers{wg: &wg}
			const submitters, perSubmitter = 8, 200
			var ran [submitters * perSubmitter]atomic.Int32
			var subs sync.WaitGroup
			stopAt := round * perSubmitter / 20
			for s := range submitters {
				subs.Add(1)
				wg.Add(1) // a submitter is a connection: counted in the shared group
				go func() {
					defer subs.Done()
					defer wg.Done()
					for i := range perSubmitter {
						if s == 0 && i == stopAt {
							p.stop()
						}
						id := s*perSubmitter + i
						p.run(func() {
							ran[id].Add(1)
							if id%7 == 0 {
								runtime.Gosched()
							}
						})
						if i%50 == 49 {
							// Let the janitor tick once or twice meanwhile.
							time.Sleep(workerIdle + time.Duration(s)*time.Second)
						}
					}
				}()
			}
			subs.Wait()
			wg.Wait()
			for id := range ran {
				if n := ran[id].Load(); n != 1 {
					t.Fatalf("round %d: task %d ran %d times", round, id, n)
				}
			}
			if idle, live, jan := p.counts(); idle != 0 || live != 0 || jan {
				t.Fatalf("round %d: after stop and wait: %d idle, %d live, janitor %v", round, idle, live, jan)
			}
		})
	}
}

// TestWorkersJanitorRestartsAndRetires: after the janitor ended
// with the last worker, a new task starts a janitor again, and that one
// retires the new idle worker in one to two periods too; no janitor is
// left behind.
func TestWorkersJanitorRestartsAndRetires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		p := &workers{wg: &wg}
		for cycle := range 3 {
			done := make(chan struct{})
			p.run(func() { close(done) })
			<-done
			synctest.Wait()
			if idle, live, jan := p.counts(); idle != 1 || live != 1 || !jan {
				t.Fatalf("cycle %d: %d idle of %d live, janitor %v; want 1 of 1, running", cycle, idle, live, jan)
			}
			time.Sleep(2*workerIdle + time.Second)
			synctest.Wait()
			if idle, live, jan := p.counts(); idle != 0 || live != 0 || jan {
				t.Fatalf("cycle %d: after two periods: %d idle of %d live, janitor %v", cycle, idle, live, jan)
			}
			wg.Wait() // the worker and the janitor both ended
		}
		p.stop()
		wg.Wait()
	})
}

// TestWorkersCloseWaitsForBusyAndLateTasks: with the group shared
// as the Server shares it, a stop followed by Wait (Close) returns once
// a busy worker's task and a task handed over after stop by a connection
// still counted in the group have run.
func TestWorkersCloseWaitsForBusyAndLateTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		p := &workers{wg: &wg}
		release := make(chan struct{})
		var busyDone, lateDone atomic.Bool
		p.run(func() { <-release; busyDone.Store(true) })
		p.run(func() {}) // one idle worker
		synctest.Wait()
		wg.Add(1) // a connection
		stopped := make(chan struct{})
		go func() {
			defer wg.Done()
			<-stopped
			p.run(func() { lateDone.Store(true) })
		}()
		p.stop()
		close(stopped)
		close(release)
		wg.Wait()
		if !busyDone.Load() || !lateDone.Load() {
			t.Fatalf("Wait returned before the tasks ran: busy %v, late %v", busyDone.Load(), lateDone.Load())
		}
		if idle, live, jan := p.counts(); idle != 0 || live != 0 || jan {
			t.Fatalf("after stop and wait: %d idle, %d live, janitor %v", idle, live, jan)
		}
	})
}
