//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// swarmStack is one test's deployment of deploy/swarm.yml: a stack of its
// own on the local swarm, reached at its tasks' docker_gwbridge addresses.
type swarmStack struct {
	*stack        // the image, the secret, the HTTP helpers
	name   string // the stack's name, unique to this run
	port   string // the published HTTP port (routing mesh)
}

// service is the Docker name of the stack's node service.
func (w *swarmStack) service() string { return w.name + "_node" }

// TestSwarmStack deploys deploy/swarm.yml with `docker stack deploy` and
// takes it through a life: 3 tasks form one cluster, 500 keys are written,
// the service scales to 5, one task's container is killed (Swarm replaces
// it in the same slot, as the same node with its volume), the service is
// rolled with `docker service update --force` while a writer writes, and
// it scales back to 3. Every acknowledged key reads back at the end.
//
// It uses the engine's swarm if there is one (and leaves it be), else
// makes one with `docker swarm init` and leaves it at the end.
func TestSwarmStack(t *testing.T) {
	began := time.Now()
	last := began
	step := func(format string, args ...any) {
		t.Helper()
		now := time.Now()
		t.Logf("[%6.1fs, step %5.1fs] %s", now.Sub(began).Seconds(), now.Sub(last).Seconds(), fmt.Sprintf(format, args...))
		last = now
	}
	w := newSwarmStack(t)
	w.buildImage()
	id := strings.TrimSpace(w.mustDocker(time.Minute, "image", "inspect", "-f", "{{.Id}}", w.image))
	step("built image %s (%s)", w.image, id)

	// By image ID: a task of an image named by a tag makes the engine try
	// a pull first; by ID it runs the local image as it is.
	w.deploy(id)
	cs := w.waitSettled(t, 3, 0, 4*time.Minute)
	step("deployed stack %s: 3 tasks form one cluster: %s", w.name, w.describe(cs))
	// The secret reaches the tasks as a Docker secret file, not in the
	// service's definition, which anyone with manager access can read.
	if spec := w.mustDocker(time.Minute, "service", "inspect", w.service()); strings.Contains(spec, w.secret) {
		t.Errorf("docker service inspect shows the cluster secret")
	}

	kv := map[string]string{}
	for i := range 500 {
		kv[fmt.Sprintf("swarm/key-%04d", i)] = fmt.Sprintf("value %d of %s", i, w.name)
	}
	w.writeKeys(t, ports(cs), kv, 2*time.Minute)
	w.checkKeys(t, ports(cs), kv, 2*time.Minute)
	cs = w.waitSettled(t, 3, len(kv), 2*time.Minute)
	step("wrote and read back %d keys", len(kv))

	w.mustDocker(time.Minute, "service", "scale", "--detach", w.service()+"=5")
	cs = w.waitSettled(t, 5, len(kv), 4*time.Minute)
	w.checkKeys(t, ports(cs), kv, 2*time.Minute)
	step("scaled to 5: %s", w.describe(cs))

	// Kill a follower's container: Swarm starts a new one in its slot,
	// which mounts the slot's volume and so comes back as that node.
	leader := w.leaderOf(t, cs)
	victim := cs[0]
	if victim.ID == leader.ID {
		victim = cs[1]
	}
	victimID := w.idOf(t, victim)
	slot := taskSlot(victim.Name)
	w.mustDocker(time.Minute, "kill", victim.ID)
	step("docker kill %s (node %d, slot %d)", victim.Name, victimID, slot)
	waitFor(t, 4*time.Minute, fmt.Sprintf("a new task in slot %d", slot), func() (bool, string) {
		return slices.ContainsFunc(w.tasks(), func(c container) bool { return taskSlot(c.Name) == slot && c.ID != victim.ID }),
			"no new container in the slot yet"
	})
	step("Swarm started a new task in slot %d", slot)
	cs = w.waitSettled(t, 5, len(kv), 4*time.Minute)
	back := cs[slices.IndexFunc(cs, func(c container) bool { return taskSlot(c.Name) == slot })]
	if got := w.idOf(t, back); got != victimID {
		t.Errorf("slot %d came back as node %d, want node %d", slot, got, victimID)
	}
	w.checkKeys(t, ports(cs), kv, 2*time.Minute)
	step("Swarm replaced the killed task with %s (node %d again); 5 members: %s", back.Name, victimID, w.describe(cs))

	// Roll every task while a writer writes.
	roll := w.rollWhileWriting(t)
	for k, v := range roll.acked {
		kv[k] = v
	}
	step("rolling restart (docker service update --force) took %.1fs; writer: %d writes acknowledged, %d retries on 503 and %d on other passing failures (of which %d unreachable), %d refused after retries (%d writes in %.1fs)",
		roll.took.Seconds(), len(roll.acked), roll.retried503, roll.retriedOther, roll.unreachable, len(roll.refused), roll.attempted, roll.wrote.Seconds())
	if len(roll.refused) > 0 {
		t.Logf("refused during the roll (target 0 beyond retried 503s), e.g.: %s", strings.Join(roll.refused[:min(10, len(roll.refused))], "; "))
	}
	// A refused write may still have been applied: write those keys again,
	// so that the key count the cluster must settle on is known.
	redo := map[string]string{}
	for _, r := range roll.refusedKeys {
		redo[r] = rollValue(r)
	}
	cs = w.waitSettledAtLeast(t, 5, 4*time.Minute)
	w.writeKeys(t, ports(cs), redo, 2*time.Minute)
	for k, v := range redo {
		kv[k] = v
	}
	cs = w.waitSettled(t, 5, len(kv), 4*time.Minute)
	w.checkKeys(t, ports(cs), kv, 2*time.Minute)
	step("after the roll, every one of %d keys reads back (%d acknowledged during the roll): %s", len(kv), len(roll.acked), w.describe(cs))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := watchAll(ctx, cs)
	w.mustDocker(time.Minute, "service", "scale", "--detach", w.service()+"=3")
	remaining := w.waitSettled(t, 3, len(kv), 4*time.Minute)
	var stopped []container
	for _, c := range cs {
		if !slices.ContainsFunc(remaining, func(r container) bool { return r.ID == c.ID }) {
			stopped = append(stopped, c)
		}
	}
	if len(stopped) != 2 {
		t.Errorf("scaling 5 → 3 stopped %d tasks (%s), want 2", len(stopped), names(stopped))
	}
	checkLeft(t, stopped, watch, time.Minute)
	cs = remaining
	w.checkKeys(t, ports(cs), kv, 2*time.Minute)
	step("scaled down to 3 (SIGTERM handoffs of %s); every one of %d keys reads back: %s", names(stopped), len(kv), w.describe(cs))
}

// newSwarmStack prepares a stack of its own on a swarm, making the swarm
// if the engine is in none (and leaving it at the end); it skips the
// test when no Docker engine answers, or the engine is a swarm worker
// (stacks are deployed on managers). Cleanup removes the stack, its
// volumes and the image, also when the test fails.
func newSwarmStack(t *testing.T) *swarmStack {
	t.Helper()
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := run(ctx, "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	if err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	switch state := strings.TrimSpace(out); state {
	case "inactive false":
		// Joining a swarm makes docker_gwbridge, and leaving keeps it.
		_, bridgeErr := run(ctx, "docker", "network", "inspect", "docker_gwbridge")
		if out, err := run(ctx, "docker", "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
			t.Fatalf("docker swarm init: %v\n%s", err, out)
		}
		t.Log("made a single-node swarm (docker swarm init); leaving it at the end")
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if out, err := run(ctx, "docker", "swarm", "leave", "--force"); err != nil {
				t.Errorf("docker swarm leave: %v\n%s", err, out)
			}
			if bridgeErr != nil {
				if out, err := run(ctx, "docker", "network", "rm", "docker_gwbridge"); err != nil {
					t.Errorf("docker network rm docker_gwbridge: %v\n%s", err, out)
				}
			}
		})
	case "active true":
		t.Log("the engine is a swarm manager already: deploying on its swarm")
	case "active false":
		t.Skip("the engine is a swarm worker: stacks are deployed on a manager")
	default:
		t.Fatalf("the engine's swarm is %q; want inactive or active", state)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("jkvswarm%d%04x", os.Getpid(), rand.IntN(1<<16))
	w := &swarmStack{
		stack: &stack{
			t:      t,
			root:   root,
			image:  "jumpkv-e2e:" + name,
			secret: fmt.Sprintf("e2e-%016x%016x", rand.Uint64(), rand.Uint64()),
			http:   &http.Client{Timeout: 10 * time.Second},
		},
		name: name,
	}
	t.Cleanup(w.cleanup)
	return w
}

// deploy deploys deploy/swarm.yml as the stack, with image, a free port
// and a free peer subnet.
func (w *swarmStack) deploy(image string) {
	w.t.Helper()
	w.pickPortsAndSubnet(1)
	w.port, _, _ = strings.Cut(w.ports, "-")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "stack", "deploy", "--resolve-image", "never",
		"-c", filepath.Join(w.root, "deploy", "swarm.yml"), w.name)
	cmd.Dir = w.root
	secretFile := filepath.Join(w.t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(w.secret+"\n"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	cmd.Env = append(os.Environ(),
		"JUMPKV_IMAGE="+image,
		"JUMPKV_HTTP_PORT="+w.port,
		"JUMPKV_PEER_SUBNET="+w.subnet,
		"JUMPKV_CLUSTER_SECRET_FILE="+secretFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
	w.t.Logf("docker stack deploy %s: published port %s, peer subnet %s", w.name, w.port, w.subnet)
}

// cleanup saves the service's logs when the test failed, removes the
// stack and waits until its containers and networks are gone, then
// removes its volumes and the image.
func (w *swarmStack) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t := w.t
	if t.Failed() {
		out, err := run(ctx, "docker", "service", "logs", "--timestamps", "--no-trunc", w.service())
		if err != nil {
			t.Logf("docker service logs: %v", err)
		}
		path := filepath.Join(t.ArtifactDir(), "swarm.log")
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Logf("saving logs: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		tail := lines[max(0, len(lines)-150):]
		t.Logf("service logs (%s; last %d lines):\n%s", path, len(tail), strings.Join(tail, "\n"))
		ps, _ := run(ctx, "docker", "service", "ps", "--no-trunc", w.service())
		t.Logf("docker service ps:\n%s", ps)
	}
	if out, err := run(ctx, "docker", "stack", "rm", w.name); err != nil {
		t.Errorf("docker stack rm: %v\n%s", err, out)
	}
	label := "label=com.docker.stack.namespace=" + w.name
	gone := func(what string, args ...string) {
		for {
			out, err := run(ctx, "docker", args...)
			if err == nil && len(strings.Fields(out)) == 0 {
				return
			}
			if ctx.Err() != nil {
				t.Errorf("%s of stack %s still there after docker stack rm: %v %s", what, w.name, err, out)
				return
			}
			time.Sleep(time.Second) // polling the engine until they are gone
		}
	}
	gone("containers", "container", "ls", "-aq", "--filter", label)
	gone("networks", "network", "ls", "-q", "--filter", label)
	gone("secrets", "secret", "ls", "-q", "--filter", label)
	if out, _ := run(ctx, "docker", "volume", "ls", "-q", "--filter", label); len(strings.Fields(out)) > 0 {
		if out, err := run(ctx, "docker", append([]string{"volume", "rm"}, strings.Fields(out)...)...); err != nil {
			t.Errorf("docker volume rm: %v\n%s", err, out)
		}
	}
	if out, err := run(ctx, "docker", "image", "inspect", w.image); err == nil {
		if out, err := run(ctx, "docker", "image", "rm", "-f", w.image); err != nil {
			t.Errorf("docker image rm %s: %v\n%s", w.image, err, out)
		}
	} else if !strings.Contains(strings.ToLower(out), "no such image") {
		t.Errorf("docker image inspect %s: %v\n%s", w.image, err, out)
	}
}

// tasks lists the running containers of the stack's node service, named
// after their task (<stack>_node.<slot>.<task id>), each with its address
// on docker_gwbridge and port 8080 as its Port.
func (w *swarmStack) tasks() []container {
	w.t.Helper()
	cs, err := w.listTasks()
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

// listTasks is tasks for any goroutine: it returns what fails.
func (w *swarmStack) listTasks() ([]container, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := run(ctx, "docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+w.service())
	if err != nil {
		return nil, fmt.Errorf("docker ps: %v\n%s", err, out)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	// A container removed since the listing makes inspect fail but leaves
	// the others in its output.
	raw, err := exec.CommandContext(ctx, "docker", append([]string{"inspect"}, ids...)...).Output()
	if err != nil && len(strings.TrimSpace(string(raw))) == 0 {
		return nil, fmt.Errorf("docker inspect: %v", err)
	}
	var insp []struct {
		ID     string `json:"Id"`
		State  struct{ Running bool }
		Config struct{ Labels map[string]string }
	}
	if err := json.Unmarshal(raw, &insp); err != nil {
		return nil, fmt.Errorf("docker inspect: %v", err)
	}
	// A task's own address on this engine: the routing mesh does not
	// answer on 127.0.0.1 everywhere, docker_gwbridge does.
	raw, err = exec.CommandContext(ctx, "docker", "network", "inspect", "-f", "{{json .Containers}}", "docker_gwbridge").Output()
	if err != nil {
		return nil, fmt.Errorf("docker network inspect docker_gwbridge: %v", err)
	}
	var bridge map[string]struct{ IPv4Address string }
	if err := json.Unmarshal(raw, &bridge); err != nil {
		return nil, fmt.Errorf("docker network inspect docker_gwbridge: %v", err)
	}
	var cs []container
	for _, r := range insp {
		ip, _, _ := strings.Cut(bridge[r.ID].IPv4Address, "/")
		if !r.State.Running || ip == "" {
			continue
		}
		cs = append(cs, container{ID: r.ID, Name: r.Config.Labels["com.docker.swarm.task.name"], Running: true, Port: ip + ":8080"})
	}
	slices.SortFunc(cs, func(a, b container) int { return taskSlot(a.Name) - taskSlot(b.Name) })
	return cs, nil
}

// taskSlot returns the slot of a task name (<service>.<slot>.<id>), or 0.
func taskSlot(name string) int {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(parts[len(parts)-2])
	return n
}

// waitSettled waits until exactly n tasks run and form one settled
// cluster holding nkeys keys (see stack.settled), and returns them. While
// the nodes follow different leaders it says which follows which, with
// its members: separate clusters show as such.
func (w *swarmStack) waitSettled(t *testing.T, n, nkeys int, timeout time.Duration) []container {
	t.Helper()
	var cs []container
	waitFor(t, timeout, fmt.Sprintf("%d tasks settled", n), func() (bool, string) {
		cs = w.tasks()
		if len(cs) != n {
			return false, fmt.Sprintf("%d tasks running: %s", len(cs), names(cs))
		}
		ok, why := w.settled(cs, nkeys)
		if !ok {
			why += "; " + w.views(cs)
		}
		return ok, why
	})
	return cs
}

// waitSettledAtLeast waits until n tasks run and all are ready, following
// one leader at one epoch, whatever keys they hold, and returns them.
func (w *swarmStack) waitSettledAtLeast(t *testing.T, n int, timeout time.Duration) []container {
	t.Helper()
	var cs []container
	waitFor(t, timeout, fmt.Sprintf("%d tasks ready under one leader", n), func() (bool, string) {
		cs = w.tasks()
		if len(cs) != n {
			return false, fmt.Sprintf("%d tasks running: %s", len(cs), names(cs))
		}
		var first memberView
		for i, c := range cs {
			if code, err := w.getStatus(c.Port, "/readyz"); code != http.StatusOK {
				return false, fmt.Sprintf("%s: /readyz: %d %v", c.Name, code, err)
			}
			var st memberView
			if err := w.getJSON(c.Port, "/admin/status", &st); err != nil {
				return false, c.Name + ": " + err.Error()
			}
			if i == 0 {
				first = st
			} else if st.Leader != first.Leader || st.Epoch != first.Epoch {
				return false, w.views(cs)
			}
		}
		return true, ""
	})
	return cs
}

// memberView is GET /admin/status with the members a node knows.
type memberView struct {
	ID      uint64 `json:"id"`
	Leader  uint64 `json:"leader"`
	Epoch   uint64 `json:"epoch"`
	Keys    int    `json:"keys"`
	Members []struct {
		ID    uint64 `json:"id"`
		State string `json:"state"`
	} `json:"members"`
}

// views says, for each task, its node, the leader it follows, the epoch
// and the members it knows.
func (w *swarmStack) views(cs []container) string {
	var parts []string
	for _, c := range cs {
		var st memberView
		if err := w.getJSON(c.Port, "/admin/status", &st); err != nil {
			parts = append(parts, c.Name+": "+err.Error())
			continue
		}
		var ms []string
		for _, m := range st.Members {
			ms = append(ms, fmt.Sprintf("%d %s", m.ID, m.State))
		}
		parts = append(parts, fmt.Sprintf("%s: node %d, leader %d, epoch %d, %d keys, members [%s]",
			c.Name, st.ID, st.Leader, st.Epoch, st.Keys, strings.Join(ms, ", ")))
	}
	return strings.Join(parts, "; ")
}

// rollResult is what the writer saw during a rolling restart.
type rollResult struct {
	took         time.Duration     // from `service update` until the update completed
	wrote        time.Duration     // how long the writer wrote
	attempted    int               // writes tried
	acked        map[string]string // the writes acknowledged (200)
	retried503   int               // tries answered 503 and retried
	retriedOther int               // other passing failures retried (unreachable, 502, 504)
	unreachable  int               // of those, no answer at all
	refused      []string          // why each refused write was refused
	refusedKeys  []string          // the keys of the refused writes
}

// rollWritePace is the least time between two writes of the roll's
// writer (a write and its retries may take longer).
const rollWritePace = 20 * time.Millisecond

// rollValue is the value the roll's writer writes under key.
func rollValue(key string) string { return "written during the roll: " + key }

// rollWhileWriting runs `docker service update --force` on the node
// service while one writer writes keys one after the other through the
// running tasks, at most one every rollWritePace, and returns when the
// update has completed and the writer stopped. Every task running before
// the update must exit 0 having handed its buckets off (within the stack
// file's stop_grace_period). A write is retried, with backoff, on the next task while it
// fails in a way that may pass (503, 502, 504, no answer), for up to 20
// tries; one that still fails, or fails otherwise, is refused. Only
// acknowledged writes are recorded as written.
func (w *swarmStack) rollWhileWriting(t *testing.T) rollResult {
	t.Helper()
	var addrs atomic.Pointer[[]string]
	refresh := func() {
		cs, err := w.listTasks()
		if err != nil {
			return // the addresses known stay; the next refresh tries again
		}
		var as []string
		for _, c := range cs {
			as = append(as, c.Port)
		}
		if len(as) > 0 {
			addrs.Store(&as)
		}
	}
	as := ports(w.tasks())
	if len(as) == 0 {
		t.Fatal("no task runs")
	}
	addrs.Store(&as)
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	var res rollResult
	res.acked = map[string]string{}
	var wg sync.WaitGroup
	wg.Go(func() { // the writer
		began := time.Now()
		defer func() { res.wrote = time.Since(began) }()
		next := 0
		// Paced, so that the writes span the whole roll (a few minutes)
		// and their keys stay quick to read back.
		pace := time.NewTicker(rollWritePace)
		defer pace.Stop()
		for i := 0; i < 30_000 && time.Since(began) < 15*time.Minute; i++ {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			key := fmt.Sprintf("roll/key-%05d", i)
			res.attempted++
			backoff := 50 * time.Millisecond
			for try := 1; ; try++ {
				as := *addrs.Load()
				addr := as[next%len(as)]
				next++
				code, err := w.put(addr, key, rollValue(key))
				if code == http.StatusOK {
					res.acked[key] = rollValue(key)
					break
				}
				if !retryable(code, err) || try == 20 {
					res.refused = append(res.refused, fmt.Sprintf("PUT %s via %s (try %d): %d %v", key, addr, try, code, err))
					res.refusedKeys = append(res.refusedKeys, key)
					break
				}
				switch {
				case code == http.StatusServiceUnavailable:
					res.retried503++
				default:
					res.retriedOther++
					if err != nil {
						res.unreachable++
					}
				}
				time.Sleep(backoff) // back off before the retry
				backoff = min(2*backoff, time.Second)
			}
		}
	})
	wg.Go(func() { // the task addresses, as they change
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				refresh()
			}
		}
	})
	defer wg.Wait()
	defer halt() // on a failure too: the writer stops before the test ends
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := w.tasks()
	watch := watchAll(ctx, before)
	began := time.Now()
	w.mustDocker(2*time.Minute, "service", "update", "--detach", "--force", "--no-resolve-image", w.service())
	var state string
	waitFor(t, 12*time.Minute, "the rolling update to complete", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := run(ctx, "docker", "service", "inspect", "-f", "{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.Message}}{{end}}", w.service())
		state = strings.TrimSpace(out)
		if err != nil {
			return false, fmt.Sprintf("docker service inspect: %v %s", err, out)
		}
		switch {
		case strings.HasPrefix(state, "completed"):
			return true, ""
		case strings.HasPrefix(state, "paused"), strings.HasPrefix(state, "rollback"):
			t.Fatalf("the rolling update failed: %s", state)
		}
		return false, "update state: " + state
	})
	res.took = time.Since(began)
	halt()
	wg.Wait()
	checkLeft(t, before, watch, time.Minute)
	return res
}

// watchAll starts following every container of cs until it stops (see
// watchStop), by container ID.
func watchAll(ctx context.Context, cs []container) map[string]*stopWatch {
	watch := map[string]*stopWatch{}
	for _, c := range cs {
		watch[c.ID] = watchStop(ctx, c)
	}
	return watch
}

// checkLeft fails the test unless every container of cs stops within
// timeout with exit code 0, having logged that it handed its buckets off
// and left the cluster: a handoff that outlasts stop_grace_period ends in
// SIGKILL (137).
func checkLeft(t *testing.T, cs []container, watch map[string]*stopWatch, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for _, c := range cs {
		w := watch[c.ID]
		select {
		case <-w.done:
		case <-deadline:
			t.Fatalf("%s: still running %v after Swarm stopped it", c.Name, timeout)
		}
		if w.exit != "0" {
			t.Errorf("%s exited with %q (%v), want 0: killed before its handoff ended?", c.Name, w.exit, w.err)
		}
		logs := w.Logs()
		if !strings.Contains(logs, "left the cluster") || strings.Contains(logs, "could not hand buckets off") {
			t.Errorf("%s did not log a completed handoff (`left the cluster`):\n%s", c.Name, logs)
		}
	}
}
