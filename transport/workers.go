package transport

import (
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// workerIdle is how long a handler goroutine waits for another request
// before it ends.
const workerIdle = 10 * time.Second

// request is one request for a handler goroutine to serve.
type request struct {
	sc  *serverConn
	h   wire.Header
	msg wire.Message
}

// workers serves requests on goroutines that outlive one request: a
// handler's stack, grown once, serves the next request too. (A goroutine
// per request spent ~15% of the leader's CPU growing stacks under load.)
// There is no queue: a request goes to an idle worker or to a new one, so
// a slow handler never holds up another request.
type workers struct {
	t       *TCP
	idle    chan request // unbuffered: a send succeeds only into an idle worker
	started atomic.Uint64
}

func newWorkers(t *TCP) *workers { return &workers{t: t, idle: make(chan request)} }

// serve hands r to an idle worker or starts one. The caller must run on a
// goroutine counted in t.wg (so the Add cannot race Close's Wait).
func (w *workers) serve(r request) {
	select {
	case w.idle <- r:
		return
	default:
	}
	w.t.wg.Add(1)
	w.started.Add(1)
	go w.loop(r)
}

// loop serves r, then whatever comes to it while idle, until it has been
// idle for workerIdle or the transport closes.
func (w *workers) loop(r request) {
	defer w.t.wg.Done()
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	for {
		r.sc.handle(r.h, r.msg)
		r = request{} // don't pin the request while idle
		timer.Reset(workerIdle)
		select {
		case r = <-w.idle:
		case <-timer.C:
			return
		case <-w.t.ctx.Done():
			return
		}
	}
}
