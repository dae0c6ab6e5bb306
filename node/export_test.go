package node

import "context"

// CloseGate closes bucket b's gate on n, as a placement change moving it
// does (writes of b wait), and returns the function that opens it again.
func (n *Node) CloseGate(b int) (open func()) {
	n.gates[b].close()
	return n.gates[b].open
}

// HoldKeyLock takes key's key lock on n, as a leader write of it in
// flight holds it, and returns the function that releases it.
func (n *Node) HoldKeyLock(key string) (release func()) {
	l := n.keyLocks[n.stripeOf(key)]
	if err := l.lock(context.Background()); err != nil {
		panic(err)
	}
	return l.unlock
}
