package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const clusterUsage = `Usage: jumpkv cluster [--nodes 3] [--http-port 8080] [--peer-port 7070] [--redis-port 6380] [--ftp-port 2121] [--data-dir jumpkv-data] [-- node flags...]

Starts N jumpkv node processes on 127.0.0.1 (HTTP ports 8080.., peer ports
7070.., Redis-protocol ports 6380.., FTP ports 2121..), prints each node's PID and addresses
and then the elected leader, and stops them all on Ctrl-C. Node i keeps its
data in jumpkv-data/node-<i>, so a cluster started again in the same
directory has every key it had (--data-dir '' keeps them in memory only).
The nodes authenticate each other with a secret made for the run
($JUMPKV_CLUSTER_SECRET if set). Each node gets its share of the CPUs
(GOMAXPROCS = CPUs / nodes, at least 1) unless GOMAXPROCS is set or its
writes wait for fsync (--fsync always with a data directory, the
default). Flags after -- go to every node, e.g.
  jumpkv cluster --nodes 5 -- --dead-after 1s --log-level debug

Flags:
`

// child is one node process the cluster command started.
type child struct {
	index int
	cmd   *exec.Cmd
	http  string
	done  chan struct{}
}

// runCluster runs `jumpkv cluster` until ctx ends or every node exits.
func runCluster(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jumpkv cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clusterUsage); fs.PrintDefaults() }
	nodes := fs.Int("nodes", 3, "number of node processes")
	dataDir := fs.String("data-dir", "jumpkv-data", "directory under which node i keeps its data (node-<i>); '' keeps every node in memory only")
	httpPort := fs.Int("http-port", 8080, "HTTP port of the first node; the others count up")
	peerPort := fs.Int("peer-port", 7070, "peer port of the first node; the others count up")
	redisPort := fs.Int("redis-port", 6380, "Redis-protocol (RESP) port of the first node; the others count up; 0 = off")
	ftpPort := fs.Int("ftp-port", 2121, "FTP port of the first node; the others count up (0: no FTP)")
	nodeArgs, err := parseFlags(fs, args, nil)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv cluster: %v%s\n", err, nodeFlagHint(err))
		return 2
	}
	if err := checkNodeFlags(nodeArgs, env); err != nil {
		// Once, before any node starts: not once per node.
		fmt.Fprintf(stderr, "jumpkv cluster: node flags after --: %v\n", err)
		return 2
	}
	if *nodes < 1 || *nodes > 64 {
		fmt.Fprintf(stderr, "jumpkv cluster: --nodes %d: want 1 to 64\n", *nodes)
		return 2
	}
	if err := portsFree(*nodes, *httpPort, *peerPort, *redisPort, *ftpPort); err != nil {
		fmt.Fprintf(stderr, "jumpkv cluster: %v\n", err)
		return 1
	}
	var exe string
	exe, err = os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv cluster: cannot find this program's path: %v\n", err)
		return 1
	}
	var joins []string
	for i := range *nodes {
		joins = append(joins, "127.0.0.1:"+strconv.Itoa(*peerPort+i))
	}
	if !hasEnv(env, "JUMPKV_CLUSTER_SECRET") {
		// Safe by default: the nodes authenticate each other with a
		// secret made for this run (it is in their environment, not
		// their command lines).
		secret, err := randomSecret()
		if err != nil {
			fmt.Fprintf(stderr, "jumpkv cluster: making a cluster secret: %v\n", err)
			return 1
		}
		env = append(slices.Clip(env), "JUMPKV_CLUSTER_SECRET="+secret)
	}
	out := &lockedWriter{w: stdout}
	asGiven := nodeArgs
	if *dataDir != "" {
		asGiven = append([]string{"--data-dir", *dataDir}, nodeArgs...)
	}
	env, cpuNote := shareCPUs(env, *nodes, runtime.GOMAXPROCS(0), waitsForDisk(asGiven, env))
	fmt.Fprintln(out, cpuNote)
	var children []*child
	for i := range *nodes {
		// A --name or --data-dir after -- wins: it comes later.
		extra := append([]string{"--name", fmt.Sprintf("node-%d", i+1)}, nodeArgs...)
		if *dataDir != "" {
			dir := filepath.Join(*dataDir, fmt.Sprintf("node-%d", i+1))
			extra = append([]string{"--data-dir", dir}, extra...) // a --data-dir after -- wins
		}
		if *ftpPort > 0 {
			extra = append([]string{"--ftp", "127.0.0.1:" + strconv.Itoa(*ftpPort+i)}, extra...) // a --ftp after -- wins
		}
		redisAddr := ""
		if *redisPort != 0 {
			redisAddr = "127.0.0.1:" + strconv.Itoa(*redisPort+i)
		}
		c, err := startChild(exe, i, *httpPort+i, *peerPort+i, redisAddr, joins, extra, env, out)
		if err != nil {
			fmt.Fprintf(stderr, "jumpkv cluster: starting node %d: %v\n", i+1, err)
			stopChildren(children, out)
			return 1
		}
		children = append(children, c)
		redisNote := ""
		if redisAddr != "" {
			redisNote = ", redis " + redisAddr
		}
		fmt.Fprintf(out, "node %d: pid %d, http http://%s, peer 127.0.0.1:%d%s\n", i+1, c.cmd.Process.Pid, c.http, *peerPort+i, redisNote)
		if *dataDir != "" {
			fmt.Fprintf(out, "node %d: data in %s\n", i+1, filepath.Join(*dataDir, fmt.Sprintf("node-%d", i+1)))
		}
		if *ftpPort > 0 {
			fmt.Fprintf(out, "node %d: ftp ftp://127.0.0.1:%d\n", i+1, *ftpPort+i)
		}
	}
	scheme := "http"
	for _, a := range nodeArgs {
		if a == "--tls-cert" || a == "-tls-cert" || strings.HasPrefix(a, "--tls-cert=") || strings.HasPrefix(a, "-tls-cert=") {
			scheme = "https" // the nodes serve TLS: poll them over it
		}
	}
	var addrs []string
	for _, c := range children {
		addrs = append(addrs, c.http)
	}
	go announceLeader(ctx, scheme, addrs, *redisPort, out)

	allDone := make(chan struct{})
	go func() {
		for _, c := range children {
			<-c.done
		}
		close(allDone)
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "stopping the cluster...")
	case <-allDone:
		fmt.Fprintln(out, "every node has exited")
		return 1
	}
	stopChildren(children, out)
	return 0
}

// startChild starts node i as a child process.
func startChild(exe string, i, httpPort, peerPort int, redisAddr string, joins, extra, env []string, out io.Writer) (*child, error) {
	httpAddr := "127.0.0.1:" + strconv.Itoa(httpPort)
	args := []string{"node", "--http", httpAddr, "--peer", "127.0.0.1:" + strconv.Itoa(peerPort),
		"--advertise", "127.0.0.1", "--join", strings.Join(joins, ",")}
	if redisAddr != "" {
		args = append(args, "--redis", redisAddr)
	}
	cmd := exec.Command(exe, append(args, extra...)...)
	cmd.Env = env
	prefix := fmt.Sprintf("[node %d] ", i+1)
	cmd.Stdout = &prefixWriter{out: out, prefix: prefix}
	cmd.Stderr = cmd.Stdout
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{index: i, cmd: cmd, http: httpAddr, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if err != nil {
			fmt.Fprintf(out, "%sexited: %v\n", prefix, err)
		}
		close(c.done)
	}()
	return c, nil
}

// stopChildren stops every node at once with SIGINT (the whole cluster is
// going away: no handoff), waits up to 10s, then kills what is left.
func stopChildren(children []*child, out io.Writer) {
	for _, c := range children {
		_ = c.cmd.Process.Signal(os.Interrupt)
	}
	deadline := time.After(10 * time.Second)
	for _, c := range children {
		select {
		case <-c.done:
		case <-deadline:
			fmt.Fprintf(out, "node %d did not stop in 10s: killing it\n", c.index+1)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// announceLeader polls the first node's /v1/cluster until a leader is
// known and listed at one of this cluster's addresses, and prints it. (A
// cluster restarted from its data directories on other ports lists its
// leader at the old address until the leader has rejoined at its new one;
// after 10s the listed address is taken, for nodes that advertise another
// with --advertise-http.)
func announceLeader(ctx context.Context, scheme string, addrs []string, redisPort int, out io.Writer) {
	httpAddr := addrs[0]
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// Local nodes on loopback, often with a self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(60 * time.Second)
	// With --advertise-http among the node flags no listed address is one
	// of addrs: after a while, the address as listed is the answer.
	anyAddress := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-giveUp:
			fmt.Fprintln(out, "no leader after 60s: see the node logs above")
			return
		case <-tick.C:
		}
		var ci struct {
			Leader uint64 `json:"leader"`
			Term   uint64 `json:"term"`
			Epoch  uint64 `json:"epoch"`
			Nodes  []struct {
				ID   uint64 `json:"id"`
				Name string `json:"name"`
				HTTP string `json:"http"`
			} `json:"nodes"`
		}
		resp, err := client.Get(scheme + "://" + httpAddr + "/v1/cluster")
		if err != nil {
			continue
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ci)
		resp.Body.Close()
		if err != nil || ci.Leader == 0 || ci.Epoch == 0 {
			continue
		}
		who := ""
		for _, n := range ci.Nodes {
			if n.ID == ci.Leader && (slices.Contains(addrs, n.HTTP) || time.Now().After(anyAddress)) {
				who = fmt.Sprintf("%s (%d) at %s://%s", n.Name, n.ID, scheme, n.HTTP)
			}
		}
		if who == "" {
			continue // the leader is not listed at its current address yet
		}
		fmt.Fprintf(out, "leader: %s, term %d, %d nodes\n", who, ci.Term, len(ci.Nodes))
		fmt.Fprintf(out, "try:    curl -X PUT -H 'Content-Type: text/plain' --data-binary world %[1]s://%[2]s/v1/kv/hello && curl %[1]s://%[2]s/v1/kv/hello\n", scheme, httpAddr)
		fmt.Fprintf(out, "        jumpkv status --addr %s://%s\n", scheme, httpAddr)
		if redisPort != 0 {
			fmt.Fprintf(out, "        redis-cli -p %d set hello world && redis-cli -p %d get hello\n", redisPort, redisPort)
		}
		fmt.Fprintln(out, "stop:   Ctrl-C")
		return
	}
}

// portsFree checks that the ports the cluster needs can be bound (a base
// port of 0 is a listener turned off).
func portsFree(n int, bases ...int) error {
	for i := range n {
		for _, base := range bases {
			if base == 0 {
				continue
			}
			p := base + i
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				return fmt.Errorf("port %d is not free (%v): pick others with --http-port, --peer-port and --redis-port", p, err)
			}
			ln.Close()
		}
	}
	return nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes each complete line with a prefix.
type prefixWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		if _, err := p.out.Write(line); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// randomSecret returns 32 random bytes, hex-encoded: a cluster secret.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
