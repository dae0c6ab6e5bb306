package node

import "sync"

// boundedGroup runs functions on goroutines of their own, at most its
// limit at once, and waits for them: Go waits for a free place first.
// Work a peer or a client asks for in bulk (the writes of a batch, the
// merges of a read batch) spreads over goroutines so, without one each.
type boundedGroup struct {
	wg    sync.WaitGroup
	slots chan struct{}
}

// newBoundedGroup makes a group of at most limit goroutines at once.
func newBoundedGroup(limit int) *boundedGroup {
	return &boundedGroup{slots: make(chan struct{}, limit)}
}

// Go runs f on a goroutine of its own once fewer than the limit run.
func (g *boundedGroup) Go(f func()) {
	g.slots <- struct{}{}
	g.wg.Go(func() {
		defer func() { <-g.slots }()
		f()
	})
}

// Wait waits for every function started to return.
func (g *boundedGroup) Wait() { g.wg.Wait() }
