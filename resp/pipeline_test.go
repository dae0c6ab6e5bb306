package resp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// concurrentFake counts the writes in progress at once.
type concurrentFake struct {
	*fakeBackend
	mu        sync.Mutex
	now, peak int
	release   chan struct{}
}

func (f *concurrentFake) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	f.mu.Lock()
	f.now++
	f.peak = max(f.peak, f.now)
	if f.now == 2 && f.release != nil {
		close(f.release)
		f.release = nil
	}
	release := f.release
	f.mu.Unlock()
	if release != nil {
		// The first write waits (boundedly) for a second to arrive.
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
	}
	defer func() {
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	}()
	return f.fakeBackend.Write(ctx, op)
}

// TestPipelineOrder mixes writes and reads of a few keys in one pipeline:
// each key's commands take effect in the order sent, and the replies come
// back in order.
func TestPipelineOrder(t *testing.T) {
	for _, serial := range []bool{false, true} {
		t.Run(fmt.Sprint("serial=", serial), func(t *testing.T) {
			_, addr := startServer(t, newFake(t), Config{SerialPipelines: serial})
			c := newClient(t, addr, 2)
			ctx := context.Background()
			pipe := c.Pipeline()
			for i := range 200 {
				k := "k" + strconv.Itoa(i%5)
				pipe.Set(ctx, k, strconv.Itoa(i), 0)
				pipe.Incr(ctx, k)
				pipe.Append(ctx, k, "x")
				pipe.Get(ctx, k)
				if i%50 == 0 {
					pipe.MGet(ctx, "k0", "k1") // a command that runs alone
				}
			}
			cmds, err := pipe.Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for _, cmd := range cmds {
				g, ok := cmd.(*redis.StringCmd)
				if !ok || g.Args()[0] != "get" {
					continue
				}
				if want := strconv.Itoa(i+1) + "x"; g.Val() != want {
					t.Fatalf("GET %d read %q, want %q: commands of one key ran out of order", i, g.Val(), want)
				}
				i++
			}
			if i != 200 {
				t.Fatalf("%d GET replies, want 200", i)
			}
		})
	}
}

// TestPipelinedWritesRunTogether: the writes of distinct keys in one
// pipeline reach the node together, so the leader can share round trips:
// other single-key writes run at once, and a run of plain SETs arrives as
// one WriteMany.
func TestPipelinedWritesRunTogether(t *testing.T) {
	f := &concurrentFake{fakeBackend: newFake(t), release: make(chan struct{})}
	_, addr := startServer(t, f, Config{})
	c := newClient(t, addr, 2)
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range 16 {
		pipe.Incr(ctx, "key"+strconv.Itoa(i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	peak := f.peak
	f.mu.Unlock()
	if peak < 2 {
		t.Fatal("pipelined INCRs of 16 keys ran one at a time")
	}
	pipe = c.Pipeline()
	for i := range 16 {
		pipe.Set(ctx, "key"+strconv.Itoa(i), "v"+strconv.Itoa(i), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.writeManyCalls(); n != 1 {
		t.Fatalf("%d WriteMany calls for a pipeline of 16 SETs, want 1", n)
	}
	for i := range 16 {
		if v, err := c.Get(ctx, "key"+strconv.Itoa(i)).Result(); err != nil || v != "v"+strconv.Itoa(i) {
			t.Fatalf("key%d reads %q, %v after the pipeline", i, v, err)
		}
	}
}

// TestPipelinedSetsWriteTogether: a run of plain SETs of distinct keys is
// written in one WriteMany, and each SET still answers as it would alone
// and in order: an unauthenticated client's SETs answer NOAUTH and write
// nothing, a key the user may not write answers NOPERM (its run then runs
// as single writes), and SETs with NX, XX or GET, or of a repeated key,
// are not written together.
func TestPipelinedSetsWriteTogether(t *testing.T) {
	f := newFake(t)
	auth := users{"alice": {"pw", "alice/"}}
	_, addr := startServer(t, f, Config{Auth: auth})
	nc, rd := rawConn(t, addr)
	say := func(in, want string) { t.Helper(); exchange(t, nc, rd, in, want) }
	say("SET alice/a 1\r\nSET alice/b 2\r\n", strings.Repeat("-NOAUTH Authentication required.\r\n", 2))
	if n := f.writeManyCalls(); n != 0 {
		t.Fatalf("%d writes together for a client not authenticated", n)
	}
	say("AUTH alice pw\r\n", "+OK\r\n")
	say("SET alice/a 1\r\nSET alice/b 2 PX 100000\r\nSET alice/c 3\r\nGET alice/b\r\n", "+OK\r\n+OK\r\n+OK\r\n$1\r\n2\r\n")
	if n := f.writeManyCalls(); n != 1 {
		t.Fatalf("%d WriteMany calls for a run of three SETs, want 1", n)
	}
	say("SET alice/a 4\r\nSET bob/x 5\r\n", "+OK\r\n-NOPERM User alice has no permissions to access the 'bob/x' key\r\n")
	say("SET alice/a 6\r\nSET alice/b 7 NX\r\n", "+OK\r\n$-1\r\n")
	say("SET alice/a 8\r\nSET alice/a 9\r\nGET alice/a\r\n", "+OK\r\n+OK\r\n$1\r\n9\r\n")
	say("SET alice/a 10\r\nSET alice/b 11 GET\r\n", "+OK\r\n$1\r\n2\r\n")
	if n := f.writeManyCalls(); n != 1 {
		t.Fatalf("%d WriteMany calls after runs that are not plain SETs of distinct keys, want 1", n)
	}
	// MSET writes its keys together, the last value of a repeated key winning.
	say("MSET alice/m 1 alice/n 2 alice/m 3\r\nMGET alice/m alice/n\r\n", "+OK\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n")
	if n := f.writeManyCalls(); n != 2 {
		t.Fatalf("%d WriteMany calls after an MSET, want 2", n)
	}
}

// TestPipelinedGetsReadTogether: a pipeline's consecutive GETs are read in
// one GetMany, and each still answers as it would alone and in order: a
// GET after a SET of its key reads the SET, an unauthenticated client's
// GETs answer NOAUTH and read nothing ahead, and a key the user may not
// read answers NOPERM while the others of its run answer their values.
func TestPipelinedGetsReadTogether(t *testing.T) {
	f := newFake(t)
	auth := users{"alice": {"pw", "alice/"}}
	_, addr := startServer(t, f, Config{Auth: auth})
	nc, rd := rawConn(t, addr)
	say := func(in, want string) { t.Helper(); exchange(t, nc, rd, in, want) }
	getManys := f.getManyCalls
	say("GET alice/a\r\nGET alice/b\r\n", strings.Repeat("-NOAUTH Authentication required.\r\n", 2))
	if n := getManys(); n != 0 {
		t.Fatalf("%d reads ahead for a client not authenticated", n)
	}
	say("AUTH alice pw\r\n", "+OK\r\n")
	say("GET alice/a\r\nGET alice/b\r\nSET alice/a 1\r\nGET alice/a\r\nGET bob/x\r\nGET alice/c\r\nGET alice/a\r\n",
		"$-1\r\n$-1\r\n+OK\r\n$1\r\n1\r\n-NOPERM User alice has no permissions to access the 'bob/x' key\r\n$-1\r\n$1\r\n1\r\n")
	if n := getManys(); n != 2 {
		t.Fatalf("%d GetMany calls for two runs of GETs, want 2", n)
	}
	// MGET reads its keys together too.
	say("MGET alice/a alice/b alice/a\r\n", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n1\r\n")
	if n := getManys(); n != 3 {
		t.Fatalf("%d GetMany calls after an MGET, want 3", n)
	}
}

// TestSubscribedGetsReadNothingAhead: in RESP2 subscribed mode every
// GET of a pipeline answers the "only (P|S)SUBSCRIBE ..." error, as a GET
// alone does, so nothing should be read for them; runGets reads the whole
// run's keys ahead anyway (it checks authentication and ACLs, not the
// subscribed mode), costing the node reads whose answers are thrown away.
func TestSubscribedGetsReadNothingAhead(t *testing.T) {
	f := newFake(t)
	_, addr := startServer(t, f, Config{})
	nc, rd := rawConn(t, addr)
	say := func(in, want string) { t.Helper(); exchange(t, nc, rd, in, want) }
	say("SUBSCRIBE ch\r\n", "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	refused := "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
	say(strings.Repeat("GET k\r\n", 8), strings.Repeat(refused, 8))
	if n := f.getManyCalls(); n != 0 {
		t.Errorf("%d GetMany calls for GETs refused in subscribed mode, want 0", n)
	}
}

// TestParseReusesArgumentSlots: once warm, parsing a pipeline and
// releasing it allocates nothing (argument lists come from the
// connection's pool), and a command too long for the pool gets its own
// slots without disturbing the others'.
func TestParseReusesArgumentSlots(t *testing.T) {
	c := &conn{}
	var pipeline [][]byte
	for i := range 16 {
		pipeline = append(pipeline, []byte(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$2\r\nk%d\r\n$1\r\nv\r\n", i%10)))
	}
	check := func(cmds []parsedCmd) {
		t.Helper()
		for i, p := range cmds {
			if p.err != nil || len(p.args) != 3 || string(p.args[1][1:]) != strconv.Itoa(i%10) {
				t.Fatalf("command %d parsed as %q (%v)", i, p.args, p.err)
			}
		}
	}
	c.doneParsing(c.parse(pipeline)) // warm: the pool grows to the pipeline
	if n := testing.AllocsPerRun(100, func() {
		cmds := c.parse(pipeline)
		check(cmds)
		c.doneParsing(cmds)
	}); n != 0 {
		t.Errorf("parsing a warm 16-command pipeline allocated %v times", n)
	}
	// A command longer than the pool, between two that fit.
	long := []byte(fmt.Sprintf("*%d\r\n$4\r\nMGET\r\n", maxArgsPool+1))
	for range maxArgsPool {
		long = append(long, "$1\r\nx\r\n"...)
	}
	cmds := c.parse([][]byte{pipeline[0], long, pipeline[1]})
	if len(cmds[1].args) != maxArgsPool+1 || string(cmds[0].args[1]) != "k0" || string(cmds[2].args[1]) != "k1" {
		t.Fatalf("a long command among short ones: %d args, then %q and %q", len(cmds[1].args), cmds[0].args, cmds[2].args)
	}
	c.doneParsing(cmds)
	if cap(c.argsPool) > maxArgsPool {
		t.Errorf("the pool grew to %d slots, past %d", cap(c.argsPool), maxArgsPool)
	}
}

// panickyFake panics in WriteMany, as a bug in the node would.
type panickyFake struct{ *fakeBackend }

func (panickyFake) WriteMany(context.Context, []wire.WriteOp) []node.WriteResult {
	panic("a bug in the write path")
}

// TestPipelinedSetsSurviveAPanic: a panic while a run of SETs is written
// together answers each SET "ERR internal error", as a panic in a command
// run alone does, and the connection and server go on.
func TestPipelinedSetsSurviveAPanic(t *testing.T) {
	_, addr := startServer(t, panickyFake{newFake(t)}, Config{})
	nc, rd := rawConn(t, addr)
	exchange(t, nc, rd, "SET a 1\r\nSET b 2\r\nPING\r\n", "-ERR internal error\r\n-ERR internal error\r\n+PONG\r\n")
	exchange(t, nc, rd, "SET a 1\r\n", "+OK\r\n")
}
