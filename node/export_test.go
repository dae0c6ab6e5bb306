package node

// CloseGate closes bucket b's gate on n, as a placement change moving it
// does (writes of b wait), and returns the function that opens it again.
func (n *Node) CloseGate(b int) (open func()) {
	n.gates[b].close()
	return n.gates[b].open
}
