package node

import "sync"

// boundedGroup runs functions on goroutines of their own, at most limit
// at once, and waits for them: Go waits for a free place first. Work a
// peer or a client asks for in bulk (the writes of a batch, the merges of
// a read batch) spreads over goroutines so, without one each. Its places
// are made on the first Go, so a group that runs nothing (most WriteMany
// calls) costs nothing. Go is called from one goroutine.
type boundedGroup struct {
	limit int
	wg    sync.WaitGroup
	slots chan struct{}
}

// Go runs f on a goroutine of its own once fewer than the limit run.
func (g *boundedGroup) Go(f func()) {
	if g.slots == nil {
		g.slots = make(chan struct{}, g.limit)
	}
	g.slots <- struct{}{}
	g.wg.Go(func() {
		defer func() { <-g.slots }()
		f()
	})
}

// Wait waits for every function started to return.
func (g *boundedGroup) Wait() { g.wg.Wait() }
