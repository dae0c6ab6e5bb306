package node

// CloseGate closes bucket b's gate on n, as a placement change moving it
// does (writes of b wait), and returns the function that opens it again.
func (n *Node) CloseGate(b int) (open func()) {
	n.gates[b].close()
	return n.gates[b].open
}

// HoldKeyLock takes key's key lock on n, as a leader write of it in
// flight holds it (outside the lock-order checks: the test's goroutine
// stands for the write's), and returns the function that releases it.
func (n *Node) HoldKeyLock(key string) (release func()) {
	l := n.keyLocks[n.stripeOf(key)]
	l.ch <- struct{}{}
	return func() { <-l.ch }
}

// SameStripe reports whether keys a and b share a key lock.
func (n *Node) SameStripe(a, b string) bool { return n.stripeOf(a) == n.stripeOf(b) }

// MarkInDoubt records, on leader n, that key's last write under its
// current term failed with an unknown outcome, as settleDoubt does.
func (n *Node) MarkInDoubt(key string) {
	n.mu.Lock()
	term := n.el.Term()
	n.mu.Unlock()
	n.doubt.mark(term, key)
}

// SetHandover marks the leader's leadership as being handed over (on) or
// not: while it is, the leader refuses writes (ErrNoLeader).
func (n *Node) SetHandover(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lead != nil {
		n.lead.handover = on
	}
}

// ForwardErr is forwardErr: what Write returns for how forwarding a
// write (alone or in a batch) to the leader failed.
var ForwardErr = forwardErr

// ForgetMerges makes n count every bucket as not merged under the current
// authority, as a new term does: its next read of each merges it first.
func (n *Node) ForgetMerges() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.synced)
}
