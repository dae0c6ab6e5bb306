package main

import (
	"fmt"
	"slices"
	"strconv"
)

// shareCPUs returns env for n node processes started on this machine,
// each given GOMAXPROCS = its share of the CPUs this process may use
// (cpus, the runtime's own default: cores, or a container's CPU limit),
// at least 1, unless env already sets GOMAXPROCS or the nodes' writes
// wait for fsync (diskBound): a node down to one P stalls while the log
// syncs, and --fsync always PUTs fell by 15-30% so (8.3k and 9.0k against
// 11.8k and 10.0k/s, bench --spawn 3, two rounds). It also returns a line
// saying what it chose, for the operator.
//
// Go sizes each process for the whole machine: n co-located nodes then
// keep up to n×cpus threads running or spinning in search of work, and
// on a 2-core machine the spinning of three nodes cost 20-30% of the CPU
// per request (measured: jumpkv cluster, redis-benchmark against the
// leader, GOMAXPROCS 1 against the default: SET +14%, GET +21%,
// pipelined SET +11%, pipelined GET +16% requests/s).
func shareCPUs(env []string, n, cpus int, diskBound bool) ([]string, string) {
	switch {
	case hasEnv(env, "GOMAXPROCS"):
		return env, "each node: GOMAXPROCS as set in the environment"
	case diskBound:
		return env, fmt.Sprintf("each node: GOMAXPROCS %d, Go's default (writes wait for fsync; set GOMAXPROCS to choose)", cpus)
	}
	share := max(1, cpus/max(n, 1))
	env = append(slices.Clip(env), "GOMAXPROCS="+strconv.Itoa(share))
	return env, fmt.Sprintf("each node: GOMAXPROCS %d (%d CPUs shared by %d nodes; set GOMAXPROCS to choose)", share, cpus, n)
}
