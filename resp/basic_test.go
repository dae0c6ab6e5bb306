package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func newClient(t testing.TB, addr string, protocol int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, MaxRetries: -1, DisableIdentity: false})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStringRoundTrip(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run(map[int]string{2: "RESP2", 3: "RESP3"}[proto], func(t *testing.T) {
			_, addr := startServer(t, newFake(t), Config{})
			c := newClient(t, addr, proto)
			ctx := context.Background()
			if err := c.Set(ctx, "k", "v1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v1" {
				t.Fatalf("GET k = %q, %v; want v1", v, err)
			}
			if _, err := c.Get(ctx, "missing").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET missing: %v, want redis.Nil", err)
			}
			bin := "a\x00b\r\nc"
			if err := c.Set(ctx, bin, bin, 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, bin).Result(); err != nil || v != bin {
				t.Fatalf("binary GET = %q, %v", v, err)
			}
			if n, err := c.Append(ctx, "k", "+more").Result(); err != nil || n != 7 {
				t.Fatalf("APPEND = %d, %v; want 7", n, err)
			}
			if n, err := c.StrLen(ctx, "k").Result(); err != nil || n != 7 {
				t.Fatalf("STRLEN = %d, %v", n, err)
			}
			if ok, err := c.SetNX(ctx, "k", "x", 0).Result(); err != nil || ok {
				t.Fatalf("SETNX existing = %v, %v; want false", ok, err)
			}
			if ok, err := c.SetNX(ctx, "n", "x", 0).Result(); err != nil || !ok {
				t.Fatalf("SETNX new = %v, %v; want true", ok, err)
			}
			if v, err := c.SetArgs(ctx, "k", "v2", redis.SetArgs{Get: true}).Result(); err != nil || v != "v1+more" {
				t.Fatalf("SET GET = %q, %v", v, err)
			}
			if err := c.SetArgs(ctx, "k", "v3", redis.SetArgs{Mode: "NX"}).Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("SET NX existing: %v, want nil reply", err)
			}
			if err := c.SetArgs(ctx, "absent", "v3", redis.SetArgs{Mode: "XX"}).Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("SET XX absent: %v, want nil reply", err)
			}
			if v, err := c.GetDel(ctx, "k").Result(); err != nil || v != "v2" {
				t.Fatalf("GETDEL = %q, %v", v, err)
			}
			if n, err := c.Exists(ctx, "k", "n", "n").Result(); err != nil || n != 2 {
				t.Fatalf("EXISTS = %d, %v; want 2", n, err)
			}
			if err := c.MSet(ctx, "a", "1", "b", "2", "a", "3").Err(); err != nil {
				t.Fatal(err)
			}
			if vs, err := c.MGet(ctx, "a", "b", "nope").Result(); err != nil || vs[0] != "3" || vs[1] != "2" || vs[2] != nil {
				t.Fatalf("MGET = %v, %v", vs, err)
			}
			if n, err := c.Incr(ctx, "a").Result(); err != nil || n != 4 {
				t.Fatalf("INCR = %d, %v", n, err)
			}
			if n, err := c.DecrBy(ctx, "a", 10).Result(); err != nil || n != -6 {
				t.Fatalf("DECRBY = %d, %v", n, err)
			}
			if err := c.Incr(ctx, "n").Err(); err == nil || !strings.Contains(err.Error(), "not an integer") {
				t.Fatalf("INCR of a non-integer: %v", err)
			}
			if typ, err := c.Type(ctx, "a").Result(); err != nil || typ != "string" {
				t.Fatalf("TYPE = %q, %v", typ, err)
			}
			if typ, err := c.Type(ctx, "zz").Result(); err != nil || typ != "none" {
				t.Fatalf("TYPE missing = %q, %v", typ, err)
			}
			if d, err := c.TTL(ctx, "a").Result(); err != nil || d != -1 {
				t.Fatalf("TTL = %v, %v; want -1", d, err)
			}
			if d, err := c.PTTL(ctx, "zz").Result(); err != nil || d != -2 {
				t.Fatalf("PTTL missing = %v, %v; want -2", d, err)
			}
			if n, err := c.Del(ctx, "a", "b", "zz", "a").Result(); err != nil || n != 2 {
				t.Fatalf("DEL = %d, %v; want 2", n, err)
			}
			if n, err := c.DBSize(ctx).Result(); err != nil || n != 2 {
				t.Fatalf("DBSIZE = %d, %v; want 2", n, err)
			}
		})
	}
}

// TestMGetInChunks reads more keys than one chunk, some missing.
func TestMGetInChunks(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{Parallel: 4})
	c := newClient(t, addr, 2)
	ctx := context.Background()
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprint("k", i))
		if i%3 == 0 {
			c.Set(ctx, keys[i], fmt.Sprint("v", i), 0)
		}
	}
	vs, err := c.MGet(ctx, keys...).Result()
	if err != nil || len(vs) != 50 {
		t.Fatalf("MGET of 50 keys: %d values, %v", len(vs), err)
	}
	for i, v := range vs {
		if want := fmt.Sprint("v", i); (i%3 == 0 && v != want) || (i%3 != 0 && v != nil) {
			t.Fatalf("MGET value %d = %v", i, v)
		}
	}
}

// blockingFake holds writes until released.
type blockingFake struct {
	*fakeBackend
	entered chan struct{}
	release chan struct{}
}

func (f *blockingFake) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	f.entered <- struct{}{}
	<-f.release
	return f.fakeBackend.Write(ctx, op)
}

// TestShutdownAnswersWhatWasSent: a graceful shutdown lets a command in
// flight finish and answers it, then closes the connection; it closes
// idle connections at once.
func TestShutdownAnswersWhatWasSent(t *testing.T) {
	f := &blockingFake{fakeBackend: newFake(t), entered: make(chan struct{}), release: make(chan struct{})}
	s, err := New(f, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	idle, _ := rawConn(t, ln.Addr().String())
	idle.Write([]byte("PING\r\n"))
	busy, rd := rawConn(t, ln.Addr().String())
	busy.Write([]byte("SET k v\r\n"))
	<-f.entered // the SET is in flight
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	close(f.release)
	if rest := readAll(t, rd); rest != "+OK\r\n" {
		t.Fatalf("the busy client read %q, want the SET's answer, then the end", rest)
	}
	if rest := readAll(t, bufio.NewReader(idle)); rest != "+PONG\r\n" {
		t.Fatalf("the idle client read %q", rest)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if s.Clients() != 0 {
		t.Fatalf("%d clients left", s.Clients())
	}
	s.Close() // safe after Shutdown
}
