package resp

import (
	"sync"
	"time"
)

// workerIdle is how long a worker waits for more work before it ends:
// between one and two of these periods.
const workerIdle = 10 * time.Second

// workers runs tasks on goroutines that outlive them: a goroutine that ran
// a node write has grown its stack, and a new one would grow it again
// (measured: a tenth of the leader's CPU under pipelined SETs went to
// stack copying).
//
// Idle workers wait on a stack, the most recently idle on top, each on a
// channel of its own, so handing a task over is one send to a parked
// goroutine: no select over shared channels and no timer per task (a
// shared channel, an idle timer and a stop channel in one select cost the
// leader 8% of its CPU under pipelined SETs). Only the idle stack's lock
// is shared. A janitor, running while any worker lives, retires workers
// that stayed idle for a whole workerIdle period, from the bottom of the
// stack, where the longest idle are.
type workers struct {
	wg *sync.WaitGroup // the owner's: counts the workers and the janitor

	mu        sync.Mutex
	idle      []*worker // oldest idle first
	live      int       // workers started and not retired
	tick      uint64    // the janitor's periods so far
	janitorOn bool
	stopJan   chan struct{} // closed to end the janitor
	stopped   bool
}

// worker is one idle-able goroutine; a nil task ends it.
type worker struct {
	task     chan func()
	parkedAt uint64 // the tick at which it last went idle
}

// run runs f on an idle worker, the most recently idle, or on a new one.
func (p *workers) run(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.task <- f
		return
	}
	p.live++
	startJanitor := !p.janitorOn && !p.stopped
	if startJanitor {
		p.janitorOn = true
		p.stopJan = make(chan struct{})
		p.wg.Add(1)
	}
	p.wg.Add(1)
	stopJan := p.stopJan
	p.mu.Unlock()
	if startJanitor {
		go p.janitor(stopJan)
	}
	w := &worker{task: make(chan func(), 1)}
	go p.work(w, f)
}

// work runs tasks until it is handed a nil one (retired or stopped).
func (p *workers) work(w *worker, f func()) {
	defer p.wg.Done()
	for f != nil {
		f()
		f = p.park(w)
	}
}

// park puts w on the idle stack and waits for its next task; nil once the
// pool is stopped.
func (p *workers) park(w *worker) func() {
	p.mu.Lock()
	if p.stopped {
		p.live--
		p.mu.Unlock()
		return nil
	}
	w.parkedAt = p.tick
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	return <-w.task
}

// janitor retires, once a workerIdle period, the workers idle since before
// the previous period; it ends when the pool stops or no worker is left.
func (p *workers) janitor(stop chan struct{}) {
	defer p.wg.Done()
	t := time.NewTicker(workerIdle)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		p.mu.Lock()
		p.tick++
		n := 0
		for n < len(p.idle) && p.idle[n].parkedAt+1 < p.tick {
			n++
		}
		retired := append([]*worker(nil), p.idle[:n]...)
		p.idle = append(p.idle[:0], p.idle[n:]...)
		p.live -= n
		last := p.live == 0
		if last {
			p.janitorOn = false
		}
		p.mu.Unlock()
		for _, w := range retired {
			w.task <- nil
		}
		if last {
			return
		}
	}
}

// stop ends the idle workers and the janitor; busy workers end after
// their task, and tasks run after stop end their worker too.
func (p *workers) stop() {
	p.mu.Lock()
	p.stopped = true
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	if p.janitorOn {
		p.janitorOn = false
		close(p.stopJan)
	}
	p.mu.Unlock()
	for _, w := range idle {
		w.task <- nil
	}
}
