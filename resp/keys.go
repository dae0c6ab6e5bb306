package resp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// uniqueKeys returns the distinct keys of args, in order.
func uniqueKeys(args [][]byte) []string {
	seen := make(map[string]bool, len(args))
	keys := make([]string, 0, len(args))
	for _, a := range args {
		if k := string(a); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// cmdDel deletes keys (DEL and UNLINK): each key on its own, in parallel.
func cmdDel(c *call, args [][]byte) {
	if !c.allowedAll(args, 1, 1, true) {
		return
	}
	keys := uniqueKeys(args[1:])
	deleted := make([]bool, len(keys))
	errs := make([]error, len(keys))
	c.parallel(len(keys), func(i int) {
		_, err := c.s.b.Write(c.ctx, wire.WriteOp{Kind: wire.WriteDelete, Key: keys[i]})
		switch {
		case errors.Is(err, wire.ErrNotFound):
		case err != nil:
			errs[i] = err
		default:
			deleted[i] = true
		}
	})
	n := 0
	for i := range keys {
		if errs[i] != nil {
			c.fail(errs[i], true)
			return
		}
		if deleted[i] {
			n++
		}
	}
	c.r.int(int64(n))
}

func cmdExists(c *call, args [][]byte) {
	if !c.allowedAll(args, 1, 1, false) {
		return
	}
	keys := args[1:]
	found := make([]bool, len(keys))
	errs := make([]error, len(keys))
	c.parallel(len(keys), func(i int) { _, found[i], errs[i] = c.get(string(keys[i])) })
	n := 0
	for i := range keys {
		if errs[i] != nil {
			c.fail(errs[i], false)
			return
		}
		if found[i] {
			n++ // a key named twice counts twice, as in Redis
		}
	}
	c.r.int(int64(n))
}

func cmdType(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, false) {
		return
	}
	_, found, err := c.get(key)
	switch {
	case err != nil:
		c.fail(err, false)
	case found:
		c.r.simple("string")
	default:
		c.r.simple("none")
	}
}

// cmdKeys lists the keys matching a pattern, bounded: past KeysLimit
// matches, or KeysScanLimit keys examined, it fails and says to use SCAN.
func cmdKeys(c *call, args [][]byte) {
	pattern := args[1]
	prefix := globPrefix(pattern)
	var out []string
	after, examined := "", 0
	for {
		page, next, err := c.s.b.List(c.ctx, prefix, after, 10_000)
		if err != nil {
			c.fail(err, false)
			return
		}
		examined += len(page)
		for _, k := range page {
			if globMatch(pattern, []byte(k)) && (c.principal == nil || c.principal.Allows(k, false)) {
				out = append(out, k)
			}
		}
		switch {
		case len(out) > c.s.cfg.KeysLimit:
			c.r.err(fmt.Sprintf("ERR KEYS would return more than %d keys (jumpkv bounds KEYS): use SCAN with MATCH", c.s.cfg.KeysLimit))
			return
		case next == "":
			c.r.setHeader(len(out))
			for _, k := range out {
				c.r.bulkString(k)
			}
			return
		case examined >= c.s.cfg.KeysScanLimit:
			c.r.err(fmt.Sprintf("ERR KEYS examined %d keys without finishing (jumpkv bounds KEYS): use SCAN with MATCH", examined))
			return
		}
		after = next
	}
}

// cmdScan pages through the keys in byte order. The cursor stands for the
// listing's `after` key (cursors.go): "0" starts, and ends, a scan.
func cmdScan(c *call, args [][]byte) {
	after, ok := c.s.cursors.lookup(string(args[1]))
	if !ok {
		c.r.err("ERR invalid cursor")
		return
	}
	var pattern []byte
	count := 10
	typ := ""
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.r.err("ERR " + ErrSyntax.Error())
			return
		}
		switch strings.ToUpper(string(args[i])) {
		case "MATCH":
			pattern = args[i+1]
		case "COUNT":
			n, ok := parseInt(args[i+1])
			if !ok {
				c.r.err("ERR " + ErrNotInteger.Error())
				return
			}
			if n < 1 {
				c.r.err("ERR " + ErrSyntax.Error())
				return
			}
			count = int(min(n, 10_000))
		case "TYPE":
			typ = strings.ToLower(string(args[i+1]))
		default:
			c.r.err("ERR " + ErrSyntax.Error())
			return
		}
	}
	prefix := ""
	if pattern != nil {
		prefix = globPrefix(pattern)
		if after < prefix {
			after = "" // the listing starts at the prefix anyway
		}
	}
	page, next, err := c.s.b.List(c.ctx, prefix, after, count)
	if err != nil {
		c.fail(err, false)
		return
	}
	keys := page[:0]
	for _, k := range page {
		if (pattern == nil || globMatch(pattern, []byte(k))) && (typ == "" || typ == "string") &&
			(c.principal == nil || c.principal.Allows(k, false)) {
			keys = append(keys, k)
		}
	}
	c.r.array(2)
	c.r.bulkString(c.s.cursors.issue(next))
	c.r.strings(keys)
}

// cmdDBSize counts the cluster's keys from the nodes' counts of the copies
// they hold: exact while every bucket has all its copies.
func cmdDBSize(c *call, args [][]byte) {
	n, err := c.dbsize()
	if err != nil {
		c.fail(err, false)
		return
	}
	c.r.int(n)
}

func (c *conn) dbsize() (int64, error) {
	ci, err := c.s.b.Cluster(c.ctx)
	if err != nil {
		return 0, err
	}
	var copies int64
	for _, n := range ci.Nodes {
		copies += n.Keys
	}
	r := int64(max(ci.Replicas, 1))
	return (copies + r/2) / r, nil
}

// cmdTTL answers TTL (seconds) and PTTL (ms): -2 for a missing key, -1 for
// one without expiry.
func cmdTTL(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, false) {
		return
	}
	e, found, err := c.get(key)
	if err != nil {
		c.fail(err, false)
		return
	}
	if !found {
		c.r.int(-2)
		return
	}
	at, ok := expiryOf(e)
	if !ok {
		c.r.int(-1)
		return
	}
	ms := max(time.Until(at).Milliseconds(), 0)
	if strings.EqualFold(string(args[0]), "pttl") {
		c.r.int(ms)
		return
	}
	c.r.int((ms + 500) / 1000)
}

// cmdExpire answers EXPIRE (seconds) and PEXPIRE (ms) with Redis's NX, XX,
// GT and LT options. A time in the past deletes the key, as in Redis.
func cmdExpire(c *call, args [][]byte) {
	name := strings.ToLower(string(args[0]))
	unit := "EX"
	if name == "pexpire" {
		unit = "PX"
	}
	key := string(args[1])
	at, errText := expireTime(unit, args[2], time.Now(), name)
	if errText != "" {
		c.r.err(errText)
		return
	}
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch strings.ToUpper(string(a)) {
		case "NX":
			nx = true
		case "XX":
			xx = true
		case "GT":
			gt = true
		case "LT":
			lt = true
		default:
			c.r.err("ERR Unsupported option " + string(a))
			return
		}
	}
	switch {
	case nx && (xx || gt || lt):
		c.r.err("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	case gt && lt:
		c.r.err("ERR GT and LT options at the same time are not compatible")
		return
	}
	if !c.allowed(key, true) {
		return
	}
	changed := false
	_, _, err := c.update(key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
		changed = false
		if !found {
			return nil, nil
		}
		old, has := expiryOf(cur)
		switch {
		case nx && has, xx && !has,
			gt && (!has || !at.After(old)), // no expiry counts as infinite
			lt && has && !at.Before(old):
			return nil, nil
		}
		changed = true
		if !at.After(time.Now()) {
			return &wire.WriteOp{Kind: wire.WriteDelete}, nil
		}
		op := &wire.WriteOp{Kind: wire.WritePut, Value: cur.Value, ContentType: cur.ContentType}
		return op, setExpiry(op, ttlSpec{kind: ttlAt, at: at})
	})
	if err != nil {
		c.fail(err, true)
		return
	}
	c.r.int(boolInt(changed))
}

// cmdPersist removes a key's expiry: 1 if it had one.
func cmdPersist(c *call, args [][]byte) {
	key := string(args[1])
	if !c.allowed(key, true) {
		return
	}
	changed := false
	_, _, err := c.update(key, func(cur store.Entry, found bool) (*wire.WriteOp, error) {
		changed = false
		if _, has := expiryOf(cur); !found || !has {
			return nil, nil
		}
		changed = true
		op := &wire.WriteOp{Kind: wire.WritePut, Value: cur.Value, ContentType: cur.ContentType}
		return op, setExpiry(op, ttlSpec{kind: ttlClear})
	})
	if err != nil {
		c.fail(err, true)
		return
	}
	c.r.int(boolInt(changed))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
