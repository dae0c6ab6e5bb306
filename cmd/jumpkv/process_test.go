package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds jumpkv once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jumpkv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "jumpkv")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePorts returns n ports that were free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// proc is a jumpkv process under test.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	http string
	done chan error
}

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

func startProc(t *testing.T, bin string, httpAddr string, args ...string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, http: httpAddr, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		p.wait()
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.out)
		}
	})
	return p
}

// wait waits for the process to exit and returns how it did; safe to call
// more than once.
func (p *proc) wait() error {
	err := <-p.done
	p.done <- err
	return err
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("no exit 15s after SIGTERM")
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func request(t *testing.T, method, url string, body []byte, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type clusterView struct {
	Leader uint64 `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	Nodes  []struct {
		ID   uint64 `json:"id"`
		HTTP string `json:"http"`
	} `json:"nodes"`
}

// waitCluster waits until every node is ready and agrees on a leader.
func waitCluster(t *testing.T, procs []*proc, timeout time.Duration) clusterView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var cv clusterView
		ok := true
		for _, p := range procs {
			if st, _, _ := request(t, "GET", "http://"+p.http+"/readyz", nil); st != 200 {
				ok = false
			}
		}
		st, _, b := request(t, "GET", "http://"+procs[0].http+"/v1/cluster", nil)
		if ok && st == 200 && json.Unmarshal(b, &cv) == nil && cv.Leader != 0 && len(cv.Nodes) == len(procs) {
			return cv
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready after %v: last /v1/cluster %d %s", timeout, st, b)
		}
		time.Sleep(100 * time.Millisecond) // polling real processes: wait between polls
	}
}

// TestProcessesCRUDThroughFollower runs the built binary as three node
// processes on loopback and does a CRUD round through a follower.
func TestProcessesCRUDThroughFollower(t *testing.T) {
	bin := binary(t)
	ports := freePorts(t, 6)
	var join []string
	for i := range 3 {
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[3+i]))
	}
	var procs []*proc
	for i := range 3 {
		httpAddr := "127.0.0.1:" + strconv.Itoa(ports[i])
		procs = append(procs, startProc(t, bin, httpAddr, "node", "--http", httpAddr, "--peer", join[i],
			"--advertise", "127.0.0.1", "--join", strings.Join(join, ","), "--dead-after", "1s", "--buckets", "128"))
	}
	cv := waitCluster(t, procs, 30*time.Second)
	var follower string
	for _, n := range cv.Nodes {
		if n.ID != cv.Leader {
			follower = "http://" + n.HTTP
			break
		}
	}
	key := follower + "/v1/kv/users/ada%20lovelace/ünï"
	st, h, b := request(t, "PUT", key, []byte("first"), "Content-Type", "text/plain")
	if st != 200 || h.Get("X-Jumpkv-Leader") != strconv.FormatUint(cv.Leader, 10) {
		t.Fatalf("PUT through a follower: %d %s %v", st, b, h)
	}
	etag := h.Get("ETag")
	if st, h, b := request(t, "GET", key, nil); st != 200 || string(b) != "first" || h.Get("ETag") != etag || h.Get("Content-Type") != "text/plain" {
		t.Fatalf("GET: %d %q %v", st, b, h)
	}
	if st, _, b := request(t, "POST", key+"?op=append", []byte("+more")); st != 200 {
		t.Fatalf("append: %d %s", st, b)
	}
	if st, _, b := request(t, "PUT", key, []byte("x"), "If-Match", etag); st != 412 {
		t.Fatalf("stale If-Match: %d %s", st, b)
	}
	if st, _, b := request(t, "POST", key, []byte("x")); st != 409 {
		t.Fatalf("create of an existing key: %d %s", st, b)
	}
	if st, _, b := request(t, "GET", follower+"/v1/kv?prefix=users/", nil); st != 200 || !strings.Contains(string(b), `"users/ada lovelace/ünï"`) {
		t.Fatalf("list: %d %s", st, b)
	}
	// Every node serves the same value.
	for _, p := range procs {
		if st, _, b := request(t, "GET", "http://"+p.http+"/v1/kv/users/ada%20lovelace/ünï", nil); st != 200 || string(b) != "first+more" {
			t.Fatalf("GET via %s: %d %q", p.http, st, b)
		}
	}
	if st, _, b := request(t, "DELETE", key, nil); st != 204 {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	if st, _, _ := request(t, "GET", key, nil); st != 404 {
		t.Fatalf("GET after DELETE: %d", st)
	}
	for _, p := range procs {
		p.stop(t)
	}
	if !strings.Contains(procs[0].out.String(), "leader elected") {
		t.Fatalf("no 'leader elected' log line:\n%s", procs[0].out)
	}
}

// TestClusterCommand runs `jumpkv cluster` as a user would: it prints the
// nodes and the leader, serves requests, and stops every node on SIGINT.
func TestClusterCommand(t *testing.T) {
	bin := binary(t)
	first := freePortBase(t, 4)
	httpPort, peerPort, redisPort, ftpPort := first, first+10, first+20, first+30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dataDir := t.TempDir()
	cmd, stdout := startClusterCommand(t, ctx, bin, "--http-port", strconv.Itoa(httpPort), "--peer-port", strconv.Itoa(peerPort),
		"--redis-port", strconv.Itoa(redisPort), "--ftp-port", strconv.Itoa(ftpPort), "--data-dir", dataDir, "--", "--dead-after", "1s")
	var lines []string
	sc := bufio.NewScanner(stdout)
	leaderSeen := false
	for !leaderSeen && sc.Scan() {
		lines = append(lines, sc.Text())
		leaderSeen = strings.HasPrefix(sc.Text(), "leader: node-")
	}
	if !leaderSeen {
		t.Fatalf("no leader line:\n%s", strings.Join(lines, "\n"))
	}
	go io.Copy(io.Discard, stdout)
	pids := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "node ") && strings.Contains(l, ": pid ") {
			pids++
		}
	}
	if pids != 3 {
		t.Fatalf("%d node lines with a pid, want 3:\n%s", pids, strings.Join(lines, "\n"))
	}
	// FTP on the ports after --ftp-port, each node saying where.
	for i := range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", ftpPort+i)
		if n := linesWith(strings.Join(lines, "\n"), "ftp ftp://"+addr); n != 1 {
			t.Fatalf("node %d does not print its FTP address %s:\n%s", i+1, addr, strings.Join(lines, "\n"))
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("FTP of node %d: %v", i+1, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		greeting, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(greeting, "220 ") {
			t.Fatalf("FTP of node %d greets with %q", i+1, greeting)
		}
	}
	// Safe by default: the cluster made a secret and every node uses it.
	if n := linesWith(strings.Join(lines, "\n"), "listening", "peer_auth=true"); n != 3 {
		t.Fatalf("%d nodes listen with peer authentication, want 3:\n%s", n, strings.Join(lines, "\n"))
	}
	for i := range 3 {
		want := fmt.Sprintf("redis 127.0.0.1:%d", redisPort+i)
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Fatalf("the cluster's output does not name %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort+1)
	if st, _, b := request(t, "PUT", base+"/v1/kv/hello", []byte("world")); st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	if st, _, b := request(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/v1/kv/hello", httpPort+2), nil); st != 200 || string(b) != "world" {
		t.Fatalf("GET: %d %s", st, b)
	}
	// The Redis protocol on 6380.. serves the same keys.
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort+2)})
	defer rc.Close()
	if v, err := rc.Get(ctx, "hello").Result(); err != nil || v != "world" {
		t.Fatalf("GET hello over RESP: %q, %v", v, err)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cluster exit after Ctrl-C: %v", err)
	}
	for i := range 3 {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort+i)); err != nil {
			t.Errorf("port %d still taken after the cluster stopped: %v", httpPort+i, err)
		} else {
			ln.Close()
		}
	}
}

// TestClusterRestartedOnOtherPortsNamesItsLeader starts `jumpkv cluster`,
// stops it with Ctrl-C, and starts it again from the same data directory
// on other ports: the leader line must name the leader at its new address,
// not the one its data directory remembers from the first run.
func TestClusterRestartedOnOtherPortsNamesItsLeader(t *testing.T) {
	bin := binary(t)
	dataDir := t.TempDir()
	run := func() (leaderLine string, httpPort int) {
		httpPort = freePortBase(t, 2)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd, stdout := startClusterCommand(t, ctx, bin, "--http-port", strconv.Itoa(httpPort), "--peer-port", strconv.Itoa(httpPort+10),
			"--redis-port", "0", "--ftp-port", "0", "--data-dir", dataDir)
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "leader: ") || strings.HasPrefix(sc.Text(), "no leader") {
				leaderLine = sc.Text()
				break
			}
		}
		go io.Copy(io.Discard, stdout)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if leaderLine == "" {
			t.Fatalf("no leader line:\n%s", strings.Join(lines, "\n"))
		}
		return leaderLine, httpPort
	}
	first, _ := run()
	second, port := run()
	ours := false
	for i := range 3 {
		ours = ours || strings.Contains(second, fmt.Sprintf(" at http://127.0.0.1:%d,", port+i))
	}
	if !ours {
		t.Fatalf("restarted on HTTP ports %d-%d, the cluster announced %q (first run: %q)", port, port+2, second, first)
	}
}

// freePortBase returns a base port such that the three ports from base,
// base+10, ... base+10*(ranges-1) were all free a moment ago: the ranges
// `jumpkv cluster` counts up from for its 3 nodes.
func freePortBase(t *testing.T, ranges int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(30000)
		var starts []int
		for i := range ranges {
			starts = append(starts, base+10*i)
		}
		if portsFree(3, starts...) == nil {
			return base
		}
	}
	t.Fatal("no free range of ports found")
	return 0
}

// startClusterCommand starts `jumpkv cluster` with args and returns it and
// its output (stdout and stderr together).
func startClusterCommand(t *testing.T, ctx context.Context, bin string, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"cluster"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout
}
