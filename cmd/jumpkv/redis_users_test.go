package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestProcessRedisUsers runs a node with --users and --redis: RESP
// commands need AUTH, a wrong password is WRONGPASS, a read-only user may
// read but not write, and a prefix user is confined to its prefix.
func TestProcessRedisUsers(t *testing.T) {
	bin := binary(t)
	path := filepath.Join(t.TempDir(), "users")
	usersFile(t, path, "admin:readwrite", "reader:read", "app:readwrite:app/")
	ports := freePorts(t, 3)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	redisAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	p := startProc(t, bin, httpAddr, "node", "--http", httpAddr, "--peer", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--advertise", "127.0.0.1", "--dead-after", "1s", "--users", path, "--redis", redisAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, _, _ := request(t, "GET", "http://"+httpAddr+"/readyz", nil); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never became ready:\n%s", p.out)
		}
		time.Sleep(100 * time.Millisecond) // polling a real process
	}
	ctx := context.Background()
	client := func(user string) *redis.Client {
		opts := &redis.Options{Addr: redisAddr, Protocol: 2, MaxRetries: -1}
		if user != "" {
			opts.Username, opts.Password = user, user+"-pw"
		}
		c := redis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		return c
	}
	if err := client("").Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("SET without AUTH: %v, want NOAUTH", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, Username: "admin", Password: "wrong", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("a wrong password: %v, want WRONGPASS", err)
	}
	admin := client("admin")
	if err := admin.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("admin SET: %v", err)
	}
	reader := client("reader")
	if v, err := reader.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("reader GET = %q, %v", v, err)
	}
	if err := reader.Set(ctx, "k", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("reader SET: %v, want NOPERM", err)
	}
	app := client("app")
	if err := app.Set(ctx, "app/x", "1", 0).Err(); err != nil {
		t.Fatalf("app SET in its prefix: %v", err)
	}
	if err := app.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("app GET outside its prefix: %v, want NOPERM", err)
	}
}
