package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/internal/bench"
)

const benchUsage = `Usage: jumpkv bench [flags] [-- node flags...]

Sends load to a jumpkv cluster and reports its throughput and latency: a
progress line a second on stderr, then a table (or --json) on stdout.

Where: a running cluster (--addr; the connections are shared evenly among
the URLs given), or --spawn N node processes that bench starts on free
loopback ports (the flags after -- go to every node) and stops at the end.
--target then picks the leader, the followers, or all of them.

How: closed loop by default (--conns workers, each sending its next
request as soon as the previous one is answered), or a fixed --rate of
requests per second spread over the workers, with each latency counted
from the request's intended send time, so a stalled server is charged for
every request it held up (no coordinated omission). Only requests answered
2xx inside the measured window count as ops; the others are errors, by
status. get and mixed write every key once first (--preload).

--baseline also starts a single-process Gin server over a mutex-guarded
map on the same routes, and alternates rounds (baseline, jumpkv, baseline,
jumpkv, ...) --rounds times each, reporting each system's median and the
ratio jumpkv/baseline of the same invocation, so that machine drift
cancels out.

For the processes it started (--spawn, --baseline) and itself, bench also
reports the CPU time (user+system, from Linux's /proc) each spent per
operation: a figure that moves much less than ops/s with how busy a
shared host is, and that says where a cluster's time goes.

Examples:
  jumpkv bench --spawn 3 --op put --duration 10s
  jumpkv bench --addr http://10.0.0.1:8080,http://10.0.0.2:8080 --op mixed --dist zipf
  jumpkv bench --spawn 3 --baseline --rounds 3 --target follower --op get
  jumpkv bench --rate 2000 --conns 32 --op get --json

Flags:
`

// benchFlags are the flags of jumpkv bench.
type benchFlags struct {
	addrs     listFlag
	addrGiven bool
	spawn     int
	target    string
	conns     int
	rate      float64
	op        string
	readRatio float64
	valueSize int
	ttl       time.Duration
	keys      int
	dist      string
	zipfS     float64
	preload   autoBool
	duration  time.Duration
	warmup    time.Duration
	json      bool
	baseline  bool
	rounds    int
	seed      uint64
	timeout   time.Duration
	client    string
	nodeArgs  []string
}

// autoBool is a boolean flag whose default depends on other flags.
type autoBool struct{ set, v bool }

func (a *autoBool) String() string {
	if a == nil || !a.set {
		return "auto"
	}
	return strconv.FormatBool(a.v)
}

func (a *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	a.set, a.v = true, v
	return nil
}

func (a *autoBool) IsBoolFlag() bool { return true }

// parseBenchFlags parses args; code is -1 when the command should go on,
// else the exit code.
func parseBenchFlags(args, env []string, stderr io.Writer) (f *benchFlags, code int) {
	fs := flag.NewFlagSet("jumpkv bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	f = &benchFlags{addrs: listFlag{"http://127.0.0.1:8080"}}
	fs.Var(&f.addrs, "addr", "comma-separated base `URLs` of the nodes to load (or $JUMPKV_ADDR)")
	fs.IntVar(&f.spawn, "spawn", 0, "start `N` node processes on free loopback ports instead of --addr, and stop them at the end")
	fs.StringVar(&f.target, "target", bench.TargetAll, "nodes to send to: leader, follower (every node but the leader) or all")
	fs.IntVar(&f.conns, "conns", 64, "connections, each with one request in flight")
	fs.Float64Var(&f.rate, "rate", 0, "total requests per second, spread over the connections (0: closed loop, as fast as answers come)")
	fs.StringVar(&f.op, "op", bench.MixMixed, "operations: get, put or mixed")
	fs.Float64Var(&f.readRatio, "read-ratio", 0.9, "share of gets with --op mixed")
	fs.IntVar(&f.valueSize, "value-size", 100, "bytes per value written")
	fs.DurationVar(&f.ttl, "ttl", 0, "give every PUT this expiry (?ttl=; e.g. 1h); 0: none")
	fs.IntVar(&f.keys, "keys", 10000, "number of distinct keys (bench/0000 ...)")
	fs.StringVar(&f.dist, "dist", bench.DistUniform, "key distribution: uniform or zipf")
	fs.Float64Var(&f.zipfS, "zipf-s", 1.1, "Zipf exponent (> 1; larger: hotter hot keys) with --dist zipf")
	fs.Var(&f.preload, "preload", "write every key once before measuring (default: on for --op get and mixed, off for put)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per round")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "load before measuring, per round")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON")
	fs.BoolVar(&f.baseline, "baseline", false, "also measure a single-process Gin server over a map, in alternating rounds")
	fs.IntVar(&f.rounds, "rounds", 0, "rounds per system (default: 3 with --baseline, else 1)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the operation sequence (every round and system replays the same one)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for a whole response before counting a timeout")
	fs.StringVar(&f.client, "client", "raw", "HTTP client for http:// targets: raw (a minimal HTTP/1.1 client, light like wrk) or std (Go's net/http, heavier: it takes more of the CPU the servers share); https always uses std")
	rest, err := parseFlags(fs, args, nil)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv bench: %v\n", err)
		return nil, 2
	}
	fs.Visit(func(fl *flag.Flag) { f.addrGiven = f.addrGiven || fl.Name == "addr" })
	if !f.addrGiven {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "JUMPKV_ADDR="); ok && v != "" {
				_ = f.addrs.Set(v)
			}
		}
	}
	f.nodeArgs = rest
	fail := func(format string, a ...any) (*benchFlags, int) {
		fmt.Fprintf(stderr, "jumpkv bench: "+format+"\n", a...)
		return nil, 2
	}
	if err := f.config().Validate(); err != nil {
		return fail("%v", err)
	}
	switch {
	case f.spawn < 0 || f.spawn > 64:
		return fail("--spawn %d: want 1 to 64 nodes", f.spawn)
	case f.spawn > 0 && f.addrGiven:
		return fail("--spawn starts its own cluster: leave out --addr")
	case len(f.nodeArgs) > 0 && f.spawn == 0:
		return fail("unexpected arguments %q (node flags after -- need --spawn)", f.nodeArgs)
	case f.target != bench.TargetAll && f.target != bench.TargetLeader && f.target != bench.TargetFollower:
		return fail("--target %q: want leader, follower or all", f.target)
	case f.target == bench.TargetFollower && f.spawn == 1:
		return fail("--target follower: a cluster of one node has no follower")
	case f.rounds < 0 || f.rounds > 1000:
		return fail("--rounds %d: want 1 to 1000", f.rounds)
	case f.timeout <= 0:
		return fail("--timeout %v: want more than 0", f.timeout)
	case f.client != "raw" && f.client != "std":
		return fail("--client %q: want raw or std", f.client)
	case len(f.addrs) == 0:
		return fail("--addr: no URL given")
	}
	if f.ttl < 0 || (f.ttl > 0 && f.ttl < time.Millisecond) {
		return fail("--ttl %v: want 0 (none) or at least 1ms", f.ttl)
	}
	if f.valueSize > bench.BaselineMaxValue {
		return fail("--value-size %d: the most is %d (the nodes' default --max-value)", f.valueSize, bench.BaselineMaxValue)
	}
	for _, a := range f.addrs {
		if _, err := bench.ParseBaseURL(a); err != nil {
			return fail("--addr: %v", err)
		}
	}
	if f.rounds == 0 {
		f.rounds = 1
		if f.baseline {
			f.rounds = 3
		}
	}
	if !f.preload.set {
		f.preload.v = f.workload().Reads()
	}
	return f, -1
}

func (f *benchFlags) workload() bench.Workload {
	return bench.Workload{Mix: f.op, ReadRatio: f.readRatio, Keys: f.keys, Dist: f.dist, ZipfS: f.zipfS, ValueSize: f.valueSize}
}

func (f *benchFlags) config() bench.Config {
	return bench.Config{Workload: f.workload(), Conns: f.conns, Rate: f.rate, Warmup: f.warmup, Duration: f.duration, Seed: f.seed}
}

// benchSystem is one system under test.
type benchSystem struct {
	name      string
	doer      *bench.HTTP
	info      bench.System
	preloaded bool
	procs     []bench.Proc // whose CPU time is counted: bench's own, and the processes it started
}

// runBench runs `jumpkv bench`, and the hidden `jumpkv
// bench-baseline-server` it starts for --baseline.
func runBench(ctx context.Context, cmd string, args, env []string, stdout, stderr io.Writer) int {
	if cmd == "bench-baseline-server" {
		return runBenchBaselineServer(ctx, args, stdout, stderr)
	}
	f, code := parseBenchFlags(args, env, stderr)
	if code >= 0 {
		return code
	}
	stderr = &lockedWriter{w: stderr} // progress and CPU readings write from the run's goroutines
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "jumpkv bench: "+format+"\n", a...) }
	var exe string
	if f.spawn > 0 || f.baseline {
		var err error
		if exe, err = os.Executable(); err != nil {
			logf("cannot find this program's path: %v", err)
			return 1
		}
	}
	probe := &http.Client{Timeout: 5 * time.Second}

	// The cluster.
	addrs := []string(f.addrs)
	jumpkvNote := ""
	var nodes *benchNodes
	if f.spawn > 0 {
		var err error
		nodes, err = spawnBenchNodes(ctx, exe, f.spawn, f.nodeArgs, env, probe)
		if nodes != nil {
			defer nodes.stop()
		}
		if err != nil {
			logf("%v", err)
			if nodes != nil {
				fmt.Fprint(stderr, nodes.logs.String())
			}
			return 1
		}
		addrs = nodes.urls
		jumpkvNote = fmt.Sprintf("%d node processes started by bench", f.spawn)
		logf("%d nodes ready: %s", f.spawn, strings.Join(addrs, ", "))
	}
	targets, err := benchTargets(ctx, probe, addrs, f.target)
	if err != nil {
		logf("%v", err)
		return 1
	}
	var urls, described []string
	for _, t := range targets {
		urls = append(urls, t.URL)
		d := t.URL
		switch {
		case t.Leader:
			d += fmt.Sprintf(" (node %d, leader)", t.Node)
		case t.Node != 0:
			d += fmt.Sprintf(" (node %d)", t.Node)
		}
		described = append(described, d)
	}
	opts := bench.HTTPOptions{Conns: f.conns, Keys: f.keys, ValueSize: f.valueSize, Timeout: f.timeout, StdClient: f.client == "std", TTL: f.ttl}
	opts.Targets = urls
	jdoer, err := bench.NewHTTP(opts)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer jdoer.Close()
	systems := []*benchSystem{{name: bench.SystemJumpkv, doer: jdoer,
		info: bench.System{Name: bench.SystemJumpkv, Targets: described, Note: jumpkvNote}}}
	systems[0].procs = []bench.Proc{{Name: bench.CPUClient}}
	if nodes != nil {
		systems[0].procs = nodes.procs()
	}

	// The baseline.
	if f.baseline {
		bl, err := startBenchBaseline(ctx, exe, env, probe)
		if bl != nil {
			defer bl.stop()
		}
		if err != nil {
			logf("baseline server: %v", err)
			if bl != nil {
				fmt.Fprint(stderr, bl.logs.String())
			}
			return 1
		}
		opts.Targets = []string{bl.url}
		bdoer, err := bench.NewHTTP(opts)
		if err != nil {
			logf("%v", err)
			return 1
		}
		defer bdoer.Close()
		systems = append([]*benchSystem{{name: bench.SystemBaseline, doer: bdoer,
			info:  bench.System{Name: bench.SystemBaseline, Targets: []string{bl.url}, Note: "Gin over a mutex-guarded map, one process"},
			procs: []bench.Proc{{Name: bench.CPUClient}, {Name: bench.CPUServer, PID: bl.cmd.Process.Pid}}}}, systems...)
	}

	// The rounds.
	var runs []bench.RunStats
	for round := 1; round <= f.rounds; round++ {
		for _, sys := range systems {
			if nodes != nil {
				if dead := nodes.exited(); len(dead) > 0 {
					logf("warning: node(s) %v exited during the benchmark; their logs:\n%s", dead, nodes.logs.String())
				}
			}
			if f.preload.v && !sys.preloaded {
				logf("preloading %d keys into %s", f.keys, sys.name)
				if err := bench.Preload(ctx, sys.doer, f.keys, f.conns); err != nil {
					logf("%s: %v", sys.name, err)
					return 1
				}
				sys.preloaded = true
			}
			label := fmt.Sprintf("%s round %d/%d", sys.name, round, f.rounds)
			cfg := f.config()
			cfg.Progress = func(p bench.Progress) {
				fmt.Fprintln(stderr, bench.FormatProgress(label, p, f.warmup, f.duration))
			}
			cpu := newCPUWindow(sys.procs, logf)
			cfg.Window = cpu.mark
			res, err := bench.Run(ctx, cfg, sys.doer)
			if err != nil {
				logf("%s: %v", label, err)
				return 1
			}
			rs := bench.NewRunStats(sys.name, round, res)
			rs.CPUPerOp = cpu.perOp(rs.Ops)
			runs = append(runs, rs)
			logf("%s: %s ops/s, p50 %s, p99 %s, errors %d", label, strconv.FormatFloat(rs.OpsPerSec, 'f', 0, 64),
				bench.FormatMillis(rs.Latency.P50), bench.FormatMillis(rs.Latency.P99), rs.Errors)
		}
	}

	setup := bench.Setup{Op: f.op, Keys: f.keys, Dist: f.dist, ValueSize: f.valueSize, Preload: f.preload.v,
		Conns: f.conns, Rate: f.rate, WarmupSeconds: f.warmup.Seconds(), DurationSeconds: f.duration.Seconds(),
		Rounds: f.rounds, Target: f.target}
	if f.op == bench.MixMixed {
		setup.ReadRatio = &f.readRatio
	}
	if f.dist == bench.DistZipf {
		setup.ZipfS = f.zipfS
	}
	for _, s := range systems {
		setup.Systems = append(setup.Systems, s.info)
	}
	report := bench.NewReport(setup, runs)
	if f.json {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		logf("%v", err)
		return 1
	}
	for _, r := range runs {
		if r.Ops == 0 {
			logf("%s round %d: no request succeeded", r.System, r.Round)
			return 1
		}
	}
	return 0
}

// benchTargets asks each of addrs which node it is and who leads, then
// picks the targets of kind.
func benchTargets(ctx context.Context, client *http.Client, addrs []string, kind string) ([]bench.Target, error) {
	var given []bench.Target
	var view bench.ClusterView
	var lastErr error
	for _, a := range addrs {
		u, err := bench.ParseBaseURL(a)
		if err != nil {
			return nil, err
		}
		t := bench.Target{URL: u.String()}
		var v bench.ClusterView
		hdr, err := benchGetJSON(ctx, client, t.URL+"/v1/cluster", &v)
		if err == nil {
			t.Node, _ = strconv.ParseUint(hdr.Get("X-Jumpkv-Node"), 10, 64)
			if view.Leader == 0 {
				view = v
			}
		} else {
			lastErr = err
		}
		given = append(given, t)
	}
	if kind != bench.TargetAll && view.Leader == 0 && lastErr != nil {
		return nil, fmt.Errorf("--target %s: cannot learn who leads: %v", kind, lastErr)
	}
	return bench.SelectTargets(kind, given, view)
}

// benchGetJSON GETs url and decodes its JSON answer into v.
func benchGetJSON(ctx context.Context, client *http.Client, url string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return nil, fmt.Errorf("GET %s: %v", url, err)
	}
	return resp.Header, nil
}

// benchStatus GETs url and returns its status (0 when there is no answer).
func benchStatus(ctx context.Context, client *http.Client, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode
}

// benchFreePorts returns n ports that were free on 127.0.0.1 a moment ago.
func benchFreePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// benchPoll calls ready every 100ms until it returns true or an error, ctx
// ends, or timeout passes.
func benchPoll(ctx context.Context, timeout time.Duration, ready func() (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond) // polling other processes: there is nothing to wait on
	defer tick.Stop()
	giveUp := time.NewTimer(timeout)
	defer giveUp.Stop()
	for {
		ok, err := ready()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-giveUp.C:
			return fmt.Errorf("not ready after %v", timeout)
		case <-tick.C:
		}
	}
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, string(p))
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "")
}

// benchNodes is a cluster of node processes bench started.
type benchNodes struct {
	children []*child
	urls     []string
	logs     *tailWriter
}

// spawnBenchNodes starts n node processes as `jumpkv cluster` does, on free
// loopback ports, and waits until each is ready and they agree on a
// leader. On an error the nodes started so far are returned too, to stop.
func spawnBenchNodes(ctx context.Context, exe string, n int, extra, env []string, probe *http.Client) (*benchNodes, error) {
	ports, err := benchFreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var joins []string
	for i := range n {
		joins = append(joins, "127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	b := &benchNodes{logs: &tailWriter{max: 200}}
	// Node logs go to the tail, shown only if something goes wrong.
	args := append([]string{"--log-level", "warn"}, extra...)
	env, _ = shareCPUs(env, n, runtime.GOMAXPROCS(0), waitsForDisk(extra, env)) // as jumpkv cluster does
	for i := range n {
		c, err := startChild(exe, i, ports[i], ports[n+i], "", joins, args, env, b.logs)
		if err != nil {
			return b, fmt.Errorf("starting node %d: %v", i+1, err)
		}
		b.children = append(b.children, c)
		b.urls = append(b.urls, "http://"+c.http)
	}
	err = benchPoll(ctx, 60*time.Second, func() (bool, error) {
		if dead := b.exited(); len(dead) > 0 {
			return false, fmt.Errorf("node(s) %v exited while starting", dead)
		}
		for _, u := range b.urls {
			if benchStatus(ctx, probe, u+"/readyz") != http.StatusOK {
				return false, nil
			}
		}
		var v bench.ClusterView
		_, err := benchGetJSON(ctx, probe, b.urls[0]+"/v1/cluster", &v)
		return err == nil && v.Leader != 0 && v.Epoch != 0 && len(v.Nodes) == n, nil
	})
	if err != nil {
		return b, fmt.Errorf("waiting for the %d nodes to be ready and agree on a leader: %v", n, err)
	}
	return b, nil
}

// exited returns the numbers of the nodes that have exited.
func (b *benchNodes) exited() []int {
	var dead []int
	for _, c := range b.children {
		select {
		case <-c.done:
			dead = append(dead, c.index+1)
		default:
		}
	}
	return dead
}

func (b *benchNodes) stop() { stopChildren(b.children, b.logs) }

// procs names bench and the node processes for CPU accounting: "node N"
// is the Nth node started, whose URL is the Nth of urls.
func (b *benchNodes) procs() []bench.Proc {
	procs := []bench.Proc{{Name: bench.CPUClient}}
	for _, c := range b.children {
		procs = append(procs, bench.Proc{Name: fmt.Sprintf("node %d", c.index+1), PID: c.cmd.Process.Pid})
	}
	return procs
}

// cpuWindow takes CPU readings of procs as a round's window opens and
// closes (when the run's timer goroutine gets to it: on a busy host a
// little after the window's edges, negligible against a round). A reading
// that fails leaves the round without CPU figures, for every process; the
// failure is logged unless the platform just does not tell.
type cpuWindow struct {
	procs         []bench.Proc
	logf          func(string, ...any)
	before, after map[string]time.Duration
}

func newCPUWindow(procs []bench.Proc, logf func(string, ...any)) *cpuWindow {
	return &cpuWindow{procs: procs, logf: logf}
}

// mark is the run's Window callback.
func (w *cpuWindow) mark(open bool) {
	if len(w.procs) == 0 {
		return
	}
	t, err := bench.ReadCPU(w.procs)
	if err != nil {
		if !errors.Is(err, bench.ErrNoCPUTimes) {
			w.logf("no CPU figures for this round: %v", err)
		}
		w.procs = nil
		return
	}
	if open {
		w.before = t
	} else {
		w.after = t
	}
}

// perOp returns the CPU microseconds per operation of each process.
func (w *cpuWindow) perOp(ops int64) map[string]float64 {
	return bench.CPUPerOp(w.before, w.after, ops)
}

// benchBaseline is the baseline server process.
type benchBaseline struct {
	cmd  *exec.Cmd
	url  string
	logs *tailWriter
	done chan struct{}
}

// startBenchBaseline starts `jumpkv bench-baseline-server` on a free
// loopback port and waits until it answers.
func startBenchBaseline(ctx context.Context, exe string, env []string, probe *http.Client) (*benchBaseline, error) {
	ports, err := benchFreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	b := &benchBaseline{url: "http://" + addr, logs: &tailWriter{max: 50}, done: make(chan struct{})}
	b.cmd = exec.Command(exe, "bench-baseline-server", "--http", addr)
	b.cmd.Env = env
	b.cmd.Stdout = &prefixWriter{out: b.logs, prefix: "[baseline] "}
	b.cmd.Stderr = b.cmd.Stdout
	setParentDeathSignal(b.cmd)
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		if err := b.cmd.Wait(); err != nil {
			fmt.Fprintf(b.logs, "[baseline] exited: %v\n", err)
		}
		close(b.done)
	}()
	err = benchPoll(ctx, 30*time.Second, func() (bool, error) {
		select {
		case <-b.done:
			return false, errors.New("it exited while starting")
		default:
		}
		return benchStatus(ctx, probe, b.url+"/healthz") == http.StatusOK, nil
	})
	return b, err
}

// stop interrupts the baseline server and waits up to 10s for it to exit,
// then kills it.
func (b *benchBaseline) stop() {
	_ = b.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// runBenchBaselineServer serves the baseline until ctx ends.
func runBenchBaselineServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jumpkv bench-baseline-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv bench-baseline-server: %v\n", err)
		return 1
	}
	srv := bench.NewBaselineServer(ln.Addr().String())
	fmt.Fprintf(stdout, "baseline server listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "jumpkv bench-baseline-server: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return 0
}
