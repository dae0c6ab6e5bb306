package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisCluster is three node processes with the Redis protocol on.
type redisCluster struct {
	procs  []*proc
	redis  []string // RESP address of each process
	leader int      // index of the leader
}

func startRedisCluster(t *testing.T) *redisCluster {
	t.Helper()
	bin := binary(t)
	ports := freePorts(t, 9)
	var join []string
	for i := range 3 {
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[3+i]))
	}
	rc := &redisCluster{}
	for i := range 3 {
		httpAddr := "127.0.0.1:" + strconv.Itoa(ports[i])
		redisAddr := "127.0.0.1:" + strconv.Itoa(ports[6+i])
		rc.procs = append(rc.procs, startProc(t, bin, httpAddr, "node", "--http", httpAddr, "--peer", join[i],
			"--redis", redisAddr, "--advertise", "127.0.0.1", "--join", strings.Join(join, ","),
			"--dead-after", "1s", "--buckets", "128", "--log-level", "warn"))
		rc.redis = append(rc.redis, redisAddr)
	}
	cv := waitCluster(t, rc.procs, 30*time.Second)
	for i, p := range rc.procs {
		for _, n := range cv.Nodes {
			if n.ID == cv.Leader && n.HTTP == p.http {
				rc.leader = i
			}
		}
	}
	return rc
}

func (rc *redisCluster) client(t *testing.T, i, protocol int) *redis.Client {
	// TRYAGAIN (no leader for a moment, on a loaded machine) is retried
	// through an election; "outcome unknown" is not retried, and fails.
	c := redis.NewClient(&redis.Options{Addr: rc.redis[i], Protocol: protocol, MaxRetries: 20,
		MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisOverProcesses drives a three-process cluster with go-redis:
// keys written over RESP read back over HTTP and the other way round,
// pipelines, keyspace notifications, RESP3, and INCRs from three nodes at
// once that add up exactly.
func TestRedisOverProcesses(t *testing.T) {
	rc := startRedisCluster(t)
	ctx := context.Background()
	follower := (rc.leader + 1) % 3
	c := rc.client(t, follower, 3)

	t.Run("RESP to HTTP and back", func(t *testing.T) {
		if err := c.Set(ctx, "users/ada", "lovelace", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for _, p := range rc.procs {
			if st, _, b := request(t, "GET", "http://"+p.http+"/v1/kv/users/ada", nil); st != 200 || string(b) != "lovelace" {
				t.Fatalf("HTTP GET via %s of a key SET over RESP: %d %q", p.http, st, b)
			}
		}
		if st, _, b := request(t, "PUT", "http://"+rc.procs[rc.leader].http+"/v1/kv/from-http", []byte("bytes\x00\r\n")); st != 200 {
			t.Fatalf("PUT: %d %s", st, b)
		}
		for i := range 3 {
			if v, err := rc.client(t, i, 2).Get(ctx, "from-http").Result(); err != nil || v != "bytes\x00\r\n" {
				t.Fatalf("RESP GET via node %d of a key PUT over HTTP: %q, %v", i, v, err)
			}
		}
	})

	t.Run("HELLO 3", func(t *testing.T) {
		hello, err := c.Do(ctx, "HELLO", "3").Result()
		m, ok := hello.(map[any]any)
		if err != nil || !ok || m["proto"] != int64(3) || m["server"] != "redis" {
			t.Fatalf("HELLO 3 = %#v, %v; want a RESP3 map with proto 3", hello, err)
		}
		if _, err := c.Get(ctx, "no such key").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("RESP3 null: %v", err)
		}
	})

	t.Run("pipeline", func(t *testing.T) {
		pipe := c.Pipeline()
		for i := range 100 {
			pipe.Set(ctx, "p", strconv.Itoa(i), 0)
			pipe.Get(ctx, "p")
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if v := cmds[2*i+1].(*redis.StringCmd).Val(); v != strconv.Itoa(i) {
				t.Fatalf("pipelined GET %d after SET %d read %q: pipelined commands ran out of order", i, i, v)
			}
		}
	})

	t.Run("keyspace notifications", func(t *testing.T) {
		sub := rc.client(t, (rc.leader+2)%3, 2).PSubscribe(ctx, "__keyspace@0__:watched/*")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
			t.Fatal(err)
		}
		if err := c.Set(ctx, "watched/a", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Del(ctx, "watched/a").Err(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"set", "del"} {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			msg, err := sub.ReceiveMessage(rctx)
			cancel()
			if err != nil || msg.Channel != "__keyspace@0__:watched/a" || msg.Payload != want {
				t.Fatalf("notification %v, %v; want %q on __keyspace@0__:watched/a", msg, err, want)
			}
		}
	})

	t.Run("INCR from three nodes", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 300)
		for i := range 3 {
			ci := rc.client(t, i, 2)
			wg.Go(func() {
				for range 100 {
					if err := ci.Incr(ctx, "counter").Err(); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("INCR: %v", err)
		}
		if v, err := c.Get(ctx, "counter").Int(); err != nil || v != 300 {
			t.Fatalf("counter = %d, %v; want exactly 300", v, err)
		}
	})
}

// TestRedisCLIAndBenchmark runs Redis's own tools against the cluster.
func TestRedisCLIAndBenchmark(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed (Debian package redis-tools): " + err.Error())
	}
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark not installed (Debian package redis-tools): " + err.Error())
	}
	rc := startRedisCluster(t)
	host, port, _ := strings.Cut(rc.redis[(rc.leader+1)%3], ":")
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := run("", "SET", "cli-key", "hello world"); out != "OK" {
		t.Fatalf("redis-cli SET: %q", out)
	}
	if out := run("", "GET", "cli-key"); out != "hello world" {
		t.Fatalf("redis-cli GET: %q", out)
	}
	if out := run("", "NOSUCHCOMMAND", "x"); !strings.Contains(out, "ERR unknown command 'NOSUCHCOMMAND'") {
		t.Fatalf("redis-cli of an unknown command: %q", out)
	}
	// Commands from standard input, as in scripts.
	if out := run("INCR cli-n\nINCRBY cli-n 41\nGET cli-n\n"); out != "1\n42\n42" {
		t.Fatalf("redis-cli from stdin: %q", out)
	}
	// redis-cli --scan walks every key with the numeric cursors.
	for i := range 30 {
		run("", "SET", fmt.Sprintf("scan/%02d", i), "v")
	}
	keys := strings.Fields(run("", "--scan", "--pattern", "scan/*"))
	if len(keys) != 30 {
		t.Fatalf("redis-cli --scan found %d keys, want 30: %v", len(keys), keys)
	}

	for _, extra := range [][]string{nil, {"-P", "16"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		args := append([]string{"-h", host, "-p", port, "-t", "set,get", "-n", "5000", "-c", "10", "-d", "100", "-r", "1000", "-q"}, extra...)
		out, err := exec.CommandContext(ctx, bench, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("redis-benchmark %v: %v\n%s", args, err, out)
		}
		for _, test := range []string{"SET", "GET"} {
			if !regexp.MustCompile(`(^|[\r\n])` + test + `: [0-9.]+ requests per second`).Match(out) {
				t.Fatalf("redis-benchmark %v: no %s result:\n%s", extra, test, out)
			}
		}
		t.Logf("redis-benchmark %v:\n%s", extra, out)
	}
}
