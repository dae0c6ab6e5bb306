package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/client"
	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
)

// cliCluster is an in-process cluster whose nodes serve HTTP on loopback,
// for running CLI commands against.
type cliCluster struct {
	*clustertest.Cluster
	urls []string // by node index
	srvs []*httptest.Server
}

func startCLICluster(t *testing.T, nodes int) *cliCluster {
	t.Helper()
	c := clustertest.Start(t, clustertest.Options{Nodes: nodes, DeadAfter: 300 * time.Millisecond,
		Configure: func(i int, cfg *node.Config) { cfg.Name = fmt.Sprintf("node-%d", i+1) }})
	c.WaitFor(30*time.Second, "a ready cluster", func() bool { return c.Leader() != nil && c.AllReady() })
	cc := &cliCluster{Cluster: c}
	for _, n := range c.Nodes() {
		srv := httptest.NewServer(n.HTTP)
		t.Cleanup(srv.Close)
		cc.srvs = append(cc.srvs, srv)
		cc.urls = append(cc.urls, srv.URL)
	}
	return cc
}

// terminal is a buffer that says it is a terminal.
type terminal struct{ bytes.Buffer }

func (*terminal) IsTerminal() bool { return true }

// cli runs a jumpkv command line in process with stdin and env, and
// returns its exit code, stdout and stderr.
func cli(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runWithStdin(ctx, args, env, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// runWithStdin is run with stdin given (run reads os.Stdin).
func runWithStdin(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args = hoistFlags(args, isBoolFlag)
	if len(args) > 0 {
		if _, ok := clientCommands[args[0]]; ok {
			return runClient(ctx, args[0], args[1:], env, stdin, stdout, stderr)
		}
	}
	return run(ctx, args, env, stdout, stderr)
}

// TestFlagsAnywhere: a flag before the command, after its arguments or
// between them means the same; $JUMPKV_ADDR stands in for --addr, and a
// flag beats it.
func TestFlagsAnywhere(t *testing.T) {
	cc := startCLICluster(t, 1)
	addr := cc.urls[0]
	if code, out, errs := cli(t, nil, "", "--addr", addr, "put", "k", "v1"); code != 0 || !strings.HasPrefix(out, "ok, version ") {
		t.Fatalf("flag before the command: %d %q %q", code, out, errs)
	}
	for _, args := range [][]string{
		{"--addr", addr, "get", "k"},
		{"--addr=" + addr, "get", "k"},
		{"get", "k", "--addr", addr},
		{"get", "--addr", addr, "k"},
		{"-o", "text", "--addr", addr, "--timeout", "5s", "get", "k"},
		{"--insecure", "--addr", addr, "get", "k"}, // a value-less flag first
	} {
		if code, out, errs := cli(t, nil, "", args...); code != 0 || out != "v1" {
			t.Errorf("%q: %d %q %q, want v1", args, code, out, errs)
		}
	}
	env := []string{"JUMPKV_ADDR=" + addr}
	if code, out, errs := cli(t, env, "", "get", "k"); code != 0 || out != "v1" {
		t.Fatalf("JUMPKV_ADDR: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, env, "", "get", "k", "--addr", deadAddr(t)); code != 1 || !strings.Contains(errs, "cannot reach") {
		t.Fatalf("--addr beats JUMPKV_ADDR: %d %q", code, errs)
	}
	// -- ends the flags: a value that looks like one is a value.
	if code, _, errs := cli(t, env, "", "put", "neg", "--", "-5"); code != 0 {
		t.Fatalf("put neg -- -5: %d %q", code, errs)
	}
	if code, out, _ := cli(t, env, "", "get", "neg"); code != 0 || out != "-5" {
		t.Fatalf("get neg: %d %q", code, out)
	}
}

// TestEndpointFailover: with --addr listing several nodes, commands go on
// through the next when the first is down, and a node that stops is
// skipped for good.
func TestEndpointFailover(t *testing.T) {
	cc := startCLICluster(t, 3)
	addrs := deadAddr(t) + "," + cc.urls[0] + "," + cc.urls[1]
	env := []string{"JUMPKV_ADDR=" + addrs}
	if code, out, errs := cli(t, env, "", "put", "f/k", "v"); code != 0 || !strings.HasPrefix(out, "ok") {
		t.Fatalf("put past a dead first endpoint: %d %q %q", code, out, errs)
	}
	cc.srvs[0].Close() // the second endpoint goes away too
	for _, args := range [][]string{{"get", "f/k"}, {"ls", "f/"}, {"health"}, {"status"}} {
		if code, out, errs := cli(t, env, "", args...); code != 0 || out == "" && args[0] != "health" {
			t.Errorf("%q with two endpoints down: %d %q %q", args, code, out, errs)
		}
	}
	// Every endpoint down: one line saying which, and what to do.
	code, _, errs := cli(t, []string{"JUMPKV_ADDR=" + deadAddr(t)}, "", "get", "f/k")
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "cannot reach") || !strings.Contains(errs, "JUMPKV_ADDR") {
		t.Fatalf("no endpoint up: %d %q", code, errs)
	}
}

// TestPutConditionsGetVerboseAndJSON: put --if-absent and --if-match
// write only when their condition holds, get -v shows the version and
// content type, -o json prints each result as JSON, and a value printed
// to a terminal ends with a newline.
func TestPutConditionsGetVerboseAndJSON(t *testing.T) {
	cc := startCLICluster(t, 1)
	env := []string{"JUMPKV_ADDR=" + cc.urls[0]}
	code, out, errs := cli(t, env, "", "put", "c/k", "one", "--if-absent", "-o", "json", "--content-type", "text/plain")
	var put struct{ Key, Version string }
	if code != 0 || json.Unmarshal([]byte(out), &put) != nil || put.Key != "c/k" || put.Version == "" {
		t.Fatalf("put --if-absent -o json: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, env, "", "put", "c/k", "two", "--if-absent"); code != 1 || !strings.Contains(errs, "exists: not written (--if-absent)") {
		t.Fatalf("put --if-absent over a key: %d %q", code, errs)
	}
	if code, _, errs := cli(t, env, "", "put", "c/k", "two", "--if-match", put.Version+"9"); code != 1 || !strings.Contains(errs, "not written (--if-match)") {
		t.Fatalf("put --if-match of another version: %d %q", code, errs)
	}
	if code, out, errs := cli(t, env, "", "put", "c/k", "two", "--if-match", put.Version, "--content-type", "text/plain"); code != 0 || !strings.HasPrefix(out, "ok, version ") {
		t.Fatalf("put --if-match of its version: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, env, "", "put", "c/k", "x", "--if-match", "1.1", "--if-absent"); code != 2 || !strings.Contains(errs, "give one") {
		t.Fatalf("both conditions: %d %q", code, errs)
	}
	code, out, _ = cli(t, env, "", "get", "-v", "c/k")
	if code != 0 || !strings.Contains(out, "content-type: text/plain\n") || !strings.Contains(out, "size:         3 bytes\n") ||
		!strings.Contains(out, "version:      ") || !strings.HasSuffix(out, "\n\ntwo\n") {
		t.Fatalf("get -v: %d %q", code, out)
	}
	code, out, _ = cli(t, env, "", "get", "c/k", "-o", "json")
	var v valueJSON
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || string(v.Value) != "two" || v.ContentType != "text/plain" || v.Size != 3 {
		t.Fatalf("get -o json: %d %q", code, out)
	}
	// No newline added to a pipe (the bytes are the value), one added on
	// a terminal, none doubled.
	if code, out, _ := cli(t, env, "", "get", "c/k"); code != 0 || out != "two" {
		t.Fatalf("get to a pipe: %q", out)
	}
	var term terminal
	if code := runClient(t.Context(), "get", []string{"c/k"}, env, nil, &term, io.Discard); code != 0 || term.String() != "two\n" {
		t.Fatalf("get to a terminal: %d %q", code, term.String())
	}
	cli(t, env, "", "put", "c/nl", "line\n")
	term.Reset()
	if code := runClient(t.Context(), "get", []string{"c/nl"}, env, nil, &term, io.Discard); code != 0 || term.String() != "line\n" {
		t.Fatalf("get of a value ending in a newline to a terminal: %d %q", code, term.String())
	}
	if code, out, _ := cli(t, env, "", "ls", "c/", "-o", "json"); code != 0 || out != "[\"c/k\",\"c/nl\"]\n" {
		t.Fatalf("ls -o json: %d %q", code, out)
	}
	if code, out, _ := cli(t, env, "", "ls", "none/", "-o", "json"); code != 0 || out != "[]\n" {
		t.Fatalf("ls -o json of nothing: %d %q", code, out)
	}
	if code, out, _ := cli(t, env, "", "health", "-o", "json"); code != 0 || out != "{\"status\":\"ok\"}\n" {
		t.Fatalf("health -o json: %d %q", code, out)
	}
}

// TestDeletePrefix: del --prefix deletes a handful at once, asks before
// deleting more (nothing deleted without a yes), and --yes skips the
// question.
func TestDeletePrefix(t *testing.T) {
	cc := startCLICluster(t, 1)
	env := []string{"JUMPKV_ADDR=" + cc.urls[0]}
	n := cc.Node(0)
	for i := range 15 {
		if r := n.Do(http.MethodPut, fmt.Sprintf("/v1/kv/many/%02d", i), []byte("v")); r.Status != 200 {
			t.Fatal(r)
		}
	}
	for i := range 3 {
		n.Do(http.MethodPut, fmt.Sprintf("/v1/kv/few/%d", i), []byte("v"))
	}
	n.Do(http.MethodPut, "/v1/kv/keep", []byte("v"))
	count := func(prefix string) int {
		_, out, _ := cli(t, env, "", "ls", prefix)
		return strings.Count(out, "\n")
	}
	if code, out, errs := cli(t, env, "", "del", "--prefix", "few/"); code != 0 || out != "deleted 3 keys under \"few/\"\n" || errs != "" || count("few/") != 0 {
		t.Fatalf("del --prefix of 3 keys: %d %q %q", code, out, errs)
	}
	code, _, errs := cli(t, env, "n\n", "del", "--prefix", "many/")
	if code != 1 || !strings.Contains(errs, "delete 15 keys under \"many/\"") || !strings.Contains(errs, "nothing deleted") || count("many/") != 15 {
		t.Fatalf("del --prefix of 15 keys, answered n: %d %q, %d left", code, errs, count("many/"))
	}
	if code, _, errs := cli(t, env, "", "del", "--prefix", "many/"); code != 1 || count("many/") != 15 {
		t.Fatalf("del --prefix of 15 keys, no answer: %d %q", code, errs)
	}
	if code, out, errs := cli(t, env, "yes\n", "del", "--prefix", "many/"); code != 0 || out != "deleted 15 keys under \"many/\"\n" || count("many/") != 0 {
		t.Fatalf("del --prefix answered yes: %d %q %q", code, out, errs)
	}
	for i := range 12 {
		n.Do(http.MethodPut, fmt.Sprintf("/v1/kv/more/%02d", i), []byte("v"))
	}
	if code, out, _ := cli(t, env, "", "del", "--prefix", "more/", "--yes", "-o", "json"); code != 0 || out != "{\"deleted\":12,\"prefix\":\"more/\"}\n" {
		t.Fatalf("del --prefix --yes -o json: %d %q", code, out)
	}
	if count("") != 1 {
		t.Fatalf("a key outside the prefixes went: %d left", count(""))
	}
	if code, _, errs := cli(t, env, "", "del", "k", "--prefix", "x"); code != 2 || !strings.Contains(errs, "not both") {
		t.Fatalf("del KEY --prefix: %d %q", code, errs)
	}
}

// TestStatusAndMemberRemove: `jumpkv status` prints the cluster as a table
// with names next to IDs; a dead member is listed until `jumpkv member
// remove NAME` takes it out; removing a live member is refused.
func TestStatusAndMemberRemove(t *testing.T) {
	cc := startCLICluster(t, 3)
	env := []string{"JUMPKV_ADDR=" + cc.urls[1] + "," + cc.urls[2]}
	code, out, errs := cli(t, env, "", "status")
	if code != 0 || !strings.Contains(out, "leader:   node-3 (") || !strings.Contains(out, "mode read-write") ||
		!strings.Contains(out, "NAME    ID") || strings.Count(out, "alive") != 3 {
		t.Fatalf("status: %d\n%s%s", code, out, errs)
	}
	for _, name := range []string{"node-1", "node-2", "node-3"} {
		if !strings.Contains(out, "\n"+name+"  ") {
			t.Fatalf("status lists no %s:\n%s", name, out)
		}
	}
	if code, _, errs := cli(t, env, "", "member", "remove", "node-1"); code != 1 || !strings.Contains(errs, "only a dead member can be removed") {
		t.Fatalf("removing a live member: %d %q", code, errs)
	}
	cc.Kill(0)
	// The node asked and the leader that decides may see the death a
	// heartbeat apart: until the leader does, it answers "is suspect".
	var removed string
	cc.WaitFor(10*time.Second, "node-1 removed once seen dead", func() bool {
		code, out, errs := cli(t, env, "", "member", "remove", "node-1")
		if code != 0 && !strings.Contains(errs, "only a dead member can be removed") {
			t.Fatalf("member remove node-1: %d %q %q", code, out, errs)
		}
		removed = out
		return code == 0
	})
	if !strings.HasPrefix(removed, "removed node-1 (") {
		t.Fatalf("member remove node-1 printed %q", removed)
	}
	_, out, _ = cli(t, env, "", "status", "-o", "json")
	var ci client.ClusterInfo
	if err := json.Unmarshal([]byte(out), &ci); err != nil || len(ci.Nodes) != 2 {
		t.Fatalf("status -o json after the removal: %v %q", err, out)
	}
	if code, _, errs := cli(t, env, "", "member", "remove", "node-1"); code != 1 || !strings.Contains(errs, "is no member") {
		t.Fatalf("removing it again: %d %q", code, errs)
	}
}

// TestWriteStatus pins the status table's layout.
func TestWriteStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ci := &client.ClusterInfo{Leader: 3, Term: uint64(now.Add(-90 * time.Second).UnixMicro()), Epoch: 7, Replicas: 1, ReplicasWanted: 3,
		Buckets: 1024, Mode: "read-write", Warnings: []string{"replicas: wanted 3, have 1 (1 members)"},
		Nodes: []client.NodeInfo{{ID: 3, Name: "node-1", HTTP: "127.0.0.1:8080", State: "alive", Role: "leader", BucketsPrimary: 1024, Keys: 12}}}
	var b bytes.Buffer
	if err := writeStatus(&b, ci, now); err != nil {
		t.Fatal(err)
	}
	want := `leader:   node-1 (3), term began 1m30s ago (2026-01-02 03:02:35 UTC), mode read-write
cluster:  1 members, 1 (wanted 3) copies of each of 1024 buckets, placement epoch 7
warning:  replicas: wanted 3, have 1 (1 members)

NAME    ID  HTTP            STATE  ROLE    PRIMARY  BACKUP  KEYS
node-1  3   127.0.0.1:8080  alive  leader  1024     0       12
`
	if b.String() != want {
		t.Fatalf("status table:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := termText(42, now); got != "term 42" {
		t.Fatalf("a term that is no time: %q", got)
	}
}

// TestClusterValidatesNodeFlagsOnce: a bad node flag after -- is said
// once, in one line, and no node starts.
func TestClusterValidatesNodeFlagsOnce(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "--", "--replicas", "0"}, `jumpkv cluster: node flags after --: --replicas "0": want a positive number of copies or auto`},
		{[]string{"cluster", "--", "--dead-after", "banana"}, `jumpkv cluster: node flags after --: --dead-after "banana": want a duration such as 2s, 500ms or 1m30s`},
		{[]string{"cluster", "--", "--buckets", "0"}, "jumpkv cluster: node flags after --: --buckets 0 must be between 1 and 1048576"},
		{[]string{"cluster", "--replicas", "3"}, "jumpkv cluster: unknown flag --replicas (jumpkv cluster --help lists the flags); node flags go after --: jumpkv cluster -- --replicas ..."},
	} {
		var stdout, stderr bytes.Buffer
		// --nodes 0 stops the command before it starts anything, should
		// the node flags pass.
		args := append([]string{"cluster", "--nodes", "0"}, tc.args[1:]...)
		code := run(t.Context(), args, nil, &stdout, &stderr)
		if code != 2 || strings.TrimSpace(stderr.String()) != tc.want || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and only %q", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

// TestNodeDefaults: a node given none of --http, --peer, --join and
// --advertise listens on loopback; any of them keeps the given or
// every-interface addresses; the advertised HTTP address is one the node
// serves; the open-API warning is said when it applies.
func TestNodeDefaults(t *testing.T) {
	parse := func(args, env []string) *nodeFlags {
		t.Helper()
		fs, f := newNodeFlags(io.Discard)
		if err := f.parse(fs, args, env); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return f
	}
	if f := parse(nil, nil); f.http != "127.0.0.1:8080" || f.peer != "127.0.0.1:7070" {
		t.Fatalf("no flags: %s %s, want loopback", f.http, f.peer)
	}
	if f := parse(nil, []string{"JUMPKV_JOIN=peers:7070"}); f.http != ":8080" || f.peer != ":7070" {
		t.Fatalf("JUMPKV_JOIN: %s %s, want every interface", f.http, f.peer)
	}
	if f := parse([]string{"--http", ":9090"}, nil); f.http != ":9090" || f.peer != ":7070" {
		t.Fatalf("--http :9090: %s %s", f.http, f.peer)
	}
	for _, tc := range []struct{ adv, http, host, want string }{
		{"", "127.0.0.1:9090", "192.0.2.2", "127.0.0.1:9090"}, // the one address it serves
		{"", ":9090", "192.0.2.2", "192.0.2.2:9090"},
		{"", "0.0.0.0:9090", "192.0.2.2", "192.0.2.2:9090"},
		{"kv.example.com", ":9090", "10.70.70.3", "kv.example.com:9090"},
		{"localhost:18080", ":8080", "10.70.70.3", "localhost:18080"},
	} {
		if got, err := advertisedHTTP(tc.adv, tc.http, tc.host, "9090"); err != nil || got != tc.want {
			if tc.adv != "localhost:18080" || got != tc.want {
				t.Errorf("advertisedHTTP(%q, %q, %q) = %q, %v; want %q", tc.adv, tc.http, tc.host, got, err, tc.want)
			}
		}
	}
	for _, bad := range []string{"http://x", ":80", "a b"} {
		if _, err := advertisedHTTP(bad, ":8080", "h", "8080"); err == nil {
			t.Errorf("--advertise-http %q accepted", bad)
		}
	}
	if h, err := resolveAdvertise("", "127.0.0.1:7070"); err != nil || h != "127.0.0.1" {
		t.Fatalf("--peer 127.0.0.1:7070 without --advertise advertises %q, %v", h, err)
	}
	for _, tc := range []struct {
		http  string
		users bool
		warn  bool
	}{{":8080", false, true}, {"0.0.0.0:8080", false, true}, {"10.0.0.1:8080", false, true},
		{"127.0.0.1:8080", false, false}, {"localhost:8080", false, false}, {":8080", true, false}} {
		if got := openAPIWarning(tc.http, tc.users); (got != "") != tc.warn {
			t.Errorf("openAPIWarning(%q, users %v) = %q", tc.http, tc.users, got)
		}
	}
	cfg, err := parse([]string{"--http", "127.0.0.1:9090", "--peer", "127.0.0.1:9070", "--name", "db-1"}, nil).config(nil)
	if err != nil || cfg.HTTPAddr != "127.0.0.1:9090" || cfg.PeerAddr != "127.0.0.1:9070" || cfg.Name != "db-1" {
		t.Fatalf("config: %+v %v", cfg, err)
	}
}
