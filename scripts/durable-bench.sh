#!/usr/bin/env bash
# What durability costs: PUT and GET through the leader of 3 spawned nodes,
# memory only, --fsync everysec and --fsync always, alternated ROUNDS times
# (default 3) in one run, so that the host's drift falls on all three.
#   scripts/durable-bench.sh ./jumpkv [ROUNDS]
# Prints: op round mode ops/s server-CPU-us-per-op p99-ms errors
set -euo pipefail
bin=$(realpath "${1:?usage: $0 ./jumpkv [ROUNDS]}")
# Every mode with the same GOMAXPROCS (Go's default: the CPUs), so that the
# ratios measure what durability costs: bench --spawn would otherwise give
# memory-only and everysec nodes a share of the CPUs, and always ones not.
export GOMAXPROCS=${GOMAXPROCS:-$(nproc)}
rounds=${2:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for op in put get; do
  for r in $(seq "$rounds"); do
    for mode in memory everysec always; do
      extra=()
      if [ "$mode" != memory ]; then
        rm -rf "$dir/data"
        extra=(-- --data-dir "$dir/data/n-{slot}" --fsync "$mode")
      fi
      "$bin" bench --spawn 3 --op "$op" --duration 6s --warmup 2s --target leader --json "${extra[@]}" 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin)['median']['jumpkv']; print('$op', $r, '$mode', round(d['ops_per_sec']), round(d['cpu_us_per_op']['servers'],1), round(d['latency_ms']['p99'],1), d['errors'])"
    done
  done
done
