package resp

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// cursors maps SCAN cursors to the listing's `after` key. Clients (go-redis,
// redis-cli) take cursors to be unsigned integers, and a key (up to 1 KiB)
// does not fit in one, so a server remembers the keys behind the cursors it
// issued: at most max of them (the oldest go first), each for ttl. A
// cursor is only known to the node that issued it.
type cursors struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	byID  map[uint64]cursor
	order []uint64 // issue order, for eviction
}

type cursor struct {
	after   string
	expires time.Time
}

func newCursors(max int, ttl time.Duration) *cursors {
	return &cursors{max: max, ttl: ttl, now: time.Now, byID: map[uint64]cursor{}}
}

// issue returns the cursor that continues after key ("0" when the scan is
// over: key is empty).
func (cs *cursors) issue(after string) string {
	if after == "" {
		return "0"
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	id := rand.Uint64()
	for _, taken := cs.byID[id]; id == 0 || taken; _, taken = cs.byID[id] {
		id = rand.Uint64()
	}
	cs.byID[id] = cursor{after: after, expires: cs.now().Add(cs.ttl)}
	cs.order = append(cs.order, id)
	for len(cs.order) > cs.max {
		delete(cs.byID, cs.order[0])
		cs.order = cs.order[1:]
	}
	return strconv.FormatUint(id, 10)
}

// lookup returns the key a cursor continues after ("" for "0"); ok is
// false for a cursor this server does not know (or no longer).
func (cs *cursors) lookup(s string) (after string, ok bool) {
	if s == "0" {
		return "", true
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return "", false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.byID[id]
	if !ok || cs.now().After(c.expires) {
		return "", false
	}
	return c.after, true
}
