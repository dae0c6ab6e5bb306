//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxImageSize is the most the node image may weigh (docker's MB).
const maxImageSize = 25_000_000

// TestCluster runs the compose cluster through a life: start 3, write
// 1,000 keys, scale to 5 and check the rebalance, kill the leader, cut a
// node off its peers and reconnect it, bring the killed node back, scale
// down to 3 with SIGTERM handoffs, and read every key after each step.
func TestCluster(t *testing.T) {
	began := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	s := newStack(t)

	size := s.buildImage()
	step("built image %s: %d bytes (%.1f MB)", s.image, size, float64(size)/1e6)
	if size >= maxImageSize {
		t.Errorf("the image is %d bytes, want under %d", size, maxImageSize)
	}

	// Three nodes, the compose file's default.
	s.up()
	cs := s.waitSettled(t, 3, 0, 2*time.Minute)
	step("3 nodes up and settled: %s", names(cs))
	logs := s.mustCompose(time.Minute, "logs", "--no-color")
	if !strings.Contains(logs, "leader elected") {
		t.Errorf("compose logs show no `leader elected` line:\n%s", logs)
	}
	for _, c := range cs {
		if code, err := s.getStatus(c.Port, "/healthz"); code != http.StatusOK {
			t.Errorf("%s: /healthz: %d %v", c.Name, code, err)
		}
	}

	kv := map[string]string{}
	for i := range 1000 {
		kv[fmt.Sprintf("e2e/key-%04d", i)] = fmt.Sprintf("value %d of %s", i, s.project)
	}
	s.writeKeys(t, ports(cs), kv, time.Minute)
	s.checkKeys(t, ports(cs), kv, time.Minute)
	cs = s.waitSettled(t, 3, len(kv), time.Minute)
	step("wrote and read back %d keys", len(kv))

	// Scale to 5: the newcomers take their share; primaries even out.
	s.mustCompose(3*time.Minute, "up", "-d", "--no-build", "--no-recreate", "--scale", "node=5")
	cs = s.waitSettled(t, 5, len(kv), 2*time.Minute)
	s.checkKeys(t, ports(cs), kv, time.Minute)
	step("scaled to 5 and rebalanced: %s", s.describe(cs))

	// Kill the leader: a new one takes writes; every key survives.
	dead := s.leaderOf(t, cs)
	killing := time.Now()
	s.mustDocker(time.Minute, "kill", dead.ID)
	killed := time.Now()
	step("docker kill %s (the leader) took %.2fs", dead.Name, killed.Sub(killing).Seconds())
	survivors := without(cs, dead)
	waitFor(t, time.Minute, "a write after the leader's death", func() (bool, string) {
		code, err := s.put(survivors[0].Port, "e2e/after-kill", "written after the kill")
		survivors = append(survivors[1:], survivors[0]) // the next try goes elsewhere
		return code == http.StatusOK, fmt.Sprintf("PUT: %d %v", code, err)
	})
	kv["e2e/after-kill"] = "written after the kill"
	step("writes accepted again %.2fs after `docker kill` returned, %.2fs after it began (polled every 0.25s)",
		time.Since(killed).Seconds(), time.Since(killing).Seconds())
	s.checkKeys(t, ports(survivors), kv, time.Minute)
	cs = s.waitSettled(t, 4, len(kv), 2*time.Minute)
	step("every key readable; the dead node's copies re-replicated: %s", s.describe(cs))

	// Cut the (new) leader off its peers; clients still reach it.
	cut := s.leaderOf(t, cs)
	cutID := s.idOf(t, cut)
	s.mustDocker(time.Minute, "network", "disconnect", s.peerNetwork(), cut.ID)
	step("disconnected %s from the peer network", cut.Name)
	others := without(cs, cut)
	waitFor(t, time.Minute, "the others to elect a leader without the cut-off node", func() (bool, string) {
		for _, o := range others {
			var v clusterView
			if err := s.getJSON(o.Port, "/v1/cluster", &v); err != nil {
				return false, o.Name + ": " + err.Error()
			}
			if v.Leader == 0 || v.Leader == cutID {
				return false, fmt.Sprintf("%s follows leader %d", o.Name, v.Leader)
			}
		}
		return true, ""
	})
	waitFor(t, time.Minute, "the cut-off node to know it is cut off", func() (bool, string) {
		code, err := s.getStatus(cut.Port, "/readyz")
		return code == http.StatusServiceUnavailable, fmt.Sprintf("/readyz: %d %v", code, err)
	})
	if code, err := s.put(cut.Port, "e2e/through-the-cut-off-node", "must not be acknowledged"); code/100 == 2 {
		t.Errorf("the cut-off node acknowledged a write: %d %v", code, err)
	}
	during := map[string]string{}
	for i := range 50 {
		during[fmt.Sprintf("e2e/during-cut-%02d", i)] = fmt.Sprintf("written while %s was cut off", cut.Name)
	}
	s.writeKeys(t, ports(others), during, time.Minute)
	for k, v := range during {
		kv[k] = v
	}
	s.checkKeys(t, ports(others), kv, time.Minute)
	step("service continued without %s: wrote %d keys, read all %d", cut.Name, len(during), len(kv))

	// Reconnect it where it was: the cluster heals around it.
	s.mustDocker(time.Minute, "network", "connect", "--ip", cut.PeerIP, "--alias", "peers", "--alias", "node",
		s.peerNetwork(), cut.ID)
	cs = s.waitSettled(t, 4, len(kv), 2*time.Minute)
	s.checkKeys(t, []string{cut.Port}, kv, time.Minute)
	step("reconnected %s; healed: %s", cut.Name, s.describe(cs))

	// Bring the killed node back (it starts empty and is refilled).
	s.mustCompose(3*time.Minute, "up", "-d", "--no-build", "--no-recreate", "--scale", "node=5")
	cs = s.waitSettled(t, 5, len(kv), 2*time.Minute)
	step("5 nodes again: %s", s.describe(cs))

	// Scale down to 3: compose stops two nodes with SIGTERM; they hand
	// their buckets off and leave the membership.
	ids := map[string]uint64{}
	for _, c := range cs {
		ids[c.ID] = s.idOf(t, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := map[string]*stopWatch{}
	for _, c := range cs {
		watch[c.ID] = watchStop(ctx, c)
	}
	s.mustCompose(3*time.Minute, "up", "-d", "--no-build", "--no-recreate", "--scale", "node=3")
	remaining := s.running()
	var stopped []container
	for _, c := range cs {
		if !slices.ContainsFunc(remaining, func(r container) bool { return r.ID == c.ID }) {
			stopped = append(stopped, c)
		}
	}
	if len(stopped) != 2 {
		t.Fatalf("scaling 5 → 3 stopped %d containers (%s), want 2", len(stopped), names(stopped))
	}
	for _, c := range stopped {
		w := watch[c.ID]
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			t.Fatalf("%s: still watched a minute after compose stopped it", c.Name)
		}
		// A handoff that outlasts stop_grace_period ends in SIGKILL (137).
		if w.exit != "0" {
			t.Errorf("%s exited with %q (%v), want 0: killed before its handoff ended?", c.Name, w.exit, w.err)
		}
		logs := w.Logs()
		if !strings.Contains(logs, "left the cluster") || strings.Contains(logs, "could not hand buckets off") {
			t.Errorf("%s did not log a completed handoff (`left the cluster`):\n%s", c.Name, logs)
		}
	}
	cs = s.waitSettled(t, 3, len(kv), 2*time.Minute)
	var view clusterView
	if err := s.getJSON(cs[0].Port, "/v1/cluster", &view); err != nil {
		t.Fatal(err)
	}
	for _, c := range stopped {
		if slices.ContainsFunc(view.Nodes, func(n nodeView) bool { return n.ID == ids[c.ID] }) {
			t.Errorf("%s (node %d) stopped with SIGTERM but is still a member: %+v", c.Name, ids[c.ID], view.Nodes)
		}
	}
	s.checkKeys(t, ports(cs), kv, time.Minute)
	step("scaled down to 3 (stopped %s with SIGTERM); every key readable: %s", names(stopped), s.describe(cs))

	// Durability: every node at once, three ways; each node keeps its
	// data in the volume, so every key survives.
	for _, how := range []struct {
		what string
		cmds [][]string
	}{
		{"docker compose kill (SIGKILL every node), then start", [][]string{{"kill"}, {"start"}}},
		{"docker compose restart", [][]string{{"restart"}}},
		{"docker compose up -d --force-recreate (new containers)", [][]string{{"up", "-d", "--no-build", "--force-recreate", "--scale", "node=3"}}},
	} {
		began := time.Now()
		for _, cmd := range how.cmds {
			s.mustCompose(3*time.Minute, cmd...)
		}
		cs = s.waitSettled(t, 3, len(kv), 3*time.Minute)
		s.checkKeys(t, ports(cs), kv, time.Minute)
		step("%s: every one of %d keys readable again %.1fs later: %s", how.what, len(kv), time.Since(began).Seconds(), s.describe(cs))
	}
}

// waitSettled waits until exactly n node containers run and form one
// settled cluster holding nkeys keys, and returns them.
func (s *stack) waitSettled(t *testing.T, n, nkeys int, timeout time.Duration) []container {
	t.Helper()
	var cs []container
	waitFor(t, timeout, fmt.Sprintf("%d nodes settled", n), func() (bool, string) {
		cs = s.running()
		if len(cs) != n {
			return false, fmt.Sprintf("%d containers running: %s", len(cs), names(cs))
		}
		return s.settled(cs, nkeys)
	})
	return cs
}

// settled reports whether the running containers cs form one cluster at
// rest, and if not, why: every node ready and following the same leader
// at the same epoch; exactly these nodes alive; every bucket with
// `replicas` copies (auto: floor(n/2)+1), every node holding some,
// primaries per node differing by at most one; and every key on exactly
// `replicas` nodes.
func (s *stack) settled(cs []container, nkeys int) (bool, string) {
	running := map[uint64]string{}
	keyCopies := 0
	var perNode []string
	var statuses []statusView
	for _, c := range cs {
		if code, err := s.getStatus(c.Port, "/readyz"); code != http.StatusOK {
			return false, fmt.Sprintf("%s: /readyz: %d %v", c.Name, code, err)
		}
		var st statusView
		if err := s.getJSON(c.Port, "/admin/status", &st); err != nil {
			return false, c.Name + ": " + err.Error()
		}
		running[st.ID] = c.Name
		keyCopies += st.Keys
		perNode = append(perNode, fmt.Sprintf("%s %d", c.Name, st.Keys))
		statuses = append(statuses, st)
	}
	var v clusterView
	if err := s.getJSON(cs[0].Port, "/v1/cluster", &v); err != nil {
		return false, cs[0].Name + ": " + err.Error()
	}
	if running[v.Leader] == "" {
		return false, fmt.Sprintf("leader %d is no running container", v.Leader)
	}
	for i, st := range statuses {
		if st.Leader != v.Leader || st.Epoch != v.Epoch {
			return false, fmt.Sprintf("%s follows leader %d at epoch %d; the cluster says %d at %d",
				cs[i].Name, st.Leader, st.Epoch, v.Leader, v.Epoch)
		}
	}
	if want := len(cs)/2 + 1; v.Replicas != want {
		return false, fmt.Sprintf("replicas %d, want %d for %d nodes", v.Replicas, want, len(cs))
	}
	alive, primaries, copies := 0, 0, 0
	minP, maxP := v.Buckets, 0
	for _, n := range v.Nodes {
		if n.State != "alive" {
			continue
		}
		alive++
		if running[n.ID] == "" {
			return false, fmt.Sprintf("alive member %d (%s) is no running container", n.ID, n.Peer)
		}
		if n.BucketsPrimary == 0 || v.Replicas > 1 && n.BucketsBackup == 0 {
			return false, fmt.Sprintf("node %d holds %d primaries and %d backups", n.ID, n.BucketsPrimary, n.BucketsBackup)
		}
		primaries += n.BucketsPrimary
		copies += n.BucketsPrimary + n.BucketsBackup
		minP, maxP = min(minP, n.BucketsPrimary), max(maxP, n.BucketsPrimary)
	}
	switch {
	case alive != len(cs):
		return false, fmt.Sprintf("%d members alive, %d containers running: %+v", alive, len(cs), v.Nodes)
	case primaries != v.Buckets || copies != v.Buckets*v.Replicas:
		return false, fmt.Sprintf("live nodes hold %d primaries and %d copies, want %d and %d", primaries, copies, v.Buckets, v.Buckets*v.Replicas)
	case maxP-minP > 1:
		return false, fmt.Sprintf("primaries per node range from %d to %d: %+v", minP, maxP, v.Nodes)
	case keyCopies != nkeys*v.Replicas:
		return false, fmt.Sprintf("the nodes hold %d key copies (%s), want %d keys × %d replicas",
			keyCopies, strings.Join(perNode, ", "), nkeys, v.Replicas)
	}
	return true, ""
}

// describe summarises the cluster for the test log.
func (s *stack) describe(cs []container) string {
	var v clusterView
	if err := s.getJSON(cs[0].Port, "/v1/cluster", &v); err != nil {
		return err.Error()
	}
	var parts []string
	for _, n := range v.Nodes {
		parts = append(parts, fmt.Sprintf("%s %s %d+%d", n.Peer, n.State, n.BucketsPrimary, n.BucketsBackup))
	}
	return fmt.Sprintf("leader %d, epoch %d, replicas %d; primary+backup buckets: %s",
		v.Leader, v.Epoch, v.Replicas, strings.Join(parts, ", "))
}

// getStatus returns the status of GET path at the node on port.
func (s *stack) getStatus(port, path string) (int, error) {
	resp, err := s.http.Get(base(port) + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// idOf returns the node ID of a container.
func (s *stack) idOf(t *testing.T, c container) uint64 {
	t.Helper()
	var st statusView
	if err := s.getJSON(c.Port, "/admin/status", &st); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return st.ID
}

// leaderOf returns the container of cs that leads.
func (s *stack) leaderOf(t *testing.T, cs []container) container {
	t.Helper()
	var v clusterView
	if err := s.getJSON(cs[0].Port, "/v1/cluster", &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if s.idOf(t, c) == v.Leader {
			return c
		}
	}
	t.Fatalf("leader %d is none of %s", v.Leader, names(cs))
	return container{}
}

func ports(cs []container) []string {
	var ps []string
	for _, c := range cs {
		ps = append(ps, c.Port)
	}
	return ps
}

func names(cs []container) string {
	var ns []string
	for _, c := range cs {
		ns = append(ns, c.Name)
	}
	return strings.Join(ns, " ")
}

func without(cs []container, gone container) []container {
	return slices.DeleteFunc(slices.Clone(cs), func(c container) bool { return c.ID == gone.ID })
}
