package resp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// allowed checks the session's permission on key, answering NOPERM when
// it is refused.
func (c *call) allowed(key string, write bool) bool {
	if kv.IsInternal(key) {
		c.r.err("ERR keys starting with a NUL byte belong to the node (its files' chunks)")
		return false
	}
	if c.principal == nil || c.principal.Allows(key, write) {
		return true
	}
	c.r.err(fmt.Sprintf("NOPERM User %s has no permissions to access the '%s' key", c.user, key))
	return false
}

// allowedAll checks every key of args[from:] (every step-th).
func (c *call) allowedAll(args [][]byte, from, step int, write bool) bool {
	for i := from; i < len(args); i += step {
		if !c.allowed(string(args[i]), write) {
			return false
		}
	}
	return true
}

// get reads key: found false (and no error) when it is absent.
func (c *conn) get(key string) (store.Entry, bool, error) {
	return readResult(c.s.b.Get(c.ctx, key))
}

// readResult turns a node's answer to a read into found false (and no
// error) when the key is absent.
func readResult(e store.Entry, err error) (store.Entry, bool, error) {
	switch {
	case errors.Is(err, wire.ErrNotFound):
		return store.Entry{}, false, nil
	case err != nil:
		return store.Entry{}, false, err
	}
	return e, true, nil
}

// update is an atomic read-modify-write of key: it reads the key, asks f
// for the write to make of it (nil: none), and makes it conditional on the
// version read (or on the key's absence), at the leader. When another
// write came between, it reads again, at most MaxRetries times. It returns
// what it read on the attempt that counted.
func (c *conn) update(key string, f func(cur store.Entry, found bool) (*wire.WriteOp, error)) (store.Entry, bool, error) {
	for attempt := range c.s.cfg.MaxRetries {
		if attempt > 0 {
			// Jittered backoff, so that racing clients spread out.
			d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(500*time.Microsecond)))
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return store.Entry{}, false, fmt.Errorf("%w: server closing", wire.ErrClosed)
			}
		}
		cur, found, err := c.get(key)
		if err != nil {
			if wire.MaybeDelivered(err) || errors.Is(err, context.DeadlineExceeded) {
				// Nothing was written yet: not an unknown outcome.
				err = fmt.Errorf("%w: reading %q before writing it: %v", wire.ErrUnavailable, key, err)
			}
			return store.Entry{}, false, err
		}
		if found && cur.ContentType == kv.FileType {
			// A file's manifest (package files): rewriting it from here
			// would damage the file. Its bytes are read and written over
			// HTTP and FTP.
			return cur, found, ErrHoldsFile
		}
		op, err := f(cur, found)
		if err != nil || op == nil {
			return cur, found, err
		}
		op.Key = key
		if found {
			v := cur.Version
			op.IfMatch = &v
		} else {
			op.IfNoneMatch = true
		}
		_, err = c.s.b.Write(c.ctx, *op)
		if errors.Is(err, wire.ErrPrecondition) || errors.Is(err, wire.ErrExists) || errors.Is(err, wire.ErrNotFound) {
			continue // another write came between: read again
		}
		return cur, found, err
	}
	return store.Entry{}, false, fmt.Errorf("%w: %d attempts at %q each lost the race to another writer: try again", wire.ErrUnavailable, c.s.cfg.MaxRetries, key)
}

// parallel runs f(0..n-1) on at most Config.Parallel goroutines (the
// caller's among them) and returns when all are done.
func (c *conn) parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	loop := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			f(i)
		}
	}
	for range min(n, c.s.cfg.Parallel) - 1 {
		wg.Add(1)
		c.s.pool.run(func() {
			defer wg.Done()
			loop()
		})
	}
	loop()
	wg.Wait()
}

func cmdGet(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, false) {
		return
	}
	var e store.Entry
	var found bool
	var err error
	if c.pre != nil {
		e, found, err = readResult(c.pre.Entry, c.pre.Err)
	} else {
		e, found, err = c.get(key)
	}
	if err != nil {
		c.fail(err, false)
		return
	}
	c.r.bulkOrNull(e.Value, found)
}

// setOptions are SET's options.
type setOptions struct {
	nx, xx, get bool
	ttl         ttlSpec
	ttlGiven    bool
}

// parseSet reads SET's options (args after the value), answering Redis's
// errors.
func parseSet(c *call, args [][]byte) (setOptions, bool) {
	var o setOptions
	for i := 0; i < len(args); i++ {
		switch a := strings.ToUpper(string(args[i])); {
		case a == "NX" && !o.xx:
			o.nx = true
		case a == "XX" && !o.nx:
			o.xx = true
		case a == "GET":
			o.get = true
		case a == "KEEPTTL" && !o.ttlGiven:
			o.ttl, o.ttlGiven = ttlSpec{kind: ttlKeep}, true
		case (a == "EX" || a == "PX" || a == "EXAT" || a == "PXAT") && !o.ttlGiven && i+1 < len(args):
			i++
			at, err := expireTime(a, args[i], time.Now(), "set")
			if err != "" {
				c.r.err(err)
				return o, false
			}
			o.ttl, o.ttlGiven = ttlSpec{kind: ttlAt, at: at}, true
		default:
			c.r.err("ERR " + ErrSyntax.Error())
			return o, false
		}
	}
	return o, true
}

// expireTime turns an EX/PX/EXAT/PXAT amount into an absolute time, or
// returns Redis's error for it.
func expireTime(unit string, arg []byte, now time.Time, cmd string) (time.Time, string) {
	n, ok := parseInt(arg)
	if !ok {
		return time.Time{}, "ERR " + ErrNotInteger.Error()
	}
	invalid := "ERR invalid expire time in '" + cmd + "' command"
	if cmd == "set" && n <= 0 {
		return time.Time{}, invalid
	}
	ms := n
	if unit == "EX" || unit == "EXAT" {
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return time.Time{}, invalid
		}
		ms = n * 1000
	}
	if unit == "EX" || unit == "PX" {
		if ms > math.MaxInt64-now.UnixMilli() {
			return time.Time{}, invalid
		}
		ms += now.UnixMilli()
	}
	return time.UnixMilli(ms), ""
}

func cmdSet(c *call, args [][]byte) {
	if c.wrote != nil {
		// Carried out together with the SETs next to it (runSets), which
		// found it a plain SET: the reply is all that is left.
		answerSet(c, setOptions{}, c.wrote.Err)
		return
	}
	op, o, ok := setOp(c, args)
	if !ok {
		return
	}
	if o.get {
		// Read and write as one: conditional on the version read.
		old, found, err := c.update(op.Key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
			if (o.nx && found) || (o.xx && !found) {
				return nil, nil
			}
			w := op
			return &w, nil
		})
		if err != nil {
			c.fail(err, true)
			return
		}
		c.r.bulkOrNull(old.Value, found)
		return
	}
	switch {
	case o.nx:
		op.IfNoneMatch = true
	case o.xx:
		op.IfExists = true
	}
	_, err := c.s.b.Write(c.ctx, op)
	answerSet(c, o, err)
}

// setOp parses a SET (its key, value and options) into the write it asks
// for, without its NX/XX condition, answering Redis's error when it is
// malformed or the client may not do it.
func setOp(c *call, args [][]byte) (wire.WriteOp, setOptions, bool) {
	key := string(args[1])
	o, ok := parseSet(c, args[3:])
	if !ok || !c.allowed(key, true) || (o.get && !c.allowed(key, false)) {
		return wire.WriteOp{}, o, false
	}
	op := wire.WriteOp{Kind: wire.WritePut, Key: key, Value: bytes.Clone(args[2])}
	if !o.ttlGiven {
		o.ttl = ttlSpec{kind: ttlClear}
	}
	if err := setExpiry(&op, o.ttl); err != nil {
		c.fail(err, true)
		return wire.WriteOp{}, o, false
	}
	return op, o, true
}

// plainSet returns the write of a SET without NX, XX or GET that the
// client may do (answering nothing: c's reply is scratch), and whether
// cmd and args are one.
func plainSet(c *call, cmd *command, args [][]byte) (wire.WriteOp, bool) {
	if cmd == nil || cmd.name != "set" || len(args) < 3 {
		return wire.WriteOp{}, false
	}
	op, o, ok := setOp(c, args)
	return op, ok && !o.nx && !o.xx && !o.get
}

// answerSet answers a SET without GET whose write ended with err.
func answerSet(c *call, o setOptions, err error) {
	switch {
	case (o.nx || o.xx) && (errors.Is(err, wire.ErrPrecondition) || errors.Is(err, wire.ErrExists)):
		c.r.null()
	case err != nil:
		c.fail(err, true)
	default:
		c.r.ok()
	}
}

func cmdSetNX(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, true) {
		return
	}
	op := wire.WriteOp{Kind: wire.WriteCreate, Key: key, Value: bytes.Clone(args[2])}
	if err := setExpiry(&op, ttlSpec{kind: ttlClear}); err != nil {
		c.fail(err, true)
		return
	}
	_, err := c.s.b.Write(c.ctx, op)
	switch {
	case errors.Is(err, wire.ErrExists) || errors.Is(err, wire.ErrPrecondition):
		c.r.int(0)
	case err != nil:
		c.fail(err, true)
	default:
		c.r.int(1)
	}
}

func cmdGetDel(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, false) || !c.allowed(key, true) {
		return
	}
	old, found, err := c.update(key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
		if !found {
			return nil, nil
		}
		return &wire.WriteOp{Kind: wire.WriteDelete}, nil
	})
	if err != nil {
		c.fail(err, true)
		return
	}
	c.r.bulkOrNull(old.Value, found)
}

// cmdMGet reads keys Config.Parallel at a time (Backend.GetMany: the
// reads one node serves share one round trip), writing each chunk's
// values before reading the next: a connection holds at most that many
// values at once, whatever the number of keys. A read that fails after a
// first chunk was written ends the connection (the reply cannot turn into
// an error half-way).
func cmdMGet(c *call, args [][]byte) {
	if !c.allowedAll(args, 1, 1, false) {
		return
	}
	keys := args[1:]
	chunk := c.s.cfg.Parallel
	part := make([]string, 0, min(chunk, len(keys)))
	for start := 0; start < len(keys); start += chunk {
		part = part[:0]
		for _, k := range keys[start:min(start+chunk, len(keys))] {
			part = append(part, string(k))
		}
		read := c.s.b.GetMany(c.ctx, part)
		for i := range read {
			if _, _, err := readResult(read[i].Entry, read[i].Err); err != nil {
				if start > 0 {
					c.s.log.Info("redis MGET failed half-way: closing the connection", "id", c.id, "err", err)
					c.quit = true
					c.r.b = c.r.b[:0]
					return
				}
				c.fail(err, false)
				return
			}
		}
		if start == 0 {
			c.r.array(len(keys))
		}
		for i := range read {
			e, found, _ := readResult(read[i].Entry, read[i].Err)
			c.r.bulkOrNull(e.Value, found)
			if len(c.r.b) >= c.s.cfg.MaxPending {
				c.emit()
			}
		}
	}
}

func cmdMSet(c *call, args [][]byte) {
	if len(args)%2 == 0 {
		c.r.err(errWrongArity("mset"))
		return
	}
	if !c.allowedAll(args, 1, 2, true) {
		return
	}
	// The last value of a key repeated wins, as in Redis; keys are written
	// together, so each once.
	last := map[string]int{}
	var keys []string
	for i := 1; i < len(args); i += 2 {
		k := string(args[i])
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = i + 1
	}
	// Config.Parallel keys at a time (Backend.WriteMany: carried out
	// together on the leader, at once on a follower).
	chunk := c.s.cfg.Parallel
	ops := make([]wire.WriteOp, 0, min(chunk, len(keys)))
	for start := 0; start < len(keys); start += chunk {
		ops = ops[:0]
		for _, k := range keys[start:min(start+chunk, len(keys))] {
			op := wire.WriteOp{Kind: wire.WritePut, Key: k, Value: bytes.Clone(args[last[k]])}
			if err := setExpiry(&op, ttlSpec{kind: ttlClear}); err != nil {
				c.fail(err, true)
				return
			}
			ops = append(ops, op)
		}
		for _, r := range c.s.b.WriteMany(c.ctx, ops) {
			if r.Err != nil {
				c.fail(r.Err, true)
				return
			}
		}
	}
	c.r.ok()
}

func cmdAppend(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, true) {
		return
	}
	suffix := args[2]
	var length int
	_, _, err := c.update(key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
		if len(cur.Value)+len(suffix) > c.s.cfg.MaxValue {
			return nil, fmt.Errorf("%w: the appended value would be %d bytes, the limit is %d", wire.ErrTooLarge, len(cur.Value)+len(suffix), c.s.cfg.MaxValue)
		}
		v := make([]byte, 0, len(cur.Value)+len(suffix))
		v = append(append(v, cur.Value...), suffix...)
		length = len(v)
		op := &wire.WriteOp{Kind: wire.WritePut, Value: v, ContentType: cur.ContentType}
		return op, setExpiry(op, ttlSpec{kind: ttlKeep})
	})
	if err != nil {
		c.fail(err, true)
		return
	}
	c.r.int(int64(length))
}

func cmdStrlen(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, false) {
		return
	}
	e, _, err := c.get(key)
	if err != nil {
		c.fail(err, false)
		return
	}
	c.r.int(int64(len(e.Value)))
}

func cmdIncr(c *call, args [][]byte)   { incrBy(c, args[1], 1) }
func cmdDecr(c *call, args [][]byte)   { incrBy(c, args[1], -1) }
func cmdIncrBy(c *call, args [][]byte) { incrByArg(c, args, false) }
func cmdDecrBy(c *call, args [][]byte) { incrByArg(c, args, true) }

func incrByArg(c *call, args [][]byte, negate bool) {
	d, ok := parseInt(args[2])
	if !ok {
		c.r.err("ERR " + ErrNotInteger.Error())
		return
	}
	if negate {
		if d == math.MinInt64 {
			c.r.err("ERR decrement would overflow")
			return
		}
		d = -d
	}
	incrBy(c, args[1], d)
}

// incrBy adds delta to the integer at key, atomically across nodes: a
// write conditional on the version read, retried when another came first.
func incrBy(c *call, keyArg []byte, delta int64) {
	key := string(keyArg)
	if !c.allowed(key, true) {
		return
	}
	var next int64
	_, _, err := c.update(key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
		var n int64
		if found {
			var ok bool
			if n, ok = parseInt(cur.Value); !ok {
				return nil, ErrNotInteger
			}
		}
		if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
			return nil, ErrOverflow
		}
		next = n + delta
		op := &wire.WriteOp{Kind: wire.WritePut, Value: strconv.AppendInt(nil, next, 10), ContentType: cur.ContentType}
		return op, setExpiry(op, ttlSpec{kind: ttlKeep})
	})
	if err != nil {
		c.fail(err, true)
		return
	}
	c.r.int(next)
}

// parseInt parses a 64-bit integer as Redis does (string2ll): an optional
// minus, digits, no leading zeros, no plus sign or spaces.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	d := b
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || d[0] < '1' || d[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}
