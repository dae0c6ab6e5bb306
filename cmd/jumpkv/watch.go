package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

// watchKeepalive is how often `jumpkv watch` pings its node: one silent
// for three periods is taken as gone, and the watch moves to the next
// endpoint.
const watchKeepalive = 2 * time.Second

// watchEvent is one line of `jumpkv watch`: a change as the node streams
// it, or a line of a resync after a reset.
type watchEvent struct {
	client.Event
	// Resync marks the puts that re-read the prefix after a reset.
	Resync bool `json:"resync,omitempty"`
	// Keys is the number of keys a resync printed (type "synced").
	Keys *int `json:"keys,omitempty"`
}

// cmdWatch prints every change under the prefix as one JSON line, until
// ctx ends. When changes may have been missed (a reset), it prints
// {"type":"reset"}, re-reads every key under the prefix and prints each as
// a put marked "resync":true, then {"type":"synced","keys":N}, and goes
// on; a change older than what the resync printed for its key is not
// printed. A consumer that mirrors the prefix clears its copy at "reset"
// and applies every line.
func cmdWatch(ctx context.Context, c *client.Client, rest []string, since string, out *output, stderr io.Writer) error {
	prefix := ""
	if len(rest) == 1 {
		prefix = rest[0]
	}
	lastDrop := ""
	onDrop := client.OnDrop(func(err error) {
		// Said once per kind of failure, not once per attempt.
		if msg := cliError(err); msg != lastDrop {
			lastDrop = msg
			fmt.Fprintf(stderr, "jumpkv watch: %s; reconnecting\n", msg)
		}
	})
	onConnect := client.OnConnect(func(ep string) {
		if lastDrop != "" {
			fmt.Fprintf(stderr, "jumpkv watch: watching again at %s\n", hostOf(ep))
			lastDrop = ""
		}
	})
	var resynced map[string]string // key → version the last resync printed
	for ev, err := range c.Watch(ctx, prefix, since, onDrop, onConnect) {
		if err != nil {
			return err
		}
		if ev.Type == client.EventReset {
			if err := out.encode(watchEvent{Event: ev}); err != nil {
				return err
			}
			if resynced, err = resync(ctx, c, prefix, out); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("re-reading %q after a reset: %w", prefix, err)
			}
			continue
		}
		if v, ok := resynced[ev.Key]; ok {
			if !versionAfter(ev.Version, v) {
				continue // the resync printed this change or a newer one
			}
			delete(resynced, ev.Key)
		}
		if err := out.encode(watchEvent{Event: ev}); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the watch ended")
}

// resync prints every key under prefix as a put marked resync, then a
// "synced" line, and returns the version it printed for each key.
func resync(ctx context.Context, c *client.Client, prefix string, out *output) (map[string]string, error) {
	printed := map[string]string{}
	for key, err := range c.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		v, err := c.Get(ctx, key)
		if errors.Is(err, client.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		ev := watchEvent{Event: client.Event{Type: client.EventPut, Key: key, Value: v.Data, Version: v.Version}, Resync: true}
		if err := out.encode(ev); err != nil {
			return nil, err
		}
		printed[key] = v.Version
	}
	n := len(printed)
	return printed, out.encode(watchEvent{Event: client.Event{Type: "synced"}, Keys: &n})
}

// versionAfter reports whether version a (term.sequence) is newer than b;
// a version that cannot be read counts as newer, so that it is printed.
func versionAfter(a, b string) bool {
	at, as, okA := parseVersion(a)
	bt, bs, okB := parseVersion(b)
	if !okA || !okB {
		return true
	}
	return at > bt || at == bt && as > bs
}

func parseVersion(v string) (term, seq uint64, ok bool) {
	t, s, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(t, 10, 64)
	seq, err2 := strconv.ParseUint(s, 10, 64)
	return term, seq, err1 == nil && err2 == nil
}
