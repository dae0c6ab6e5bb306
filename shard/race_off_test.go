//go:build !race

package shard

// raceEnabled reports whether the race detector, which slows code down
// several times, is on.
const raceEnabled = false
