package resp

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/wire"
)

// Input buffer sizes: a connection starts with readBuf bytes, grows only
// for a command that does not fit (up to Config.MaxQuery) and shrinks back
// once such a command is done.
const (
	readBuf    = 16 << 10
	shrinkOver = 64 << 10
)

// conn is one client connection. The read loop owns the session state;
// the output is shared with the pub/sub goroutine under wmu.
type conn struct {
	s   *Server
	nc  net.Conn
	id  int64
	ctx context.Context

	// Session state, owned by the read loop.
	name        string
	libName     string
	libVer      string
	user        string
	principal   Principal // nil: not authenticated (or no authentication)
	authed      bool
	r           reply       // the reply being built by a command run alone
	cmds        []parsedCmd // the pipeline being run (parse), kept for the next
	argsPool    [][]byte    // argument slots for parse
	argsWritten int         // the pool's slots the pipeline being run wrote
	ps          *pubsub     // nil until the first SUBSCRIBE
	quit        bool

	resp3 atomic.Bool // after HELLO 3; read by the pub/sub goroutine

	wmu  sync.Mutex
	out  []byte // replies not yet written
	werr error  // the first write error: the connection is done
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, id: s.nextID.Add(1), ctx: s.ctx}
	c.authed = s.cfg.Auth == nil
	return c
}

// call is one command being run: the connection, and the reply it
// builds (the connection's own for commands run one at a time, a separate
// one for commands of a pipeline run in parallel), and for a GET the read
// done ahead for it.
type call struct {
	*conn
	r *reply
	// pre is a GET's read, done ahead with those of the GETs next to it in
	// a pipeline (runGets); nil: GET reads its key itself.
	pre *node.GetResult
	// wrote is a plain SET's write, carried out ahead with those of the
	// SETs next to it in a pipeline (runSets); nil: SET writes itself.
	wrote *node.WriteResult
}

// parsedCmd is one command of a batch: its arguments and its command
// (nil: unknown, or no arguments), or why it could not be parsed.
type parsedCmd struct {
	args [][]byte
	cmd  *command
	err  error
}

// serve reads commands, runs them and writes their replies in order, until
// the client leaves, sends QUIT or breaks the protocol.
func (c *conn) serve() {
	defer c.nc.Close()
	defer c.stopPubsub()
	var fr = framer{lim: limits{maxArgs: c.s.cfg.MaxArgs, maxBulk: max(c.s.cfg.MaxValue, c.s.cfg.MaxKey),
		maxQuery: c.s.cfg.MaxQuery, maxInline: c.s.cfg.MaxInline}}
	buf := make([]byte, 0, readBuf)
	var batch [][]byte
	scanned, start := 0, 0 // bytes the framer has seen; start of the first unrun command
	for {
		// Every complete command in the buffer is one batch (a pipeline).
		var perr error
		batch = batch[:0]
		for scanned < len(buf) {
			n, end, err := fr.advance(buf[scanned:])
			scanned += n
			if err != nil {
				perr = err
				break
			}
			if end {
				batch = append(batch, buf[start:scanned])
				start = scanned
			}
		}
		c.runBatch(batch)
		clear(batch) // drop references into the input buffer
		if c.quit || c.failed() {
			c.flush()
			return
		}
		if perr != nil {
			c.r.b = c.r.b[:0]
			c.r.err("ERR " + perr.Error())
			c.emit()
			c.flush()
			return
		}
		if c.flush() != nil {
			return
		}
		// Keep the unfinished command at the front; shrink after a big one.
		rest := len(buf) - start
		if cap(buf) > shrinkOver && rest <= readBuf {
			buf = append(make([]byte, 0, readBuf), buf[start:]...)
		} else {
			buf = buf[:copy(buf, buf[start:])]
		}
		scanned -= start
		start = 0
		if len(buf) == cap(buf) {
			// One command bigger than the buffer: the framer has checked it
			// is within MaxQuery.
			grown := make([]byte, len(buf), min(2*cap(buf), c.s.cfg.MaxQuery+readBuf))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return
		}
	}
}

// runBatch runs a pipeline's commands and queues their replies in order.
// Runs of consecutive single-key writes (up to Config.Parallel of them)
// run in parallel, each key's commands still one after the other in the
// order sent, so that writes arriving together at the leader share its
// round trips to the replicas; runs of consecutive GETs read their keys
// together (runGets); every other command runs alone, after those before
// it and before those after it. With SerialPipelines every command runs
// alone.
func (c *conn) runBatch(raws [][]byte) {
	cmds := c.parse(raws)
	defer c.doneParsing(cmds)
	for i := 0; i < len(cmds); {
		if n := c.runOf(cmds[i:], c.parallelOK); n >= 2 {
			c.runParallel(cmds[i : i+n])
			i += n
		} else if n := c.runOf(cmds[i:], c.readTogetherOK); n >= 2 {
			c.runGets(cmds[i : i+n])
			i += n
		} else {
			c.runOne(cmds[i])
			i++
		}
		if c.quit || c.failed() {
			return // the rest of the pipeline is not run
		}
	}
}

// maxArgsPool bounds the argument slots a connection keeps for parsing
// its next pipeline.
const maxArgsPool = 4096

// parse parses a pipeline's commands. Their argument lists are carved
// from the connection's pool of slots (one allocation per pipeline at
// most, not one per command), which grows to the longest pipeline seen,
// up to maxArgsPool slots; a command that does not fit gets its own.
func (c *conn) parse(raws [][]byte) []parsedCmd {
	cmds := c.cmds[:0]
	if cap(cmds) < len(raws) {
		cmds = make([]parsedCmd, 0, len(raws))
	}
	used := 0
	for _, raw := range raws {
		complete, args, _, _, err := redcon.ReadNextCommand(raw, c.argsPool[used:used])
		if err == nil && !complete {
			err = protoErr("incomplete command") // cannot happen: the framer found its end
		}
		// A list that outgrew the pool was written into it up to its end
		// first: those slots are written too.
		c.argsWritten = max(c.argsWritten, min(used+len(args), cap(c.argsPool)))
		if used+len(args) <= cap(c.argsPool) {
			used += len(args) // in the pool
		}
		p := parsedCmd{args: args, err: err}
		if err == nil && len(args) > 0 {
			p.cmd = lookup(args[0]) // once: runBatch asks several times
		}
		cmds = append(cmds, p)
	}
	return cmds
}

// doneParsing drops the pipeline's references into the input buffer and
// keeps its slices for the next one, the pool grown to what it needed.
func (c *conn) doneParsing(cmds []parsedCmd) {
	total := 0
	for i := range cmds {
		total += len(cmds[i].args)
	}
	clear(c.argsPool[:c.argsWritten]) // not the whole pool: most pipelines are short
	c.argsWritten = 0
	if total > cap(c.argsPool) && total <= maxArgsPool {
		c.argsPool = make([][]byte, 0, total)
	}
	clear(cmds)
	if cap(cmds) <= maxArgsPool {
		c.cmds = cmds[:0]
	}
}

// runOf counts the commands at the start of cmds that ok accepts, up to
// Config.Parallel.
func (c *conn) runOf(cmds []parsedCmd, ok func(parsedCmd) bool) int {
	n := 0
	for n < len(cmds) && n < c.s.cfg.Parallel && ok(cmds[n]) {
		n++
	}
	return n
}

// readTogetherOK reports whether a command is a GET whose read may be
// done together with its neighbours'.
func (c *conn) readTogetherOK(p parsedCmd) bool {
	if p.err != nil || len(p.args) != 2 || c.s.cfg.SerialPipelines {
		return false
	}
	return p.cmd != nil && p.cmd.name == "get"
}

// runGets runs a pipeline's run of GETs. Their keys are read first, all
// together (Backend.GetMany: the reads one node serves share one round
// trip), then each GET runs as it would alone, answering from its read.
// Only the keys of an authenticated client that it may read, outside a
// RESP2 subscribed mode, are read ahead: for the others the GET answers
// its error as usual. The reads are not ordered among themselves, as
// Redis would order them: two GETs of a run may see two other clients'
// writes in either order, as two concurrent reads may. Each read is
// linearizable on its own, the run's commands were all sent before any
// was answered, and a run holds no write, so a GET after a SET of its key
// in one pipeline reads that SET.
func (c *conn) runGets(cmds []parsedCmd) {
	var keys []string
	var which []int
	subscribed := c.ps != nil && c.ps.count() > 0 && !c.resp3.Load() // GET is refused (dispatch)
	for i, p := range cmds {
		key := string(p.args[1])
		if c.authed && !subscribed && !kv.IsInternal(key) && (c.principal == nil || c.principal.Allows(key, false)) {
			keys, which = append(keys, key), append(which, i)
		}
	}
	var read []node.GetResult
	if len(keys) > 0 {
		read = c.s.b.GetMany(c.ctx, keys)
	}
	cl := &call{conn: c, r: &c.r}
	for i, p := range cmds {
		cl.pre = nil
		if len(which) > 0 && which[0] == i {
			cl.pre, which, read = &read[0], which[1:], read[1:]
		}
		c.dispatch(cl, p.cmd, p.args)
		c.emit()
		if c.quit || c.failed() {
			return
		}
	}
}

// parallelOK reports whether a command may run beside its neighbours.
func (c *conn) parallelOK(p parsedCmd) bool {
	if p.err != nil || len(p.args) < 2 || c.s.cfg.SerialPipelines {
		return false
	}
	return p.cmd != nil && p.cmd.parallel
}

// runOne runs one command alone and queues its reply.
func (c *conn) runOne(p parsedCmd) {
	switch {
	case p.err != nil:
		// Inline commands' quoting errors: a protocol error, as in Redis.
		c.r.err("ERR " + p.err.Error())
		c.quit = true
	case len(p.args) == 0:
		return // an empty inline line
	default:
		c.dispatch(&call{conn: c, r: &c.r}, p.cmd, p.args)
	}
	c.emit()
}

// runParallel runs single-key writes in parallel, one goroutine per key
// (each key's commands in order), and queues the replies in order; a run
// of plain SETs of distinct keys runs as runSets.
func (c *conn) runParallel(cmds []parsedCmd) {
	if c.runSets(cmds) {
		return
	}
	var keys []string
	byKey := map[string][]int{}
	for i, p := range cmds {
		k := string(p.args[1])
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	replies := make([]reply, len(cmds))
	resp3 := c.resp3.Load()
	c.parallel(len(keys), func(g int) {
		for _, i := range byKey[keys[g]] {
			replies[i].resp3 = resp3
			c.dispatch(&call{conn: c, r: &replies[i]}, cmds[i].cmd, cmds[i].args)
		}
	})
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, r := range replies {
		c.out = append(c.out, r.b...)
		if len(c.out) >= c.s.cfg.MaxPending {
			c.flushLocked()
		}
	}
}

// runSets runs a pipeline's run of plain SETs (no NX, XX or GET) of
// distinct keys, which the client may all do, and reports whether it did
// (false: cmds are not such a run, and nothing was done). Their writes are
// carried out first, together (Backend.WriteMany: on the leader, one pass
// through its write path and one batch to each replica), then each SET
// runs through dispatch as it would alone, answering from its write.
// Their effects are not ordered among themselves, as those of runParallel
// are not: the keys are distinct, and no reply goes out before all are
// done.
func (c *conn) runSets(cmds []parsedCmd) bool {
	if !c.authed || c.ps != nil && c.ps.count() > 0 && !c.resp3.Load() {
		return false // every SET is refused (dispatch)
	}
	ops := make([]wire.WriteOp, 0, len(cmds))
	scratch := &call{conn: c, r: &reply{}}
	for _, p := range cmds {
		op, ok := plainSet(scratch, p.cmd, p.args)
		if !ok || slices.ContainsFunc(ops, func(o wire.WriteOp) bool { return o.Key == op.Key }) {
			return false
		}
		ops = append(ops, op)
	}
	wrote, ok := c.writeMany(ops)
	cl := &call{conn: c, r: &c.r}
	for i, p := range cmds {
		if !ok {
			c.r.err("ERR internal error") // as dispatch answers a panic
		} else {
			cl.wrote = &wrote[i]
			c.dispatch(cl, p.cmd, p.args)
		}
		c.emit()
		if c.quit || c.failed() {
			break
		}
	}
	return true
}

// writeMany is Backend.WriteMany, turning a panic (a bug) into ok false,
// logged, as dispatch does for a command.
func (c *conn) writeMany(ops []wire.WriteOp) (_ []node.WriteResult, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.logPanic("set", p)
			ok = false
		}
	}()
	return c.s.b.WriteMany(c.ctx, ops), true
}

// logPanic logs a panic (a bug) recovered while running command.
func (c *conn) logPanic(command string, p any) {
	c.s.log.Error("redis command panic", "command", command, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
}

// dispatch runs a command, cmd (nil: unknown) named by args[0], turning a
// panic into an error reply.
func (c *conn) dispatch(cl *call, cmd *command, args [][]byte) {
	name := ""
	defer func() {
		if p := recover(); p != nil {
			c.logPanic(name, p)
			cl.r.b = cl.r.b[:0]
			cl.r.err("ERR internal error")
		}
	}()
	c.s.commands.Add(1)
	cl.r.resp3 = c.resp3.Load()
	if cmd == nil {
		cl.r.err(errUnknownCommand(string(args[0])))
		return
	}
	name = cmd.name
	// Redis's order: unknown command, arity, then authentication.
	switch {
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		cl.r.err(errWrongArity(cmd.name))
		return
	case !c.authed && !cmd.noAuth:
		cl.r.err(errNoAuth)
		return
	case c.ps != nil && c.ps.count() > 0 && !c.resp3.Load() && !cmd.inPubsub:
		cl.r.err(fmt.Sprintf("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", cmd.name))
		return
	}
	cmd.run(cl, args)
}

const errNoAuth = "NOAUTH Authentication required."

// fail answers err in Redis's form; write says whether the command
// writes (an unknown outcome concerns writes only).
func (c *call) fail(err error, write bool) { c.r.err(errorText(err, write)) }

// emit moves the reply built so far to the output, writing it out when
// enough is pending. Commands with large replies call it as they go.
func (c *conn) emit() {
	if len(c.r.b) == 0 {
		return
	}
	c.wmu.Lock()
	c.out = append(c.out, c.r.b...)
	if len(c.out) >= c.s.cfg.MaxPending {
		c.flushLocked()
	}
	c.wmu.Unlock()
	if cap(c.r.b) > shrinkOver {
		c.r.b = nil
	} else {
		c.r.b = c.r.b[:0]
	}
}

// flush writes the pending output.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *conn) flushLocked() error {
	if c.werr != nil || len(c.out) == 0 {
		c.out = c.out[:0]
		return c.werr
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(c.out)
	if err != nil {
		// A client that does not read its replies is disconnected, so
		// its replies never pile up.
		c.werr = err
		c.nc.Close()
	}
	if cap(c.out) > shrinkOver {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// failed reports whether writing to the client has failed.
func (c *conn) failed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr != nil
}

// emitWith runs f, which builds on the reply, and emits it, all under the
// output lock: nothing the pub/sub forwarder writes comes between.
func (c *conn) emitWith(f func()) {
	c.wmu.Lock()
	f()
	c.out = append(c.out, c.r.b...)
	c.r.b = c.r.b[:0]
	if len(c.out) >= c.s.cfg.MaxPending {
		c.flushLocked()
	}
	c.wmu.Unlock()
}
