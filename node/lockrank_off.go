//go:build !lockcheck

package node

func lockWillTake(lockRank) {}
func lockTaken(lockRank)    {}
func lockReleased(lockRank) {}
