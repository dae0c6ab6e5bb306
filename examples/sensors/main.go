// Command sensors simulates sensors that feed readings into jumpkv:
// temperature, humidity, CO2, pressure and light sensors in the rooms of a
// few sites, each value drifting around its room's level with noise. Each
// reading is written through the Go client (package client) under
//
//	sensors/<site>/<room>/<sensor>/<time>
//
// as JSON. At the end it prints how many readings were written, the
// errors, and the write latency percentiles.
//
//	go run ./examples/sensors --addr http://127.0.0.1:8080 --sensors 20 --duration 5s
//
// --addr takes several nodes, comma-separated: the client fails over
// between them. Read the readings back with ./examples/query.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	addrs    []string
	sensors  int
	sites    int
	duration time.Duration
	rate     float64
	seed     uint64
}

func (c config) validate() error {
	switch {
	case c.sensors < 1 || c.sensors > 100_000:
		return fmt.Errorf("--sensors %d: want 1 to 100000", c.sensors)
	case c.sites < 1 || c.sites > 26:
		return fmt.Errorf("--sites %d: want 1 to 26", c.sites)
	case c.duration <= 0:
		return fmt.Errorf("--duration %v: want a positive duration", c.duration)
	case c.rate <= 0 || c.rate > 1000:
		return fmt.Errorf("--rate %v: want readings per second per sensor, above 0 and at most 1000", c.rate)
	}
	return nil
}

// run runs the simulator and returns the exit code: 0 when readings were
// written, 1 when none could be, 2 for a usage mistake.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sensors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:8080", "node URLs, comma-separated")
	var cfg config
	fs.IntVar(&cfg.sensors, "sensors", 20, "number of sensors")
	fs.IntVar(&cfg.sites, "sites", 2, "number of sites the sensors are spread over")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to run")
	fs.Float64Var(&cfg.rate, "rate", 1, "readings per second, per sensor")
	fs.Uint64Var(&cfg.seed, "seed", 0, "seed of the simulated values, to repeat a run (0: from the clock)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.addrs = strings.Split(*addr, ",")
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "sensors:", err)
		return 2
	}
	c, err := client.New(cfg.addrs)
	if err != nil {
		fmt.Fprintln(stderr, "sensors:", err)
		return 2
	}
	defer c.Close()
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	sims := layout(cfg.sensors, cfg.sites, cfg.seed)
	fmt.Fprintf(stdout, "%d sensors on %d sites, %v at %g readings/s each, writing to %s\n",
		len(sims), min(cfg.sites, cfg.sensors), cfg.duration, cfg.rate, strings.Join(c.Endpoints(), ","))
	t, took := simulate(ctx, c, sims, cfg)
	t.print(stdout, took)
	if t.written == 0 {
		return 1
	}
	return 0
}

// outcome is one write's result.
type outcome struct {
	err     error
	latency time.Duration
}

// simulate runs every sensor for cfg.duration (or until ctx ends) and
// tallies the writes. Each sensor is a goroutine that takes a reading per
// tick and writes it, skipping the ticks a slow write overruns; writes in
// flight when the time is up finish.
func simulate(ctx context.Context, c *client.Client, sims []*sensor, cfg config) (*tally, time.Duration) {
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	results := make(chan outcome, 1024)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.rate)
	for i, s := range sims {
		wg.Go(func() {
			// Spread the sensors' first readings over one interval.
			if !wait(runCtx, time.Duration(int64(interval)*int64(i)/int64(len(sims)))) {
				return
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				r := s.next(time.Now())
				began := time.Now()
				_, err := c.Put(ctx, r.Key(), r.Encode(), client.ContentType("application/json"))
				results <- outcome{err: err, latency: time.Since(began)}
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	t := &tally{}
	for o := range results {
		switch {
		case o.err == nil:
			t.written++
			t.latencies = append(t.latencies, o.latency)
			continue
		case errors.Is(o.err, client.ErrUnknownOutcome):
			t.unknown++
		case errors.Is(o.err, client.ErrUnavailable):
			t.unavailable++
		default:
			t.others++
		}
		if t.firstErr == nil {
			t.firstErr = o.err
		}
	}
	return t, time.Since(start)
}

// wait waits d or until ctx ends; false when ctx ended.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
