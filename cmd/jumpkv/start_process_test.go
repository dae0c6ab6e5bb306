package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The orchestrators' way to find peers: --join names one DNS name that
// resolves to every replica (tasks.node in a Swarm stack, a headless
// Service in Kubernetes). These tests give processes such a name by running
// each in a mount namespace of its own whose /etc/hosts lists it.

// peersName is the DNS name the test's hosts file gives every node.
const peersName = "peers.jumpkv.test"

// loopbackHost returns the i-th loopback address (127.0.0.1, 127.0.0.2...):
// every one answers on Linux, so nodes can share a port, as replicas
// behind one DNS name do.
func loopbackHost(i int) string { return "127.0.0." + strconv.Itoa(i+1) }

// requireHostsNamespace skips the test, saying why, where a process
// cannot be given its own /etc/hosts (no unshare, or no user or mount
// namespaces), and returns the command prefix that runs a program with the
// hosts file at hosts.
func requireHostsNamespace(t *testing.T, hosts string) []string {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipping: needs unshare (util-linux) to give the nodes a hosts file of their own")
	}
	prefix := []string{"unshare", "--map-root-user", "--mount", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts}
	probe := append(slices.Clone(prefix), "getent", "hosts", peersName)
	if out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), "127.0.0.1") {
		t.Skipf("skipping: cannot run a process with its own /etc/hosts (user and mount namespaces): %v %s", err, out)
	}
	return prefix
}

// sharedFreePort returns a TCP port free on each of the first n loopback
// addresses a moment ago.
func sharedFreePort(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		port := freePorts(t, 1)[0]
		free := true
		for i := range n {
			ln, err := net.Listen("tcp", net.JoinHostPort(loopbackHost(i), strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on %d loopback addresses", n)
	return 0
}

// writeHosts writes a hosts file naming the first n loopback addresses
// peersName, and returns its path.
func writeHosts(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for i := range n {
		fmt.Fprintf(&b, "%s %s\n", loopbackHost(i), peersName)
	}
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSimultaneousStartsFormOneCluster starts five node processes within
// 50ms of each other, all with --join naming one DNS name that resolves to
// the five, twenty times over: every time they must form one cluster of
// five, following one leader, not several clusters each with a leader of
// its own.
func TestSimultaneousStartsFormOneCluster(t *testing.T) {
	const nodes, rounds = 5, 20
	hosts := writeHosts(t, nodes)
	prefix := requireHostsNamespace(t, hosts)
	bin := binary(t)
	var formed []time.Duration
	for round := range rounds {
		peerPort, httpPort := sharedFreePort(t, nodes), sharedFreePort(t, nodes)
		procs := make([]*proc, nodes)
		began := time.Now()
		for i := range nodes {
			host := loopbackHost(i)
			args := append(slices.Clone(prefix[1:]), bin, "node",
				"--http", net.JoinHostPort(host, strconv.Itoa(httpPort)),
				"--peer", net.JoinHostPort(host, strconv.Itoa(peerPort)),
				"--join", net.JoinHostPort(peersName, strconv.Itoa(peerPort)),
				"--dead-after", "500ms", "--buckets", "64", "--name", fmt.Sprintf("r%d-n%d", round, i))
			procs[i] = startProc(t, prefix[0], net.JoinHostPort(host, strconv.Itoa(httpPort)), args...)
		}
		if spread := time.Since(began); spread > 50*time.Millisecond {
			t.Logf("round %d: the five starts took %v (more than 50ms: the machine is busy)", round, spread)
		}
		view := waitCluster(t, procs, 60*time.Second)
		formed = append(formed, time.Since(began))
		for i, p := range procs {
			c, ok := clusterOf(t, p.http)
			if !ok || c.Leader != view.Leader || len(c.Nodes) != nodes {
				t.Fatalf("round %d: node %d sees leader %d and %d members, node 0 sees leader %d and %d: more than one cluster formed",
					round, i, c.Leader, len(c.Nodes), view.Leader, len(view.Nodes))
			}
		}
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
			p.wait()
		}
	}
	slices.Sort(formed)
	t.Logf("%d of %d simultaneous starts of %d nodes formed one cluster; start to all ready: median %v, max %v",
		rounds, rounds, nodes, formed[len(formed)/2].Round(time.Millisecond), formed[len(formed)-1].Round(time.Millisecond))
}

// TestNodeRejoinsUnderANewAddress restarts a node of a durable cluster on
// another address (a new pod or container IP) with its data directory: it
// comes back as itself, with the same ID, its new address known to the
// others, no fourth member, and every key readable through it.
func TestNodeRejoinsUnderANewAddress(t *testing.T) {
	const nodes = 3
	bin := binary(t)
	peerPort, httpPort := sharedFreePort(t, nodes+1), sharedFreePort(t, nodes+1)
	addr := func(i, port int) string { return net.JoinHostPort(loopbackHost(i), strconv.Itoa(port)) }
	var join []string
	for i := range nodes + 1 { // the fourth address is where node 2 comes back
		join = append(join, addr(i, peerPort))
	}
	dirs := make([]string, nodes)
	start := func(i, at int) *proc {
		return startProc(t, bin, addr(at, httpPort), "node", "--http", addr(at, httpPort), "--peer", addr(at, peerPort),
			"--join", strings.Join(join, ","), "--data-dir", dirs[i], "--dead-after", "1s", "--buckets", "64")
	}
	procs := make([]*proc, nodes)
	for i := range nodes {
		dirs[i] = t.TempDir()
		procs[i] = start(i, i)
	}
	before := waitCluster(t, procs, 60*time.Second)
	for k := range 50 {
		if st, _, b := request(t, "PUT", fmt.Sprintf("http://%s/v1/kv/moved/%d", procs[0].http, k), []byte("v"+strconv.Itoa(k))); st != 200 {
			t.Fatalf("PUT moved/%d: %d %s", k, st, b)
		}
	}
	c, _ := clusterOf(t, procs[2].http)
	var movedID uint64
	for _, n := range c.Nodes {
		if n.Peer == addr(2, peerPort) {
			movedID = n.ID
		}
	}
	if movedID == 0 {
		t.Fatalf("node 2 (%s) is not in the cluster: %+v", addr(2, peerPort), c.Nodes)
	}

	procs[2].stop(t)
	procs[2] = start(2, nodes) // same data directory, address 127.0.0.4
	var seen clusterNodes
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		for _, p := range procs {
			if st, _, _ := request(t, "GET", "http://"+p.http+"/readyz", nil); st != 200 {
				ready = false
			}
		}
		var ok bool
		seen, ok = clusterOf(t, procs[0].http)
		if ready && ok && len(seen.Nodes) == nodes && slices.ContainsFunc(seen.Nodes, func(n struct {
			ID    uint64 `json:"id"`
			Peer  string `json:"peer"`
			HTTP  string `json:"http"`
			State string `json:"state"`
		}) bool {
			return n.ID == movedID && n.Peer == addr(nodes, peerPort)
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not come back at %s as itself within 60s: members %+v", movedID, addr(nodes, peerPort), seen.Nodes)
		}
		time.Sleep(100 * time.Millisecond) // polling real processes
	}
	for _, n := range seen.Nodes {
		if n.Peer == addr(2, peerPort) {
			t.Errorf("the old address %s is still a member: %+v", n.Peer, seen.Nodes)
		}
	}
	for k := range 50 {
		st, _, b := request(t, "GET", fmt.Sprintf("http://%s/v1/kv/moved/%d", procs[2].http, k), nil)
		if st != 200 || string(b) != "v"+strconv.Itoa(k) {
			t.Errorf("GET moved/%d through the moved node: %d %q", k, st, b)
		}
	}
	t.Logf("node %d came back on %s as itself (leader before: %d); %d members; 50 of 50 keys read through it",
		movedID, addr(nodes, peerPort), before.Leader, len(seen.Nodes))
}
