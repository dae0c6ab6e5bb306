//go:build lockcheck

package node

import (
	"bytes"
	"runtime"
	"strconv"
)

// ranks is the process's lock-order tracker under the lockcheck tag.
var ranks rankTracker

func lockWillTake(r lockRank) {
	if err := ranks.check(goroutineID(), r); err != nil {
		panic(err)
	}
}

func lockTaken(r lockRank)    { ranks.push(goroutineID(), r) }
func lockReleased(r lockRank) { ranks.pop(goroutineID(), r) }

// goroutineID parses the running goroutine's number from its stack header
// ("goroutine 42 [running]:"); slow, which only the debug build pays.
func goroutineID() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
