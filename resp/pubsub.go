package resp

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/watch"
	"github.com/jumpkv/jumpkv/wire"
)

// Keyspace notifications: SUBSCRIBE and PSUBSCRIBE on Redis's keyspace
// channels, fed by the node's watch stream. A change to key k is published
// as "<event>" on __keyspace@0__:k and as "k" on __keyevent@0__:<event>.
const (
	keyspacePrefix = "__keyspace@0__:"
	keyeventPrefix = "__keyevent@0__:"
)

// eventName is the Redis notification of a change. The stream does not
// tell an append from a put: both are "set".
func eventName(e wire.Event) string {
	switch {
	case e.Deleted && e.Expired:
		return "expired"
	case e.Deleted:
		return "del"
	}
	return "set"
}

// pubsub is a connection's subscriptions and the goroutine that forwards
// matching changes to it.
type pubsub struct {
	mu        sync.Mutex // guards the fields below (the forwarder reads them)
	channels  map[string]bool
	patterns  map[string]bool
	principal Principal

	sub  *node.Subscription // nil while nothing is subscribed
	done chan struct{}      // closed when the forwarder ends
}

// count returns the subscriptions held (channels and patterns).
func (p *pubsub) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.channels) + len(p.patterns)
}

// cmdSubscribe answers SUBSCRIBE and PSUBSCRIBE.
func cmdSubscribe(c *call, args [][]byte) {
	pattern := strings.EqualFold(string(args[0]), "psubscribe")
	if c.ps == nil {
		c.ps = &pubsub{channels: map[string]bool{}, patterns: map[string]bool{}}
	}
	if c.ps.sub == nil {
		// One watch of every key per subscribed connection, filtered here.
		sub, err := c.s.b.Watch("", nil)
		if err != nil {
			c.fail(err, false)
			return
		}
		c.ps.sub, c.ps.done = sub, make(chan struct{})
		go c.forward(c.ps.sub, c.ps.done)
	}
	kind := "subscribe"
	if pattern {
		kind = "psubscribe"
	}
	// The confirmations reach the output before any message of the new
	// channels: both go through wmu.
	c.emitWith(func() {
		p := c.ps
		p.mu.Lock()
		defer p.mu.Unlock()
		p.principal = c.principal
		for _, a := range args[1:] {
			name := string(a)
			if pattern {
				p.patterns[name] = true
			} else {
				p.channels[name] = true
			}
			c.r.pushHeader(3)
			c.r.bulkString(kind)
			c.r.bulkString(name)
			c.r.int(int64(len(p.channels) + len(p.patterns)))
		}
	})
}

// cmdUnsubscribe answers UNSUBSCRIBE and PUNSUBSCRIBE: the channels named,
// or all of them.
func cmdUnsubscribe(c *call, args [][]byte) {
	pattern := strings.EqualFold(string(args[0]), "punsubscribe")
	kind := "unsubscribe"
	if pattern {
		kind = "punsubscribe"
	}
	if c.ps == nil {
		c.ps = &pubsub{channels: map[string]bool{}, patterns: map[string]bool{}}
	}
	p := c.ps
	p.mu.Lock()
	set := p.channels
	if pattern {
		set = p.patterns
	}
	var names []string
	if len(args) > 1 {
		for _, a := range args[1:] {
			names = append(names, string(a))
		}
	} else {
		for n := range set {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		c.r.pushHeader(3)
		c.r.bulkString(kind)
		c.r.null()
		c.r.int(int64(len(p.channels) + len(p.patterns)))
	}
	for _, n := range names {
		delete(set, n)
		c.r.pushHeader(3)
		c.r.bulkString(kind)
		c.r.bulkString(n)
		c.r.int(int64(len(p.channels) + len(p.patterns)))
	}
	left := len(p.channels) + len(p.patterns)
	p.mu.Unlock()
	if left == 0 {
		c.stopWatch() // frees the node's watcher slot
	}
}

// stopWatch ends the connection's watch and waits for its forwarder.
func (c *conn) stopWatch() {
	if c.ps == nil || c.ps.sub == nil {
		return
	}
	c.s.b.Unwatch(c.ps.sub)
	select {
	case <-c.ps.done:
	case <-time.After(10 * time.Second):
		// The node's hub closes an ended subscription; a node already
		// stopped never will. Do not hang the connection on it.
		c.s.log.Warn("redis subscriber: the node did not end its watch", "id", c.id)
	}
	c.ps.sub, c.ps.done = nil, nil
}

// stopPubsub ends subscriptions when the connection ends.
func (c *conn) stopPubsub() { c.stopWatch() }

// forward writes the changes that match the connection's subscriptions as
// messages, until the subscription ends. A subscriber that falls behind
// the node's buffer is disconnected, as Redis disconnects a subscriber
// past its output buffer limit.
func (c *conn) forward(sub *node.Subscription, done chan struct{}) {
	defer close(done)
	var r reply
	for range sub.Ready() {
		evs, open := sub.Take()
		for _, e := range evs {
			if e.Reset {
				// Changes may have been missed: Redis's pub/sub is at most
				// once, and has no way to say so.
				continue
			}
			r.resp3 = c.resp3.Load()
			c.messages(&r, e)
		}
		if len(r.b) > 0 {
			c.wmu.Lock()
			c.out = append(c.out, r.b...)
			c.flushLocked()
			c.wmu.Unlock()
			r.b = r.b[:0]
		}
		if !open {
			break
		}
	}
	err := sub.Err()
	if errors.Is(err, watch.ErrUnwatched) {
		return // the client unsubscribed
	}
	if err != nil && !errors.Is(err, node.ErrWatchStopped) {
		c.s.log.Info("redis subscriber disconnected", "id", c.id, "err", err)
	}
	if err != nil {
		c.nc.Close() // too slow, or the node stops: the read loop ends
	}
}

// messages appends the messages e makes for the connection's
// subscriptions.
func (c *conn) messages(r *reply, e wire.Event) {
	p := c.ps
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.principal != nil && !p.principal.Allows(e.Key, false) {
		return
	}
	event := eventName(e)
	space, evch := keyspacePrefix+e.Key, keyeventPrefix+event
	msg := func(channel, payload string) {
		r.pushHeader(3)
		r.bulkString("message")
		r.bulkString(channel)
		r.bulkString(payload)
	}
	if p.channels[space] {
		msg(space, event)
	}
	if p.channels[evch] {
		msg(evch, e.Key)
	}
	for pat := range p.patterns {
		for _, m := range [2][2]string{{space, event}, {evch, e.Key}} {
			if globMatch([]byte(pat), []byte(m[0])) {
				r.pushHeader(4)
				r.bulkString("pmessage")
				r.bulkString(pat)
				r.bulkString(m[0])
				r.bulkString(m[1])
			}
		}
	}
}
