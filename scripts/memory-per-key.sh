#!/usr/bin/env bash
# Memory per key: a local 3-node cluster (replicas auto: 2 copies), loaded
# with KEYS keys of 100-byte values; prints each node's RSS before and
# after, and the Go heap figures from /metrics. Usage:
#   go build -o jumpkv ./cmd/jumpkv && scripts/memory-per-key.sh ./jumpkv [KEYS]
set -euo pipefail
bin=${1:?usage: $0 path/to/jumpkv [keys]}
keys=${2:-1000000}
http=${JUMPKV_HTTP_PORT:-28080} peer=${JUMPKV_PEER_PORT:-27070}
"$bin" cluster --http-port "$http" --peer-port "$peer" >/tmp/jumpkv-memory-cluster.log 2>&1 &
cluster=$!
trap 'kill -INT $cluster 2>/dev/null; wait $cluster 2>/dev/null || true' EXIT
urls=$(for i in 0 1 2; do printf 'http://127.0.0.1:%d,' $((http + i)); done)
urls=${urls%,}
for _ in $(seq 120); do
  ready=0
  for i in 0 1 2; do curl -sf "127.0.0.1:$((http + i))/readyz" >/dev/null && ready=$((ready + 1)); done
  [ "$ready" = 3 ] && break
  sleep 0.5
done
rss() {
  for i in 0 1 2; do
    p=$(pgrep -f "jumpkv node --http 127.0.0.1:$((http + i)) ")
    echo "  node on :$((http + i)), pid $p, $(grep VmRSS /proc/$p/status)"
  done
}
echo "empty:"; rss
"$bin" bench --addr "$urls" --op get --keys "$keys" --preload --duration 1s --value-size 100 >/dev/null
sleep 15 # let a collection or two run after the load
echo "loaded with $keys keys:"; rss
for i in 0 1 2; do
  curl -s "127.0.0.1:$((http + i))/metrics" |
    grep -E '^(jumpkv_keys|jumpkv_bytes|go_memstats_heap_alloc_bytes|go_memstats_next_gc_bytes|go_gc_gogc_percent) ' | tr '\n' ' '
  echo
done
echo "per stored copy, beyond its key and value bytes: (RSS - jumpkv_bytes) / jumpkv_keys"
for i in 0 1 2; do
  p=$(pgrep -f "jumpkv node --http 127.0.0.1:$((http + i)) ")
  rss_kb=$(awk '/VmRSS/{print $2}' /proc/$p/status)
  curl -s "127.0.0.1:$((http + i))/metrics" | awk -v rss="$rss_kb" -v port=$((http + i)) '
    $1 == "jumpkv_bytes" { b = $2 } $1 == "jumpkv_keys" { k = $2 }
    END { printf "  node on :%d: %.0f bytes per copy (%d copies)\n", port, (rss * 1024 - b) / k, k }'
done
