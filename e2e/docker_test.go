//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stack is one test's compose project: its image, networks, host ports and
// containers, all removed when the test ends.
type stack struct {
	t       *testing.T
	compose []string // "docker compose" (v2) or "docker-compose" (v1)
	root    string   // the module root, where docker-compose.yml lives
	project string   // compose project name, unique to this run
	image   string   // image tag built for this run
	subnet  string   // the peer network's subnet
	secret  string   // the cluster secret every node is given
	env     []string // more environment for compose (JUMPKV_MEM_LIMIT=...)
	ports   string   // host port range of the HTTP API, "lo-hi"
	http    *http.Client
}

// requireDocker skips the test, saying why, when no Docker engine answers.
// It is the only reason these tests skip.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		t.Skipf("no Docker engine answers (`docker info`: %v: %s): skipping the container tests", err, strings.TrimSpace(string(out)))
	}
}

// composeCommand returns the compose command to use: $JUMPKV_COMPOSE if
// set (the Makefile passes the one it picked), else the one that answers,
// `docker compose` (v2) or else `docker-compose` (v1).
func composeCommand(ctx context.Context) ([]string, error) {
	if c := strings.Fields(os.Getenv("JUMPKV_COMPOSE")); len(c) > 0 {
		return c, nil
	}
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		args := append(slices.Clone(c[1:]), "version")
		if exec.CommandContext(ctx, c[0], args...).Run() == nil {
			return c, nil
		}
	}
	return nil, errors.New("neither `docker compose` nor `docker-compose` answers")
}

// newStack prepares a compose project of its own for the test; it skips
// the test when no Docker engine answers. Cleanup removes whatever the
// project created, and its image, also when the test fails.
func newStack(t *testing.T) *stack {
	t.Helper()
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compose, err := composeCommand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("jkve2e%d%04x", os.Getpid(), rand.IntN(1<<16))
	s := &stack{
		t:       t,
		compose: compose,
		root:    root,
		project: project,
		image:   "jumpkv-e2e:" + project,
		secret:  fmt.Sprintf("e2e-%016x%016x", rand.Uint64(), rand.Uint64()),
		http:    &http.Client{Timeout: 10 * time.Second},
	}
	t.Logf("compose: %s, project %s", strings.Join(compose, " "), project)
	t.Cleanup(s.cleanup)
	return s
}

// cleanup saves the logs of a failed test, then removes the project's
// containers, networks and volumes, and the image.
func (s *stack) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if s.t.Failed() {
		s.saveLogs(ctx)
	}
	if out, err := s.composeRun(ctx, "down", "-v", "--remove-orphans", "--timeout", "50"); err != nil {
		s.t.Errorf("compose down: %v\n%s", err, out)
	}
	// Whatever compose left behind (it should leave nothing).
	filter := "label=com.docker.compose.project=" + s.project
	if out, _ := run(ctx, "docker", "container", "ls", "-aq", "--filter", filter); len(strings.Fields(out)) > 0 {
		s.t.Logf("removing containers compose left: %s", strings.Join(strings.Fields(out), " "))
		if out, err := run(ctx, "docker", append([]string{"container", "rm", "-f", "-v"}, strings.Fields(out)...)...); err != nil {
			s.t.Errorf("docker container rm: %v\n%s", err, out)
		}
	}
	if out, _ := run(ctx, "docker", "network", "ls", "-q", "--filter", filter); len(strings.Fields(out)) > 0 {
		s.t.Logf("removing networks compose left: %s", strings.Join(strings.Fields(out), " "))
		if out, err := run(ctx, "docker", append([]string{"network", "rm"}, strings.Fields(out)...)...); err != nil {
			s.t.Errorf("docker network rm: %v\n%s", err, out)
		}
	}
	if out, err := run(ctx, "docker", "image", "inspect", s.image); err == nil {
		if out, err := run(ctx, "docker", "image", "rm", "-f", s.image); err != nil {
			s.t.Errorf("docker image rm %s: %v\n%s", s.image, err, out)
		}
	} else if !strings.Contains(strings.ToLower(out), "no such image") {
		s.t.Errorf("docker image inspect %s: %v\n%s", s.image, err, out)
	}
}

// saveLogs writes the project's logs to the test's artifact directory and
// their tail to the test log.
func (s *stack) saveLogs(ctx context.Context) {
	out, err := s.composeRun(ctx, "logs", "--no-color", "--timestamps")
	if err != nil {
		s.t.Logf("compose logs: %v", err)
	}
	path := filepath.Join(s.t.ArtifactDir(), "compose.log")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		s.t.Logf("saving logs: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tail := lines[max(0, len(lines)-150):]
	s.t.Logf("compose logs (%s; last %d lines):\n%s", path, len(tail), strings.Join(tail, "\n"))
}

// run runs a command and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// composeRun runs a compose command on this stack's project.
func (s *stack) composeRun(ctx context.Context, args ...string) (string, error) {
	full := append(slices.Clone(s.compose[1:]), "-p", s.project, "-f", filepath.Join(s.root, "docker-compose.yml"))
	full = append(full, args...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, s.compose[0], full...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(),
		"JUMPKV_IMAGE="+s.image,
		"JUMPKV_HTTP_PORTS="+s.ports,
		"JUMPKV_PEER_SUBNET="+s.subnet,
		"JUMPKV_CLUSTER_SECRET="+s.secret)
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustCompose runs a compose command and fails the test if it fails.
func (s *stack) mustCompose(timeout time.Duration, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := s.composeRun(ctx, args...)
	if err != nil {
		s.t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mustDocker runs a docker command and fails the test if it fails.
func (s *stack) mustDocker(timeout time.Duration, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := run(ctx, "docker", args...)
	if err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// buildImage builds the node binary the way the Makefile does into a
// scratch build context and the image from the repository's Dockerfile,
// and returns the image's size in bytes.
func (s *stack) buildImage() int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := s.t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w",
		"-o", filepath.Join(dir, "bin", "jumpkv"), "./cmd/jumpkv")
	build.Dir = s.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		s.t.Fatalf("go build: %v\n%s", err, out)
	}
	// The data volume's mount point (the Dockerfile copies it with the
	// node's ownership).
	if err := os.MkdirAll(filepath.Join(dir, "bin", "data"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	// The repository's .dockerignore must let the binary through.
	ignore, err := os.ReadFile(filepath.Join(s.root, ".dockerignore"))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), ignore, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if out, err := run(ctx, "docker", "build", "-q", "-f", filepath.Join(s.root, "Dockerfile"), "-t", s.image, dir); err != nil {
		s.t.Fatalf("docker build: %v\n%s", err, out)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(s.mustDocker(time.Minute, "image", "inspect", "-f", "{{.Size}}", s.image)), 10, 64)
	if err != nil {
		s.t.Fatal(err)
	}
	return size
}

// pickPortsAndSubnet chooses a range of free host ports and a peer subnet
// that no Docker network or host interface uses.
func (s *stack) pickPortsAndSubnet(nports int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.ports = ""
	for range 200 {
		lo := 15000 + rand.IntN(17000) // below the usual ephemeral range
		if portsFree(lo, nports) {
			s.ports = fmt.Sprintf("%d-%d", lo, lo+nports-1)
			break
		}
	}
	if s.ports == "" {
		s.t.Fatal("found no free range of host ports")
	}
	used := usedNetworks(ctx, s.t)
	s.subnet = ""
	for range 200 {
		// Outside Docker's default pools, where the clients network is taken
		// from, and apart from the compose file's default 10.70.70.0/24.
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.70.%d.0/24", rand.IntN(64)))
		if !slices.ContainsFunc(used, func(n *net.IPNet) bool { return n.Contains(cand.IP) || cand.Contains(n.IP) }) {
			s.subnet = cand.String()
			break
		}
	}
	if s.subnet == "" {
		s.t.Fatal("found no free subnet in 10.70.0.0/18 for the peer network")
	}
	s.t.Logf("host ports %s, peer subnet %s", s.ports, s.subnet)
}

// portsFree reports whether n ports from lo on can be listened on at 127.0.0.1.
func portsFree(lo, n int) bool {
	for p := lo; p < lo+n; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// usedNetworks returns the subnets of Docker's networks and this host's
// interfaces.
func usedNetworks(ctx context.Context, t *testing.T) []*net.IPNet {
	t.Helper()
	var used []*net.IPNet
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
	ids, err := run(ctx, "docker", "network", "ls", "-q")
	if err != nil {
		t.Fatalf("docker network ls: %v\n%s", err, ids)
	}
	if len(strings.Fields(ids)) == 0 {
		return used
	}
	out, err := run(ctx, "docker", append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, strings.Fields(ids)...)...)
	if err != nil {
		// A network removed since the listing; the others still count.
		t.Logf("docker network inspect: %v", err)
	}
	for _, f := range strings.Fields(out) {
		if _, n, err := net.ParseCIDR(f); err == nil {
			used = append(used, n)
		}
	}
	return used
}

// up starts the project at the compose file's scale, choosing other ports
// and another subnet if those chosen were taken in the meantime.
func (s *stack) up() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		s.pickPortsAndSubnet(10)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		out, err := s.composeRun(ctx, "up", "-d", "--no-build")
		cancel()
		if err == nil {
			return
		}
		taken := strings.Contains(out, "overlap") || strings.Contains(out, "already allocated") ||
			strings.Contains(out, "address already in use")
		if !taken || attempt == 3 {
			s.t.Fatalf("compose up: %v\n%s", err, out)
		}
		s.t.Logf("compose up failed on a taken port or subnet; trying others:\n%s", out)
		s.mustCompose(2*time.Minute, "down", "-v", "--remove-orphans")
	}
}

// container is one node container of the project.
type container struct {
	ID      string
	Name    string
	Running bool
	Port    string // host port of the HTTP API (running containers)
	PeerIP  string // address on the peer network (while connected)
}

// containers lists the project's node containers, running or not.
func (s *stack) containers() []container {
	s.t.Helper()
	ids := strings.Fields(s.mustDocker(time.Minute, "ps", "-aq", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service=node"))
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A container removed since the listing makes inspect fail but leaves
	// the others in its output.
	out, err := exec.CommandContext(ctx, "docker", append([]string{"inspect"}, ids...)...).Output()
	if err != nil && len(bytes.TrimSpace(out)) == 0 {
		s.t.Fatalf("docker inspect: %v", err)
	}
	var raw []struct {
		ID    string `json:"Id"`
		Name  string
		State struct{ Running bool }
		// NetworkSettings.Ports maps "8080/tcp" to its host bindings.
		NetworkSettings struct {
			Ports    map[string][]struct{ HostPort string }
			Networks map[string]struct{ IPAddress string }
		}
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		s.t.Fatalf("docker inspect: %v", err)
	}
	var cs []container
	for _, r := range raw {
		c := container{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), Running: r.State.Running}
		if b := r.NetworkSettings.Ports["8080/tcp"]; len(b) > 0 {
			c.Port = b[0].HostPort
		}
		c.PeerIP = r.NetworkSettings.Networks[s.peerNetwork()].IPAddress
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b container) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// running returns the project's running node containers.
func (s *stack) running() []container {
	s.t.Helper()
	return slices.DeleteFunc(s.containers(), func(c container) bool { return !c.Running || c.Port == "" })
}

// peerNetwork is the Docker name of the project's peer network.
func (s *stack) peerNetwork() string { return s.project + "_peers" }

// stopWatch follows a container until it stops: its log output and its
// exit code.
type stopWatch struct {
	done chan struct{} // closed once the container stopped (or ctx ended)
	mu   sync.Mutex
	logs bytes.Buffer
	exit string // the exit code `docker wait` printed
	err  error
}

func (w *stopWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.Write(p)
}

// Logs returns the container's log output so far.
func (w *stopWatch) Logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.String()
}

// watchStop starts following a container's logs and waiting for its exit.
func watchStop(ctx context.Context, c container) *stopWatch {
	w := &stopWatch{done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		cmd := exec.CommandContext(ctx, "docker", "logs", "-f", c.ID)
		cmd.Stdout, cmd.Stderr = w, w
		_ = cmd.Run() // ends when the container stops
	})
	wg.Go(func() {
		out, err := run(ctx, "docker", "wait", c.ID)
		w.mu.Lock()
		w.exit, w.err = strings.TrimSpace(out), err
		w.mu.Unlock()
	})
	go func() {
		wg.Wait()
		close(w.done)
	}()
	return w
}
