// Command query reads back what ./examples/sensors stored in jumpkv,
// through the Go client (package client).
//
//	go run ./examples/query                                   # sites, rooms, sensors, latest readings
//	go run ./examples/query --sensor site-a/kitchen/temperature-1   # latest reading and statistics
//	go run ./examples/query --sensor site-a/kitchen/temperature-1 --follow   # and stay live
//
// --follow watches the readings as they arrive (client.Watch), opening
// the watch before it reads what is stored so that nothing falls between
// the two. --addr takes several nodes, comma-separated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/examples/internal/readings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the query and returns the exit code: 0, 1 when the cluster
// could not answer, 2 for a usage mistake.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:8080", "node URLs, comma-separated")
	sensorPath := fs.String("sensor", "", "site/room/sensor: show its latest reading and statistics")
	last := fs.Int("last", 0, "with --sensor: only the last N readings (0: all)")
	follow := fs.Bool("follow", false, "stay live: print readings as they arrive, until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	q := &query{out: stdout, last: *last}
	prefix := readings.Root
	if *sensorPath != "" {
		s, err := readings.ParseSensor(*sensorPath)
		if err != nil {
			fmt.Fprintln(stderr, "query: --sensor:", err)
			return 2
		}
		q.sensor, prefix = &s, s.Prefix()
	}
	if *last < 0 {
		fmt.Fprintln(stderr, "query: --last: want 0 or more")
		return 2
	}
	c, err := client.New(strings.Split(*addr, ","))
	if err != nil {
		fmt.Fprintln(stderr, "query:", err)
		return 2
	}
	defer c.Close()
	q.c = c
	if err := q.run(ctx, prefix, *follow); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "query:", err)
		return 1
	}
	return 0
}

// query is one run; its fields are owned by run's goroutine.
type query struct {
	c      *client.Client
	out    io.Writer
	sensor *readings.Sensor // nil: the overview of every sensor
	last   int
	stats  *stats // of the sensor, while following it
}

func (q *query) run(ctx context.Context, prefix string, follow bool) error {
	if !follow {
		return q.show(ctx)
	}
	// Watch first, then read: every reading stored after the watch opened
	// arrives on it, and those read already are not printed twice.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan client.Event, 256)
	watchErr := make(chan error, 1)
	open := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		defer close(events)
		onConnect := client.OnConnect(func(string) { once.Do(func() { close(open) }) })
		for ev, err := range q.c.Watch(ctx, prefix, "", onConnect) {
			if err != nil {
				watchErr <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	})
	select {
	case <-open:
	case err := <-watchErr:
		return err
	case <-ctx.Done():
		return nil
	}
	if err := q.show(ctx); err != nil {
		return err
	}
	fmt.Fprintf(q.out, "following %s (Ctrl-C to stop)\n", prefix)
	for ev := range events {
		if err := q.live(ctx, ev); err != nil {
			return err
		}
	}
	select {
	case err := <-watchErr:
		return err
	default:
		return nil
	}
}

// show prints the overview, or the sensor's summary.
func (q *query) show(ctx context.Context) error {
	if q.sensor != nil {
		return q.showSensor(ctx)
	}
	return q.showAll(ctx)
}

// showAll lists every site, room and sensor with its readings' count and
// latest reading.
func (q *query) showAll(ctx context.Context) error {
	type entry struct {
		count  int
		latest string // key of the latest reading
	}
	var order []readings.Sensor
	bySensor := map[readings.Sensor]*entry{}
	for key, err := range q.c.List(ctx, readings.Root) {
		if err != nil {
			return err
		}
		s, _, err := readings.ParseKey(key)
		if err != nil {
			continue // not a reading: some other key under sensors/
		}
		e := bySensor[s]
		if e == nil {
			e = &entry{}
			bySensor[s] = e
			order = append(order, s)
		}
		e.count++
		e.latest = max(e.latest, key)
	}
	if len(order) == 0 {
		fmt.Fprintln(q.out, "no readings under", readings.Root)
		return nil
	}
	slices.SortFunc(order, func(a, b readings.Sensor) int { return strings.Compare(a.Path(), b.Path()) })
	site, room := "", ""
	for _, s := range order {
		if s.Site != site {
			site, room = s.Site, ""
			fmt.Fprintln(q.out, site)
		}
		if s.Room != room {
			room = s.Room
			fmt.Fprintf(q.out, "  %s\n", room)
		}
		e := bySensor[s]
		latest := "?"
		if r, err := q.read(ctx, e.latest); err == nil {
			latest = fmt.Sprintf("%s %s at %s", fmtValue(r.Value), r.Unit, r.At.Local().Format("15:04:05"))
		} else if !errors.Is(err, client.ErrNotFound) {
			return err
		}
		fmt.Fprintf(q.out, "    %-22s %6d readings, latest %s\n", s.Name, e.count, latest)
	}
	fmt.Fprintf(q.out, "%d sensors\n", len(order))
	return nil
}

// showSensor prints the sensor's latest reading and statistics over its
// stored readings (the last q.last of them when set).
func (q *query) showSensor(ctx context.Context) error {
	var keys []string
	for key, err := range q.c.List(ctx, q.sensor.Prefix()) {
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	if q.last > 0 && len(keys) > q.last {
		keys = keys[len(keys)-q.last:]
	}
	st, err := q.readAll(ctx, keys)
	if err != nil {
		return err
	}
	q.stats = st
	fmt.Fprintf(q.out, "%s\n", q.sensor.Path())
	if st.n == 0 {
		fmt.Fprintln(q.out, "no readings")
		return nil
	}
	r := st.latest
	fmt.Fprintf(q.out, "kind: %s (%s)\n", r.Kind, r.Unit)
	fmt.Fprintf(q.out, "latest: %s %s at %s\n", fmtValue(r.Value), r.Unit, r.At.Local().Format(time.RFC3339Nano))
	fmt.Fprintf(q.out, "readings: %d from %s to %s\n", st.n, st.first.Local().Format("15:04:05.000"), st.last.Local().Format("15:04:05.000"))
	fmt.Fprintf(q.out, "min %s  max %s  mean %s  stddev %s\n", fmtValue(st.min), fmtValue(st.max), fmtValue(st.mean), fmtValue(st.stddev()))
	return nil
}

// readAll reads keys, eight at a time, into statistics. A reading deleted
// meanwhile is skipped.
func (q *query) readAll(ctx context.Context, keys []string) (*stats, error) {
	type result struct {
		r   readings.Reading
		err error
	}
	results := make([]result, len(keys))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(8, len(keys)) {
		wg.Go(func() {
			for i := range jobs {
				results[i].r, results[i].err = q.read(ctx, keys[i])
			}
		})
	}
	for i := range keys {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	st := &stats{}
	for _, r := range results {
		switch {
		case errors.Is(r.err, client.ErrNotFound):
		case r.err != nil:
			return nil, r.err
		default:
			st.add(r.r)
		}
	}
	return st, nil
}

// read reads one reading.
func (q *query) read(ctx context.Context, key string) (readings.Reading, error) {
	v, err := q.c.Get(ctx, key)
	if err != nil {
		return readings.Reading{}, err
	}
	r, err := readings.Decode(v.Data)
	if err != nil {
		return readings.Reading{}, fmt.Errorf("%s: %w", key, err)
	}
	return r, nil
}

// live prints one watched change.
func (q *query) live(ctx context.Context, ev client.Event) error {
	switch ev.Type {
	case client.EventReset:
		// Changes may have been missed: read the state again.
		fmt.Fprintln(q.out, "(the watch may have missed changes: reading again)")
		return q.show(ctx)
	case client.EventPut:
	default:
		return nil // deletions and expiries change no statistics shown live
	}
	r, err := readings.Decode(ev.Value)
	if err != nil {
		return nil // not a reading
	}
	line := fmt.Sprintf("%s %s %s %s", r.At.Local().Format("15:04:05.000"), readings.Sensor{Site: r.Site, Room: r.Room, Name: r.Sensor}.Path(), fmtValue(r.Value), r.Unit)
	if q.stats != nil {
		if !r.At.After(q.stats.last) && q.stats.n > 0 {
			return nil // read already when the state was shown
		}
		q.stats.add(r)
		line += fmt.Sprintf("   (n=%d min %s max %s mean %s)", q.stats.n, fmtValue(q.stats.min), fmtValue(q.stats.max), fmtValue(q.stats.mean))
	}
	fmt.Fprintln(q.out, line)
	return nil
}

// fmtValue prints a value with no more digits than it needs.
func fmtValue(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
