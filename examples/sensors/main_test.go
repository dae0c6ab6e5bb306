package main

import (
	"bytes"
	"context"
	"math"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/examples/internal/readings"
	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestSimulatorWritesReadings runs the simulator briefly against an
// in-process cluster of three nodes and checks its summary against what
// the cluster holds: every reading it counts is stored, under the
// layout's keys, as a readable reading.
func TestSimulatorWritesReadings(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.WaitLeader(30 * time.Second)
	var urls []string
	for _, n := range c.Nodes() {
		srv := httptest.NewServer(n.HTTP)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"--addr", strings.Join(urls, ","), "--sensors", "6", "--sites", "2", "--duration", "1s", "--rate", "5"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	t.Logf("\n%s", out.String())
	m := regexp.MustCompile(`written: (\d+) readings`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "errors: 0 ") || !regexp.MustCompile(`latency: p50 \S+ +p90 \S+ +p99 \S+ +max \S+`).MatchString(out.String()) {
		t.Fatalf("summary:\n%s", out.String())
	}
	written, _ := strconv.Atoi(m[1])
	// 6 sensors at 5/s for 1s: about 30 readings.
	if written < 12 || written > 48 {
		t.Fatalf("%d readings written by 6 sensors at 5/s in 1s", written)
	}
	cl, err := client.New(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sensors := map[string]int{}
	for key, err := range cl.List(ctx, readings.Root) {
		if err != nil {
			t.Fatal(err)
		}
		s, at, err := readings.ParseKey(key)
		if err != nil {
			t.Fatal(err)
		}
		sensors[s.Path()]++
		v, err := cl.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		r, err := readings.Decode(v.Data)
		if err != nil || r.Key() != key || !r.At.Truncate(time.Millisecond).Equal(at) || v.ContentType != "application/json" {
			t.Fatalf("%s holds %+v (%v, %s)", key, r, err, v.ContentType)
		}
	}
	total := 0
	for _, n := range sensors {
		total += n
	}
	if len(sensors) != 6 || total != written {
		t.Fatalf("stored: %d readings of %d sensors (%v); the summary says %d of 6", total, len(sensors), sensors, written)
	}
}

// TestSimulatorRefusesBadFlags: usage mistakes exit 2 with the flag named.
func TestSimulatorRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sensors", "0"}, "--sensors"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--sites", "27"}, "--sites"},
		{[]string{"--addr", "ftp://x"}, "http://"},
	} {
		var out, errs bytes.Buffer
		if code := run(t.Context(), tc.args, &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errs.String())
		}
	}
}

// TestSensorsDriftPlausibly: the layout names every sensor once, and a
// long run of each kind stays within its physical bounds and near its
// room's level, moving a little each step, never jumping.
func TestSensorsDriftPlausibly(t *testing.T) {
	sims := layout(40, 3, 7)
	names := map[string]bool{}
	for _, s := range sims {
		if names[s.Path()] {
			t.Fatalf("two sensors at %s", s.Path())
		}
		names[s.Path()] = true
	}
	at := time.Unix(0, 0)
	for _, s := range sims[:len(kinds)] {
		prev := s.next(at).Value
		lo, hi := prev, prev
		for i := range 5000 {
			v := s.next(at.Add(time.Duration(i) * time.Second)).Value
			if v < s.min || v > s.max {
				t.Fatalf("%s: %v outside [%v, %v]", s.name, v, s.min, s.max)
			}
			if jump := math.Abs(v - prev); jump > 10*(s.sigma+s.noise) {
				t.Fatalf("%s jumped by %v in a step", s.name, jump)
			}
			lo, hi, prev = math.Min(lo, v), math.Max(hi, v), v
		}
		if hi-lo == 0 || hi > s.level+s.spread+20*s.sigma || lo < s.level-s.spread-20*s.sigma {
			t.Fatalf("%s: ranged over [%v, %v] around %v", s.name, lo, hi, s.level)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
}
