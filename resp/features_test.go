package resp

import (
	"context"
	"errors"
	"fmt"
	"github.com/jumpkv/jumpkv/kv"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jumpkv/jumpkv/wire"
)

// users is a test Authenticator: name -> password, and the key prefix the
// user may touch ("" for all); read-only users end in "-ro".
type users map[string][2]string

type user struct {
	prefix   string
	readOnly bool
}

func (u users) Authenticate(_, name, password string) (Principal, error) {
	if e, ok := u[name]; ok && e[0] == password {
		return user{prefix: e[1], readOnly: strings.HasSuffix(name, "-ro")}, nil
	}
	return nil, errors.New("refused")
}

func (u user) Allows(key string, write bool) bool {
	return strings.HasPrefix(key, u.prefix) && (!write || !u.readOnly)
}

func TestAuth(t *testing.T) {
	auth := users{"default": {"secret", ""}, "alice": {"pw", "alice/"}, "bob-ro": {"pw", ""}}
	_, addr := startServer(t, newFake(t), Config{Auth: auth})
	ctx := context.Background()
	nc, rd := rawConn(t, addr)
	for _, tc := range []struct{ in, want string }{
		{"GET k\r\n", "-NOAUTH Authentication required.\r\n"},
		{"PING\r\n", "-NOAUTH Authentication required.\r\n"},
		{"HELLO 3\r\n", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"},
		{"AUTH wrong\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH alice wrong\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH secret\r\n", "+OK\r\n"}, // one argument: the user "default"
		{"SET k v\r\n", "+OK\r\n"},
		{"AUTH alice pw\r\n", "+OK\r\n"},
		{"SET k v\r\n", "-NOPERM User alice has no permissions to access the 'k' key\r\n"},
		{"SET alice/k v\r\n", "+OK\r\n"},
		{"MGET alice/k k\r\n", "-NOPERM User alice has no permissions to access the 'k' key\r\n"},
		{"KEYS *\r\n", "*1\r\n$7\r\nalice/k\r\n"}, // only the keys she may read
		{"AUTH bob-ro pw\r\n", "+OK\r\n"},
		{"GET alice/k\r\n", "$1\r\nv\r\n"},
		{"DEL alice/k\r\n", "-NOPERM User bob-ro has no permissions to access the 'alice/k' key\r\n"},
		{"QUIT\r\n", "+OK\r\n"},
	} {
		nc.Write([]byte(tc.in))
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != tc.want {
			t.Fatalf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
	// go-redis authenticates with HELLO 3 AUTH.
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "alice", Password: "pw", Protocol: 3})
	defer c.Close()
	if err := c.Set(ctx, "alice/x", "1", 0).Err(); err != nil {
		t.Fatalf("go-redis with a user: %v", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: addr, Username: "alice", Password: "nope", Protocol: 3, MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("go-redis with a wrong password: %v", err)
	}
}

func TestNoAuthenticatorTrustsEveryone(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{})
	nc, rd := rawConn(t, addr)
	for _, tc := range []struct{ in, want string }{
		{"GET k\r\n", "$-1\r\n"},
		{"AUTH x\r\n", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{"AUTH u p\r\n", "+OK\r\n"},
	} {
		nc.Write([]byte(tc.in))
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != tc.want {
			t.Fatalf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestErrorForms maps the node's errors to Redis's: no leader is TRYAGAIN
// (go-redis retries it), an unknown outcome of a write "ERR outcome
// unknown", a value too large "ERR value too large".
func TestErrorForms(t *testing.T) {
	fake := newFake(t)
	_, addr := startServer(t, fake, Config{})
	c := newClient(t, addr, 2)
	ctx := context.Background()
	for _, tc := range []struct {
		err        error
		set, get   string
		incrPrefix string
	}{
		{fmt.Errorf("%w: election under way", wire.ErrNoLeader), "TRYAGAIN no leader: election under way", "TRYAGAIN no leader: election under way", "TRYAGAIN"},
		{fmt.Errorf("%w: forwarding to the leader: timeout", wire.ErrUnknownOutcome), "ERR outcome unknown (the write may or may not have taken effect): outcome unknown: forwarding to the leader: timeout", "TRYAGAIN outcome unknown: forwarding to the leader: timeout", "TRYAGAIN"},
		{fmt.Errorf("%w: 2000000 bytes, the limit is 1048576", wire.ErrTooLarge), "ERR value too large: 2000000 bytes, the limit is 1048576", "ERR value too large: 2000000 bytes, the limit is 1048576", "ERR"},
		{fmt.Errorf("%w: too few replicas", wire.ErrUnavailable), "TRYAGAIN too few replicas reachable: too few replicas", "TRYAGAIN too few replicas reachable: too few replicas", "TRYAGAIN"},
		{errors.New("boom"), "ERR internal error: boom", "ERR internal error: boom", "ERR"},
	} {
		fake.mu.Lock()
		fake.fail = tc.err
		fake.mu.Unlock()
		if err := c.Set(ctx, "k", "v", 0).Err(); err == nil || err.Error() != tc.set {
			t.Errorf("SET with %v: %v, want %q", tc.err, err, tc.set)
		}
		if err := c.Get(ctx, "k").Err(); err == nil || err.Error() != tc.get {
			t.Errorf("GET with %v: %v, want %q", tc.err, err, tc.get)
		}
		if err := c.Incr(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), tc.incrPrefix) {
			t.Errorf("INCR with %v: %v, want %s", tc.err, err, tc.incrPrefix)
		}
	}
}

func TestKeysAndScan(t *testing.T) {
	fake := newFake(t)
	_, addr := startServer(t, fake, Config{KeysLimit: 50})
	c := newClient(t, addr, 3)
	ctx := context.Background()
	for i := range 40 {
		c.Set(ctx, fmt.Sprintf("user:%02d", i), "v", 0)
		c.Set(ctx, fmt.Sprintf("item:%02d", i), "v", 0)
	}
	keys, err := c.Keys(ctx, "user:1?").Result()
	if err != nil || len(keys) != 10 || keys[0] != "user:10" {
		t.Fatalf("KEYS user:1? = %v, %v", keys, err)
	}
	if keys, err := c.Keys(ctx, "*[13]").Result(); err != nil || len(keys) != 16 {
		t.Fatalf("KEYS *[13] = %d keys, %v; want 16", len(keys), err)
	}
	if err := c.Keys(ctx, "*").Err(); err == nil || !strings.Contains(err.Error(), "KEYS would return more than 50 keys") {
		t.Fatalf("KEYS past the bound: %v", err)
	}
	var all []string
	var cursor uint64
	for pages := 0; ; pages++ {
		var page []string
		page, cursor, err = c.Scan(ctx, cursor, "user:*", 7).Result()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if cursor == 0 {
			break
		}
		if pages > 20 {
			t.Fatal("SCAN does not end")
		}
	}
	if len(all) != 40 {
		t.Fatalf("SCAN MATCH user:* found %d keys, want 40", len(all))
	}
	// go-redis's iterator, with no pattern.
	n := 0
	it := c.Scan(ctx, 0, "", 0).Iterator()
	for it.Next(ctx) {
		n++
	}
	if it.Err() != nil || n != 80 {
		t.Fatalf("SCAN iterator: %d keys, %v; want 80", n, it.Err())
	}
}

func TestServerCommands(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{})
	c := newClient(t, addr, 3)
	ctx := context.Background()
	if v, err := c.ConfigGet(ctx, "save").Result(); err != nil || v["save"] != "" || len(v) != 1 {
		t.Fatalf("CONFIG GET save = %v, %v", v, err)
	}
	if v, err := c.ConfigGet(ctx, "appendonly").Result(); err != nil || v["appendonly"] != "no" {
		t.Fatalf("CONFIG GET appendonly = %v, %v", v, err)
	}
	info, err := c.Info(ctx).Result()
	if err != nil || !strings.Contains(info, "redis_version:") || !strings.Contains(info, "# Keyspace") {
		t.Fatalf("INFO = %q, %v", info, err)
	}
	docs, err := c.Do(ctx, "COMMAND", "DOCS", "get").Result()
	if m, ok := docs.(map[any]any); err != nil || !ok || m["get"] == nil {
		t.Fatalf("COMMAND DOCS get = %#v, %v", docs, err)
	}
	if keys, err := c.CommandGetKeys(ctx, "mset", "a", "1", "b", "2").Result(); err != nil || strings.Join(keys, ",") != "a,b" {
		t.Fatalf("COMMAND GETKEYS mset = %v, %v", keys, err)
	}
	cmds, err := c.Command(ctx).Result()
	if err != nil || cmds["mset"] == nil || cmds["mset"].Arity != -3 || cmds["mset"].StepCount != 2 || !cmds["get"].ReadOnly {
		t.Fatalf("COMMAND mset = %+v, %v", cmds["mset"], err)
	}
	if n, err := c.Do(ctx, "COMMAND", "COUNT").Int(); err != nil || n != len(commands) {
		t.Fatalf("COMMAND COUNT = %d, %v", n, err)
	}
	if err := c.Do(ctx, "CLIENT", "SETNAME", "tester").Err(); err != nil {
		t.Fatal(err)
	}
	if name, err := c.ClientGetName(ctx).Result(); err != nil || name != "tester" {
		t.Fatalf("CLIENT GETNAME = %q, %v", name, err)
	}
	if id, err := c.ClientID(ctx).Result(); err != nil || id < 1 {
		t.Fatalf("CLIENT ID = %d, %v", id, err)
	}
	if s, err := c.Echo(ctx, "hi").Result(); err != nil || s != "hi" {
		t.Fatalf("ECHO = %q, %v", s, err)
	}
}

func TestKeyspaceNotifications(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			fake := newFake(t)
			_, addr := startServer(t, fake, Config{})
			c := newClient(t, addr, proto)
			ctx := context.Background()
			ps := c.Subscribe(ctx, "__keyspace@0__:a", "__keyevent@0__:del")
			defer ps.Close()
			if err := ps.PSubscribe(ctx, "__keyspace@0__:b*"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the watch", func() bool { return fake.watchers() == 1 })
			// Confirmations first.
			for range 3 {
				if _, err := ps.Receive(ctx); err != nil {
					t.Fatal(err)
				}
			}
			c.Set(ctx, "a", "1", 0)
			c.Set(ctx, "zzz", "1", 0) // no subscription matches
			c.Set(ctx, "bee", "1", 0)
			c.Del(ctx, "a")
			want := []string{"__keyspace@0__:a set", "__keyspace@0__:b* __keyspace@0__:bee set",
				"__keyspace@0__:a del", "__keyevent@0__:del a"}
			for _, w := range want {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				m, err := ps.ReceiveMessage(rctx)
				cancel()
				got := m.Channel + " " + m.Payload
				if m.Pattern != "" {
					got = m.Pattern + " " + got
				}
				if err != nil || got != w {
					t.Fatalf("message %q, %v; want %q", got, err, w)
				}
			}
			if err := ps.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ps.PUnsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the watch to end after the last unsubscribe", func() bool { return fake.watchers() == 0 })
		})
	}
}

func TestSubscribedRESP2RefusesOtherCommands(t *testing.T) {
	_, addr := startServer(t, newFake(t), Config{})
	nc, rd := rawConn(t, addr)
	for _, tc := range []struct{ in, want string }{
		{"SUBSCRIBE ch\r\n", "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"},
		{"GET k\r\n", "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"},
		{"PING\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"},
		{"UNSUBSCRIBE\r\n", "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"},
		{"GET k\r\n", "$-1\r\n"},
	} {
		nc.Write([]byte(tc.in))
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != tc.want {
			t.Fatalf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestConcurrentIncr(t *testing.T) {
	fake := newFake(t)
	_, addr := startServer(t, fake, Config{})
	ctx := context.Background()
	done := make(chan error, 4)
	for range 4 {
		c := newClient(t, addr, 2)
		go func() {
			for range 50 {
				if err := c.Incr(ctx, "n").Err(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if v, err := newClient(t, addr, 2).Get(ctx, "n").Int(); err != nil || v != 200 {
		t.Fatalf("n = %d, %v; want 200", v, err)
	}
}

// TestFilesAndInternalKeysAreOffLimits: a key that holds a file (its value
// is the file's manifest) is not rewritten by a read-modify-write command,
// and keys in the node's internal namespace are refused.
func TestFilesAndInternalKeysAreOffLimits(t *testing.T) {
	f := newFake(t)
	if _, err := f.Write(context.Background(), wire.WriteOp{Kind: wire.WritePut, Key: "report.pdf", Value: []byte(`{"manifest":1}`), ContentType: kv.FileType}); err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, f, Config{})
	c := newClient(t, addr, 2)
	ctx := context.Background()
	for _, cmd := range [][]any{{"APPEND", "report.pdf", "junk"}, {"INCR", "report.pdf"}, {"SET", "report.pdf", "x", "GET"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "holds a file") {
			t.Errorf("%v: %v, want a refusal", cmd, err)
		}
	}
	if e, _ := f.Get(ctx, "report.pdf"); string(e.Value) != `{"manifest":1}` || e.ContentType != kv.FileType {
		t.Fatalf("the manifest changed: %+v", e)
	}
	for _, cmd := range [][]any{{"SET", "\x00chunk", "x"}, {"GET", "\x00chunk"}, {"DEL", "a", "\x00chunk"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%q: %v, want a refusal", cmd, err)
		}
	}
}
