package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/examples/internal/readings"
	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuery stores known readings in an in-process cluster and checks
// what query shows: the overview, one sensor's statistics (all, and the
// last N), and a new reading arriving while it follows.
func TestQuery(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.WaitLeader(30 * time.Second)
	var urls []string
	for _, n := range c.Nodes() {
		srv := httptest.NewServer(n.HTTP)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	addr := strings.Join(urls, ",")
	cl, err := client.New(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	put := func(site, room, sensor, kind, unit string, i int, v float64) {
		t.Helper()
		r := readings.Reading{Site: site, Room: room, Sensor: sensor, Kind: kind, Unit: unit, Value: v, At: t0.Add(time.Duration(i) * time.Second)}
		if _, err := cl.Put(ctx, r.Key(), r.Encode(), client.ContentType("application/json")); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range []float64{20, 22, 21, 25} {
		put("site-a", "kitchen", "temperature-1", "temperature", "°C", i, v)
	}
	for i, v := range []float64{40, 41} {
		put("site-a", "lab", "humidity-1", "humidity", "%", i, v)
	}
	put("site-b", "hall", "co2-1", "co2", "ppm", 0, 612)
	if _, err := cl.Put(ctx, "sensors/not-a-reading", []byte("x")); err != nil {
		t.Fatal(err)
	}
	query := func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if code := run(ctx, append([]string{"--addr", addr}, args...), &out, &errs); code != 0 {
			t.Fatalf("query %v: exit %d: %s", args, code, errs.String())
		}
		return out.String()
	}

	all := query()
	for _, want := range []string{"site-a\n  kitchen\n    temperature-1", "4 readings, latest 25 °C", "  lab\n    humidity-1",
		"2 readings, latest 41 %", "site-b\n  hall\n    co2-1", "1 readings, latest 612 ppm", "3 sensors"} {
		if !strings.Contains(all, want) {
			t.Errorf("the overview lacks %q:\n%s", want, all)
		}
	}
	one := query("--sensor", "site-a/kitchen/temperature-1")
	for _, want := range []string{"kind: temperature (°C)", "latest: 25 °C", "readings: 4 ", "min 20  max 25  mean 22  stddev 2.16"} {
		if !strings.Contains(one, want) {
			t.Errorf("the sensor summary lacks %q:\n%s", want, one)
		}
	}
	if lastTwo := query("--sensor", "site-a/kitchen/temperature-1", "--last", "2"); !strings.Contains(lastTwo, "min 21  max 25  mean 23  stddev 2.828") {
		t.Errorf("--last 2:\n%s", lastTwo)
	}

	// Following: a reading written after the watch opened shows, with
	// the statistics updated.
	out := &syncBuffer{}
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(fctx, []string{"--addr", addr, "--sensor", "site-a/kitchen/temperature-1", "--follow"}, out, &bytes.Buffer{})
	}()
	clustertest.WaitFor(t, 20*time.Second, "query to follow", func() bool { return strings.Contains(out.String(), "following ") })
	put("site-a", "kitchen", "temperature-1", "temperature", "°C", 10, 30)
	put("site-a", "lab", "humidity-1", "humidity", "%", 10, 50) // another sensor: not shown
	clustertest.WaitFor(t, 20*time.Second, "the new reading shown", func() bool {
		return strings.Contains(out.String(), "site-a/kitchen/temperature-1 30 °C   (n=5 min 20 max 30 mean 23.6)")
	})
	fcancel()
	if code := <-done; code != 0 {
		t.Fatalf("follow exit %d", code)
	}
	if strings.Contains(out.String(), "humidity") {
		t.Fatalf("following one sensor showed another:\n%s", out.String())
	}

	var errs bytes.Buffer
	if code := run(ctx, []string{"--sensor", "just-one-part"}, &bytes.Buffer{}, &errs); code != 2 || !strings.Contains(errs.String(), "site/room/sensor") {
		t.Fatalf("a bad --sensor: %d %q", code, errs.String())
	}
}

func TestStats(t *testing.T) {
	var s stats
	for i, v := range []float64{2, 4, 4, 4, 5, 5, 7, 9} {
		s.add(readings.Reading{Value: v, At: time.Unix(int64(10-i), 0)})
	}
	if s.n != 8 || s.mean != 5 || s.min != 2 || s.max != 9 || fmtValue(s.stddev()) != "2.138" ||
		!s.first.Equal(time.Unix(3, 0)) || !s.last.Equal(time.Unix(10, 0)) || s.latest.Value != 2 {
		t.Fatalf("%+v stddev %v", s, s.stddev())
	}
}
