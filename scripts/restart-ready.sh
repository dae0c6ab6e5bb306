#!/usr/bin/env bash
# How long a node restarted from its data directory takes to answer
# /readyz 200, holding KEYS keys (default 1,000,000 of 100 bytes):
#   scripts/restart-ready.sh ./jumpkv [KEYS]
# Starts 3 nodes on free loopback ports with data directories under a
# temporary directory, loads the keys with `jumpkv bench --preload`, then:
#   1. SIGKILLs one follower and starts it again at once, then again after
#      5 s down (past --dead-after, so its buckets were re-replicated and
#      it catches up by comparing versions): time to its /readyz 200;
#   2. SIGKILLs every node at once and starts them all again: time until
#      every node answers /readyz 200, and every key is counted back.
# Prints one line per measurement. Everything it starts is stopped at exit.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 ./jumpkv [KEYS]}")
keys=${2:-1000000}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=() peer=()
for i in 0 1 2; do http+=("127.0.0.1:$(free_port)"); peer+=("127.0.0.1:$(free_port)"); done
join=$(IFS=,; echo "${peer[*]}")

start() { # start node $1
  local i=$1
  "$bin" node --http "${http[$i]}" --peer "${peer[$i]}" --join "$join" --name "node-$i" \
    --data-dir "$work/node-$i" --fsync everysec --log-level warn >>"$work/node-$i.log" 2>&1 &
  pids[$i]=$!
}
ready() { curl -fs -o /dev/null "http://$1/readyz"; }
now() { date +%s.%N; }
wait_ready() { # wait until every address given answers /readyz 200 (at most 10 min)
  local deadline=$(( $(date +%s) + 600 ))
  for a in "$@"; do
    until ready "$a"; do
      [ "$(date +%s)" -lt "$deadline" ] || { echo "not ready: $a"; tail -20 "$work"/*.log; exit 1; }
      sleep 0.02
    done
  done
}

for i in 0 1 2; do start "$i"; done
wait_ready "${http[@]}"
echo "loading $keys keys of 100 bytes..."
t0=$(now)
"$bin" bench --addr "$(printf 'http://%s,' "${http[@]}" | sed 's/,$//')" --op get --keys "$keys" \
  --preload --duration 1s --warmup 0s --conns 64 --value-size 100 >/dev/null 2>"$work/bench.err" ||
  { cat "$work/bench.err"; exit 1; }
printf 'loaded %d keys in %.1fs\n' "$keys" "$(echo "$(now) - $t0" | bc)"
leader=$(curl -fs "http://${http[0]}/v1/cluster" | python3 -c 'import json,sys; c=json.load(sys.stdin); print([n["http"] for n in c["nodes"] if n["id"]==c["leader"]][0])')
f=0; [ "${http[0]}" != "$leader" ] || f=1

kill -9 "${pids[$f]}"; wait "${pids[$f]}" 2>/dev/null || true
t0=$(now); start "$f"; wait_ready "${http[$f]}"
printf 'one follower SIGKILLed and restarted at once: /readyz 200 after %.2fs\n' "$(echo "$(now) - $t0" | bc)"
wait_ready "${http[@]}"
kill -9 "${pids[$f]}"; wait "${pids[$f]}" 2>/dev/null || true
sleep 5 # down past --dead-after (2s): the others re-replicate its buckets
t0=$(now); start "$f"; wait_ready "${http[$f]}"
printf 'one follower SIGKILLed, down 5s, restarted: /readyz 200 after %.2fs\n' "$(echo "$(now) - $t0" | bc)"
wait_ready "${http[@]}"

for i in 0 1 2; do kill -9 "${pids[$i]}"; done
wait 2>/dev/null || true
t0=$(now); for i in 0 1 2; do start "$i"; done; wait_ready "${http[@]}"
printf 'every node SIGKILLed and restarted: all /readyz 200 after %.2fs\n' "$(echo "$(now) - $t0" | bc)"
n=$(curl -fs "http://${http[0]}/v1/cluster" | python3 -c 'import json,sys; print(sum(n.get("keys",0) for n in json.load(sys.stdin)["nodes"]))' 2>/dev/null || echo "?")
echo "copies held across the nodes after the restart: $n (2 per key)"
