#!/usr/bin/env bash
# Compares jumpkv's Redis protocol with redis-server using redis-benchmark,
# in alternating rounds on this machine: jumpkv (`jumpkv cluster`, 3 nodes,
# memory only, --replicas auto) is measured at its leader's RESP port, Redis
# as one `redis-server --save '' --appendonly no`, and as a Redis Cluster of
# 3 masters and 3 replicas (redis-benchmark --cluster); jumpkv's own HTTP
# path too (jumpkv bench, same load shape). Prints one line per test
# and round: requests/s and the server CPU per operation (from
# /proc/<pid>/stat before and after; for jumpkv, the leader's and all
# three nodes').
#
# Usage: scripts/redis-bench.sh [rounds] [requests]   (needs redis-server, redis-tools)
set -euo pipefail
rounds=${1:-3}
n=${2:-200000}
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/jumpkv
go build -o "$bin" ./cmd/jumpkv
tck=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }

# Ports below Linux's ephemeral range (32768.. by default), where no
# outgoing connection of the run can hold one: jumpkv's base..base+22,
# Redis's, and the Redis Cluster's bus ports (each node's port + 10000).
base=$((20000 + RANDOM % 2500))
log=$(mktemp)
"$bin" cluster --data-dir '' --ftp-port 0 --http-port $base --peer-port $((base+10)) --redis-port $((base+20)) -- --log-level warn >"$log" 2>&1 &
cluster=$!
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
redis=$!
rcdir=$(mktemp -d)
rcbase=$((base + 100))
rcpids=""
for i in 0 1 2 3 4 5; do
	redis-server --port $((rcbase+i)) --bind 127.0.0.1 --cluster-enabled yes --dir "$rcdir" \
		--cluster-config-file "nodes-$i.conf" --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
	rcpids="$rcpids $!"
done
trap 'kill -INT $cluster $redis $rcpids 2>/dev/null; wait' EXIT
for i in 0 1 2 3 4 5; do
	for _ in $(seq 100); do [ "$(redis-cli -p $((rcbase+i)) ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
done
redis-cli --cluster create $(for i in 0 1 2 3 4 5; do echo -n "127.0.0.1:$((rcbase+i)) "; done) \
	--cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 50); do redis-cli -p $rcbase cluster info | grep -q 'cluster_state:ok' && break; sleep 0.2; done
rcpids=${rcpids# }
echo "redis cluster: 127.0.0.1:$rcbase.. (3 masters, 3 replicas), pids $rcpids"
for _ in $(seq 100); do grep -q '^leader: ' "$log" && break; sleep 0.2; done
if ! grep -q '^leader: ' "$log"; then
	echo "jumpkv cluster elected no leader within 20s; its output:" >&2
	cat "$log" >&2
	exit 1
fi
leader_id=$(sed -n 's/^leader: [^ ]* (\([0-9]*\)).*/\1/p' "$log")
# The leader's HTTP address is in the leader line; its index gives its ports.
leader_http=$(sed -n 's/^leader: .* at http:\/\/\([^,]*\),.*/\1/p' "$log")
idx=$(( ${leader_http##*:} - base ))
jport=$((base + 20 + idx))
pids=$(sed -n 's/^node [0-9]*: pid \([0-9]*\).*/\1/p' "$log")
leader_pid=$(sed -n "$((idx+1))p" <<<"$pids")
echo "jumpkv leader: node $leader_id, RESP 127.0.0.1:$jport, pid $leader_pid (all node pids: $(echo $pids))"
echo "redis-server: 127.0.0.1:$rport, pid $redis"
redis-cli -p "$jport" set warmup x >/dev/null

run() { # name port first-pid all-pids... -- extra args (first: the leader, or the one redis-server)
	local name=$1 port=$2 first=$3; shift 3
	local cl=""; [ "$name" = redis-cluster ] && cl=--cluster
	local ps=(); while [ "$1" != "--" ]; do ps+=("$1"); shift; done; shift
	for t in set get; do
		local before=$(cpu_ticks "${ps[@]}") before_leader=$(cpu_ticks "$first")
		local errf=$(mktemp)
		local rps=$(redis-benchmark $cl -p "$port" -t $t -c 50 -n "$n" -d 100 -r 10000 "$@" --csv 2>"$errf" | awk -F'"' -v T="${t^^}" '$2==T{print $4}')
		[ -n "$rps" ] || rps="FAILED($(tail -1 "$errf"))"
		rm -f "$errf"
		local after=$(cpu_ticks "${ps[@]}") after_leader=$(cpu_ticks "$first")
		local us_all=$(awk -v d=$((after-before)) -v n=$n -v t=$tck 'BEGIN{printf "%.1f", d/t/n*1e6}')
		local us_first=$(awk -v d=$((after_leader-before_leader)) -v n=$n -v t=$tck 'BEGIN{printf "%.1f", d/t/n*1e6}')
		echo "round $round $name ${*:-P1} $t rps=$rps cpu_us_per_op_first=$us_first cpu_us_per_op_all=$us_all"
	done
}
http_run() { # jumpkv's own HTTP path, same load shape (jumpkv bench: 50 connections, 100 B, 10,000 keys)
	for op in put get; do
		local before=$(cpu_ticks $pids) before_leader=$(cpu_ticks $leader_pid)
		# No warmup or preload, so that the CPU window holds only the measured
		# requests (the puts just before have written the keys).
		local out=$("$bin" bench --addr "http://$leader_http" --conns 50 --op $op --value-size 100 --keys 10000 --duration 8s --warmup 0s --preload=false --json 2>/dev/null)
		local after=$(cpu_ticks $pids) after_leader=$(cpu_ticks $leader_pid)
		python3 - "$out" $((after-before)) $((after_leader-before_leader)) $tck $round $op <<'PY'
import json, sys
r = json.loads(sys.argv[1]); d_all, d_leader, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
res = r["runs"]
rps = sum(x["ops_per_sec"] for x in res) / max(len(res), 1)
total = sum(x["ops"] + x["errors"] for x in res)  # a 404 is a request served too
print(f"round {sys.argv[5]} jumpkv-http P1 {sys.argv[6]} rps={rps:.2f} cpu_us_per_op_first={d_leader/tck/total*1e6:.1f} cpu_us_per_op_all={d_all/tck/total*1e6:.1f}")
PY
	done
}
for round in $(seq "$rounds"); do
	run jumpkv "$jport" $leader_pid $pids --
	run redis "$rport" $redis $redis --
	run redis-cluster "$rcbase" ${rcpids%% *} $rcpids --
	http_run
	run jumpkv "$jport" $leader_pid $pids -- -P 16
	run redis "$rport" $redis $redis -- -P 16
	run redis-cluster "$rcbase" ${rcpids%% *} $rcpids -- -P 16
done
