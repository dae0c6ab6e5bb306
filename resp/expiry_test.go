package resp_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/resp"
)

// TestExpiryCommands runs the expiry commands against a real in-process
// cluster: SET EX/PX/KEEPTTL, EXPIRE/PEXPIRE/PERSIST, TTL/PTTL, a value
// gone at its expiry, an expiry in the past deleting the key, and the
// "expired" keyspace event.
func TestExpiryCommands(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, DeadAfter: 500 * time.Millisecond})
	c.WaitFor(30*time.Second, "a ready cluster", func() bool { return c.Leader() != nil && c.AllReady() })
	s, err := resp.New(c.Nodes()[0].Node, resp.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() { s.Close(); <-done }()
	r := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), Protocol: 2})
	defer r.Close()
	ctx := context.Background()
	sub := r.Subscribe(ctx, "__keyevent@0__:expired")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET EX: %v", err)
	}
	if d, err := r.TTL(ctx, "k").Result(); err != nil || d <= 58*time.Second || d > time.Minute {
		t.Fatalf("TTL after SET EX 60 = %v, %v", d, err)
	}
	if err := r.SetArgs(ctx, "k", "v2", redis.SetArgs{KeepTTL: true}).Err(); err != nil {
		t.Fatalf("SET KEEPTTL: %v", err)
	}
	if d, _ := r.TTL(ctx, "k").Result(); d <= 58*time.Second {
		t.Fatalf("TTL after SET KEEPTTL = %v, want the minute kept", d)
	}
	if err := r.Set(ctx, "k", "v3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.TTL(ctx, "k").Result(); d != -1 {
		t.Fatalf("TTL after a plain SET = %v, want -1 (no expiry)", d)
	}
	if ok, err := r.Expire(ctx, "k", time.Hour).Result(); err != nil || !ok {
		t.Fatalf("EXPIRE = %v, %v", ok, err)
	}
	if ok, err := r.Persist(ctx, "k").Result(); err != nil || !ok {
		t.Fatalf("PERSIST = %v, %v", ok, err)
	}
	if d, _ := r.TTL(ctx, "k").Result(); d != -1 {
		t.Fatalf("TTL after PERSIST = %v", d)
	}
	if d, _ := r.TTL(ctx, "missing").Result(); d != -2 {
		t.Fatalf("TTL of a missing key = %v, want -2", d)
	}
	if ok, err := r.PExpire(ctx, "k", 300*time.Millisecond).Result(); err != nil || !ok {
		t.Fatalf("PEXPIRE = %v, %v", ok, err)
	}
	if d, _ := r.PTTL(ctx, "k").Result(); d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("PTTL = %v", d)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "k" {
		t.Fatalf("expired event: %v, %v", msg, err)
	}
	if _, err := r.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after the expiry: %v, want nil", err)
	}
	// An expiry in the past deletes the key, as in Redis.
	r.Set(ctx, "p", "v", 0)
	if ok, err := r.Do(ctx, "PEXPIRE", "p", "-1").Bool(); err != nil || !ok {
		t.Fatalf("PEXPIRE -1 = %v, %v", ok, err)
	}
	if n, _ := r.Exists(ctx, "p").Result(); n != 0 {
		t.Fatal("PEXPIRE -1 left the key")
	}
	if err := r.Do(ctx, "SET", "k", "v", "EX", "0").Err(); err == nil || err.Error() != "ERR invalid expire time in 'set' command" {
		t.Fatalf("SET EX 0: %v", err)
	}
}
