package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Doer sends operations to the system under test.
type Doer interface {
	// Worker returns the function worker w (0 <= w < Config.Conns) calls
	// for each of its operations, only ever from the worker's goroutine.
	// It returns the response's status, or an error when there was none.
	// ctx ends when the run is abandoned.
	Worker(ctx context.Context, w int) func(Op) (status int, err error)
}

// DoerFunc is a Doer that calls one function for every worker.
type DoerFunc func(ctx context.Context, w int, op Op) (int, error)

// Worker implements Doer.
func (f DoerFunc) Worker(ctx context.Context, w int) func(Op) (int, error) {
	return func(op Op) (int, error) { return f(ctx, w, op) }
}

// Config shapes one run.
type Config struct {
	Workload Workload
	// Conns is the number of workers, each with one request in flight at
	// a time (each keeps one connection busy).
	Conns int
	// Rate, when positive, is the total requests per second, spread evenly
	// over the workers (open loop): every request has an intended send
	// time, and its latency counts from then, so a stalled server is
	// charged for the requests it kept waiting (no coordinated omission).
	// Zero is closed loop: each worker sends its next request as soon as
	// the previous one is answered, and latency counts from the send.
	Rate float64
	// Warmup is a time of load before measuring; Duration the measured
	// time that follows it.
	Warmup, Duration time.Duration
	// Seed makes the operation sequence reproducible.
	Seed uint64
	// Progress, when set, is called about every ProgressEvery (default 1s)
	// from another goroutine while the run lasts.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Window, when set, is called as the measured window opens (true)
	// and as it closes (false), from another goroutine: for readings that
	// frame the window, such as CPU times.
	Window func(open bool)
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Warmup   bool          // still warming up
	Elapsed  time.Duration // since this phase began
	Ops      int64         // successful operations in this phase so far
	Errors   int64         // failed ones
	Interval time.Duration // since the previous snapshot
	Recent   int64         // operations (successful or not) completed in Interval
}

// OpsPerSec returns the phase's throughput so far.
func (p Progress) OpsPerSec() float64 { return perSec(p.Ops, p.Elapsed) }

// RecentPerSec returns the throughput of the last interval.
func (p Progress) RecentPerSec() float64 { return perSec(p.Recent, p.Interval) }

// Result is what one run measured: every operation that completed inside
// the measured window, whenever it was sent.
type Result struct {
	Ops     int64            // successful operations
	Errors  map[string]int64 // failed ones by HTTP status ("503") or failure ("timeout", "refused", "reset", "transport")
	Elapsed time.Duration    // the measured window
	Latency *Histogram       // of the successful operations
	// Missed counts, in fixed-rate mode, requests that were due inside
	// the window but never sent because the workers were still waiting
	// for answers when it closed: the target did not keep up.
	Missed int64
}

// ErrorCount returns the number of failed operations.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// OpsPerSec returns the successful operations per second.
func (r *Result) OpsPerSec() float64 { return perSec(r.Ops, r.Elapsed) }

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Validate reports the first thing wrong with c, in flag words.
func (c Config) Validate() error {
	if err := c.Workload.Validate(); err != nil {
		return err
	}
	switch {
	case c.Conns < 1 || c.Conns > 100_000:
		return fmt.Errorf("--conns %d: want 1 to 100000", c.Conns)
	case c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return fmt.Errorf("--rate %v: want 0 (closed loop) or a positive number of requests per second", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("--duration %v: want more than 0", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup %v: want 0 or more", c.Warmup)
	}
	return nil
}

// sendOffset is when, after the start, a fixed-rate worker w of conns
// sends its request i: requests are numbered i*conns+w and spaced 1/rate
// apart, so together the workers send at rate.
func sendOffset(i, w, conns int, rate float64) time.Duration {
	return time.Duration(float64(i*conns+w) * 1e9 / rate)
}

// sendsBefore is how many of fixed-rate worker w's sends are due before
// offset d.
func sendsBefore(d time.Duration, w, conns int, rate float64) int64 {
	// Estimate, then settle on exactly what sendOffset computes: the
	// first send due at or after d. Both loops run a step or two.
	k := max(int((d.Seconds()*rate-float64(w))/float64(conns)), 0)
	for k > 0 && sendOffset(k-1, w, conns, rate) >= d {
		k--
	}
	for sendOffset(k, w, conns, rate) < d {
		k++
	}
	return int64(k)
}

// workerResult is what one worker measured.
type workerResult struct {
	hist   Histogram
	errors map[string]int64
	missed int64
}

// runner is one run in progress.
type runner struct {
	cfg                 Config
	start, measure, end time.Time
	measuredOps         atomic.Int64 // successful, done inside the window
	measuredErrs        atomic.Int64
	warmOps, warmErrs   atomic.Int64 // done before it
}

// Run runs cfg's load through d and returns what it measured. It returns
// an error only if cfg is invalid or ctx ends first.
func Run(ctx context.Context, cfg Config, d Doer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	r := &runner{cfg: cfg, start: time.Now()}
	r.measure = r.start.Add(cfg.Warmup)
	r.end = r.measure.Add(cfg.Duration)

	parts := make([]workerResult, cfg.Conns)
	var wg sync.WaitGroup
	for w := range cfg.Conns {
		do := d.Worker(ctx, w)
		wg.Go(func() { r.worker(ctx, w, do, &parts[w]) })
	}
	stop, progressDone, windowDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(stop)
	}()
	go func() {
		defer close(windowDone)
		r.frameWindow(ctx)
	}()
	wg.Wait()
	close(stop)
	<-progressDone
	<-windowDone
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}

	res := &Result{Errors: map[string]int64{}, Elapsed: cfg.Duration, Latency: &Histogram{}}
	for i := range parts {
		p := &parts[i]
		res.Latency.Merge(&p.hist)
		for k, n := range p.errors {
			res.Errors[k] += n
		}
		res.Missed += p.missed
	}
	res.Ops = int64(res.Latency.Count())
	return res, nil
}

// frameWindow calls cfg.Window as the window opens and closes, unless ctx
// ends first.
func (r *runner) frameWindow(ctx context.Context) {
	if r.cfg.Window == nil {
		return
	}
	for _, at := range []struct {
		t    time.Time
		open bool
	}{{r.measure, true}, {r.end, false}} {
		t := time.NewTimer(time.Until(at.t))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.cfg.Window(at.open)
	}
}

// worker sends operations until the window closes.
func (r *runner) worker(ctx context.Context, w int, do func(Op) (int, error), out *workerResult) {
	gen := r.cfg.Workload.NewGenerator(r.cfg.Seed, w)
	rate := r.cfg.Rate
	var timer *time.Timer
	if rate > 0 {
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	for i := 0; ; i++ {
		var sent time.Time // when the request was, or should have been, sent
		if rate > 0 {
			sent = r.start.Add(sendOffset(i, w, r.cfg.Conns, rate))
			if !sent.Before(r.end) {
				return
			}
			now := time.Now()
			if !now.Before(r.end) {
				// Still busy with earlier requests when the window
				// closed: the ones due in it from here on were never sent.
				from := max(int64(i), sendsBefore(r.cfg.Warmup, w, r.cfg.Conns, rate))
				out.missed = max(sendsBefore(r.end.Sub(r.start), w, r.cfg.Conns, rate)-from, 0)
				return
			}
			if wait := sent.Sub(now); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		} else {
			sent = time.Now()
			if !sent.Before(r.end) {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		status, err := do(gen.Next())
		done := time.Now()
		ok := err == nil && status >= 200 && status < 300
		switch {
		case done.Before(r.measure):
			if ok {
				r.warmOps.Add(1)
			} else {
				r.warmErrs.Add(1)
			}
		case done.Before(r.end):
			if ok {
				out.hist.Record(done.Sub(sent))
				r.measuredOps.Add(1)
				continue
			}
			if out.errors == nil {
				out.errors = map[string]int64{}
			}
			out.errors[errorKind(status, err)]++
			r.measuredErrs.Add(1)
		}
	}
}

// progress reports every ProgressEvery until stop closes: through the
// warmup from the start, then through the window from its start (a report
// that would fall within half a period of the window's start is left out,
// so none straddles the two).
func (r *runner) progress(stop <-chan struct{}) {
	if r.cfg.Progress == nil {
		return
	}
	every := r.cfg.ProgressEvery
	timer := time.NewTimer(time.Until(r.nextReport(time.Now(), every)))
	defer timer.Stop()
	last, lastAt := int64(0), r.start
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		total := r.warmOps.Load() + r.warmErrs.Load() + r.measuredOps.Load() + r.measuredErrs.Load()
		p := Progress{Interval: now.Sub(lastAt), Recent: total - last}
		if now.Before(r.measure) {
			p.Warmup, p.Elapsed, p.Ops, p.Errors = true, now.Sub(r.start), r.warmOps.Load(), r.warmErrs.Load()
		} else {
			p.Elapsed, p.Ops, p.Errors = min(now.Sub(r.measure), r.cfg.Duration), r.measuredOps.Load(), r.measuredErrs.Load()
		}
		last, lastAt = total, now
		r.cfg.Progress(p)
		timer.Reset(time.Until(r.nextReport(now, every)))
	}
}

// nextReport returns when the progress report after t is due.
func (r *runner) nextReport(t time.Time, every time.Duration) time.Time {
	if t.Before(r.measure) {
		next := r.start.Add((t.Sub(r.start)/every + 1) * every)
		if next.Before(r.measure.Add(-every / 2)) {
			return next
		}
		return r.measure.Add(every)
	}
	return r.measure.Add((t.Sub(r.measure)/every + 1) * every)
}

// errorKind names a failure: the HTTP status, or what went wrong when
// there was no response.
func errorKind(status int, err error) string {
	if err == nil {
		return strconv.Itoa(status)
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	}
	return "transport"
}

// Preload puts every key of w once, conns requests at a time, retrying a
// key up to 3 times; it fails if any key could not be written.
func Preload(ctx context.Context, d Doer, keys, conns int) error {
	var next atomic.Int64
	var failed atomic.Int64
	var mu sync.Mutex
	var lastErr string
	var wg sync.WaitGroup
	for w := range min(conns, keys) {
		do := d.Worker(ctx, w)
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(keys) || ctx.Err() != nil {
					return
				}
				ok := false
				for range 3 {
					status, err := do(Op{Kind: OpPut, Key: int(k)})
					if err == nil && status >= 200 && status < 300 {
						ok = true
						break
					}
					mu.Lock()
					lastErr = errorKind(status, err)
					if err != nil {
						lastErr += ": " + err.Error()
					}
					mu.Unlock()
				}
				if !ok {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("preload: %d of %d keys could not be written (last failure: %s)", n, keys, lastErr)
	}
	return nil
}
