#!/usr/bin/env bash
# The README's "Talk to it" walk-through, run for real so that the README
# and jumpkv cannot drift apart: it builds jumpkv, starts `jumpkv cluster`
# (3 nodes on free loopback ports, data in a temporary directory), runs
# every curl and CLI command of the walk-through, checks each status (and
# the answers that matter), and stops the cluster. CI runs it after the
# tests (.ci/run). Usage, from the repository:
#   scripts/readme-walkthrough.sh            # builds ./cmd/jumpkv
#   JUMPKV_BIN=path/to/jumpkv scripts/readme-walkthrough.sh
# Needs bash, curl and Go (unless JUMPKV_BIN is given). Exits 0 when every
# step passed; the first step that fails stops it with what it got.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jumpkv-walkthrough.XXXXXX")
cluster_pid=
stop_cluster() {
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -INT "$cluster_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2>/dev/null || true
  fi
  cluster_pid=
}
cleanup() {
  local code=$?
  stop_cluster
  if [ "$code" -ne 0 ] && [ -f "$tmp/cluster.log" ]; then
    echo "--- the cluster's output (last 40 lines):"; tail -40 "$tmp/cluster.log"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

steps=0
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { steps=$((steps + 1)); printf 'ok   %s\n' "$*"; }

# The binary.
bin=${JUMPKV_BIN:-}
if [ -z "$bin" ]; then
  go build -o "$tmp/jumpkv" ./cmd/jumpkv
  bin=$tmp/jumpkv
fi
jumpkv() { "$bin" "$@"; }

# A cluster on free ports: jumpkv cluster checks that its ports can be
# bound and refuses otherwise, so try random ranges until one starts.
started=
for attempt in $(seq 20); do
  http=$((20000 + RANDOM % 20000)) peer=$((http + 1000))
  (cd "$tmp" && exec "$bin" cluster --http-port "$http" --peer-port "$peer" --data-dir "$tmp/data") >"$tmp/cluster.log" 2>&1 &
  cluster_pid=$!
  for _ in $(seq 600); do
    if grep -q '^leader: ' "$tmp/cluster.log"; then started=1; break; fi
    kill -0 "$cluster_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$started" ] && break
  grep -q 'is not free' "$tmp/cluster.log" || fail "jumpkv cluster did not elect a leader within 60s"
  stop_cluster
done
[ -n "$started" ] || fail "no free range of ports in 20 attempts"
A=127.0.0.1:$http B=127.0.0.1:$((http + 1)) C=127.0.0.1:$((http + 2))
pass "jumpkv cluster: 3 nodes on $A, $B, $C; $(grep '^leader: ' "$tmp/cluster.log")"
# Every node ready: a member, following the leader, holding its buckets.
for n in $A $B $C; do
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$n/readyz")" = 200 ] && break
    sleep 0.1
  done
done

# check NAME STATUS CURL-ARGS...: runs curl, keeps the body in $body and
# the headers in $tmp/h, and fails unless the status is STATUS and the
# answer carries the node headers (every answer does, errors included).
body=
check() {
  local name=$1 want=$2; shift 2
  local got
  got=$(curl -s -D "$tmp/h" -o "$tmp/body" -w '%{http_code}' "$@") || fail "$name: curl $* failed"
  body=$(cat "$tmp/body")
  [ "$got" = "$want" ] || fail "$name: HTTP $got, want $want: $body"
  grep -qi '^X-Jumpkv-Node: [0-9]' "$tmp/h" || fail "$name: no X-Jumpkv-Node header"
  grep -qi '^X-Jumpkv-Leader: [0-9]' "$tmp/h" || fail "$name: no X-Jumpkv-Leader header"
  pass "$name ($got)"
}
header() { grep -i "^$1:" "$tmp/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
contains() { case "$body" in *"$1"*) ;; *) fail "answer lacks $1: $body" ;; esac; }

echo "--- Talk to it: curl"
# create or replace (the Content-Type is stored with the value)
check "PUT greeting" 200 -X PUT -H 'Content-Type: text/plain' --data-binary 'hello' "$A/v1/kv/greeting"
contains '"version":'
etag=$(header ETag)
[ -n "$etag" ] || fail "PUT greeting: no ETag"
# read it from any node (HEAD works too)
check "GET greeting from another node" 200 "$B/v1/kv/greeting"
[ "$body" = hello ] || fail "GET greeting: $body"
[ "$(header Content-Type)" = text/plain ] || fail "GET greeting: Content-Type $(header Content-Type)"
check "HEAD greeting" 200 -I "$C/v1/kv/greeting"
# --data-binary keeps the bytes as they are (--data would strip newlines)
printf 'line 1\nline 2\n' >"$tmp/notes.txt"
check "PUT a file with --data-binary" 200 -X PUT -H 'Content-Type: text/plain' --data-binary @"$tmp/notes.txt" "$A/v1/kv/notes/today"
check "GET it back byte for byte" 200 "$B/v1/kv/notes/today"
cmp -s "$tmp/body" "$tmp/notes.txt" || fail "the file came back changed: $(od -c "$tmp/body" | head -3)"
# folder-style keys, unicode; percent-encode what a path cannot hold
check "PUT sensors/room1/temp" 200 -X PUT -H 'Content-Type: text/plain' --data-binary 21.5 "$A/v1/kv/sensors/room1/temp"
check "PUT café (percent-encoded)" 200 -X PUT -H 'Content-Type: text/plain' --data-binary 'ja' "$A/v1/kv/$(printf 'caf%%C3%%A9')"
check "GET café" 200 "$B/v1/kv/caf%C3%A9"
[ "$body" = ja ] || fail "GET café: $body"
check "PUT 100% (a % is written %25)" 200 -X PUT --data-binary 'full' "$A/v1/kv/100%25"
check "a raw % is a JSON 400" 400 "$A/v1/kv/100%"
contains '"code":"bad_request"'
# a key that expires; reads show X-Jumpkv-Expires
check "PUT with ?ttl=30s" 200 -X PUT -H 'Content-Type: text/plain' --data-binary 'on' "$A/v1/kv/session/42?ttl=30s"
check "HEAD an expiring key" 200 -I "$B/v1/kv/session/42"
expires=$(header X-Jumpkv-Expires)
[ -n "$expires" ] || fail "HEAD session/42: no X-Jumpkv-Expires header"
check "a bad ttl is a JSON 400" 400 -X PUT --data-binary 'on' "$A/v1/kv/session/43?ttl=banana"
# create only: 201, or 409 if the key exists
check "POST create" 201 -X POST -H 'Content-Type: text/plain' --data-binary 'first' "$A/v1/kv/once"
check "POST create again" 409 -X POST -H 'Content-Type: text/plain' --data-binary 'again' "$A/v1/kv/once"
contains '"code":"exists"'
# append (creates the key if absent)
check "POST append" 200 -X POST -H 'Content-Type: text/plain' --data-binary ' world' "$A/v1/kv/greeting?op=append"
check "GET the appended value" 200 "$C/v1/kv/greeting"
[ "$body" = "hello world" ] || fail "after the append: $body"
etag=$(header ETag)
# conditional writes: replace only your version (use your own ETag), else 412
check "PUT If-Match (our ETag)" 200 -X PUT -H "If-Match: $etag" -H 'Content-Type: text/plain' --data-binary 'v2' "$A/v1/kv/greeting"
check "PUT If-Match (a stale ETag)" 412 -X PUT -H "If-Match: $etag" -H 'Content-Type: text/plain' --data-binary 'v3' "$A/v1/kv/greeting"
contains '"code":"precondition_failed"'
check "PUT If-None-Match: * (create only)" 200 -X PUT -H 'If-None-Match: *' -H 'Content-Type: text/plain' --data-binary 'v1' "$A/v1/kv/new-key"
check "PUT If-None-Match: * again" 412 -X PUT -H 'If-None-Match: *' -H 'Content-Type: text/plain' --data-binary 'v1' "$A/v1/kv/new-key"
# delete: 204, 404 if absent
check "DELETE once" 204 -X DELETE "$A/v1/kv/once"
check "DELETE once again" 404 -X DELETE "$A/v1/kv/once"
contains '"code":"not_found"'
check "GET a deleted key" 404 "$B/v1/kv/once"
# list keys in byte order across the cluster, a page at a time
check "list sensors/" 200 "$A/v1/kv?prefix=sensors/&limit=100"
contains '"keys":["sensors/room1/temp"]'
check "list after a key" 200 "$A/v1/kv?prefix=sensors/&limit=100&after=sensors/room1/temp"
contains '"keys":[]'
check "list a page of one" 200 "$A/v1/kv?limit=1"
contains '"next":'
check "a malformed query is a 400" 400 "$A/v1/kv?prefix=a%zz"
# the cluster, this node, health
check "GET /v1/cluster" 200 "$A/v1/cluster"
contains '"mode":"read-write"'
contains '"name":"node-1"'
contains '"replicas":2'
check "GET /admin/status" 200 "$B/admin/status"
contains '"in_sync":true'
contains '"incarnation":'
contains '"name":"node-2"'
check "GET /healthz" 200 "$A/healthz"
check "GET /readyz" 200 "$A/readyz"
contains '"status":"ready"'
check "GET /readyz?writes=1" 200 "$A/readyz?writes=1"
check "GET /v1/openapi.yaml" 200 "$A/v1/openapi.yaml"
contains 'openapi: 3'

echo "--- Talk to it: the jumpkv client"
export JUMPKV_ADDR="http://$A,http://$B,http://$C"
run() { # run NAME EXPECTED-EXIT COMMAND...: output in $out
  local name=$1 want=$2; shift 2
  local got=0
  out=$("$@" 2>&1) || got=$?
  [ "$got" = "$want" ] || fail "$name: exit $got, want $want: $out"
  pass "$name (exit $got)"
}
run "jumpkv put" 0 jumpkv put cli/greeting hello
case "$out" in "ok, version "*) ;; *) fail "jumpkv put said: $out" ;; esac
run "jumpkv put from stdin" 0 sh -c "printf 'from stdin' | '$bin' put cli/stdin --content-type text/plain"
run "jumpkv get" 0 jumpkv get cli/greeting
[ "$out" = hello ] || fail "jumpkv get: $out"
run "jumpkv get -v" 0 jumpkv get -v cli/stdin
case "$out" in *"content-type: text/plain"*"from stdin") ;; *) fail "jumpkv get -v: $out" ;; esac
printf '<p>hi</p>\n' >"$tmp/page.html"
run "jumpkv put --content-type from a file" 0 sh -c "'$bin' put cli/page --content-type text/html < '$tmp/page.html'"
check "the page's type over HTTP" 200 "$A/v1/kv/cli/page"
[ "$(header Content-Type)" = text/html ] || fail "cli/page: Content-Type $(header Content-Type)"
cmp -s "$tmp/body" "$tmp/page.html" || fail "cli/page came back changed"
run "jumpkv put --ttl" 0 jumpkv put cli/session on --ttl 1h
run "jumpkv get -v shows the expiry" 0 jumpkv get -v cli/session
case "$out" in *"expires:"*"(in "*) ;; *) fail "jumpkv get -v of a key with --ttl: $out" ;; esac
version=$(jumpkv get cli/greeting -o json | sed 's/.*"version":"\([^"]*\)".*/\1/')
run "jumpkv put --if-match (our version)" 0 jumpkv put cli/greeting hi --if-match "$version"
run "jumpkv put --if-match (a stale version)" 1 jumpkv put cli/greeting ho --if-match "$version"
run "jumpkv put --if-absent (exists)" 1 jumpkv put cli/greeting ho --if-absent
run "flags before the command" 0 jumpkv --addr "http://$B" get cli/greeting
[ "$out" = hi ] || fail "jumpkv --addr ... get: $out"
run "jumpkv ls" 0 jumpkv ls cli/
[ "$out" = "$(printf 'cli/greeting\ncli/page\ncli/session\ncli/stdin')" ] || fail "jumpkv ls: $out"
run "jumpkv ls -o json" 0 jumpkv ls cli/ -o json
[ "$out" = '["cli/greeting","cli/page","cli/session","cli/stdin"]' ] || fail "jumpkv ls -o json: $out"
run "jumpkv status" 0 jumpkv status
case "$out" in "leader:   node-"*"mode read-write"*"cluster:  3 members, 2 copies of each of 1024 buckets"*NAME*ID*HTTP*STATE*ROLE*node-1*node-2*node-3*) ;; *) fail "jumpkv status: $out" ;; esac
run "jumpkv members (the same table)" 0 jumpkv members
case "$out" in *node-1*node-2*node-3*) ;; *) fail "jumpkv members: $out" ;; esac
run "jumpkv health" 0 jumpkv health
run "jumpkv get of a missing key" 1 jumpkv get cli/missing
case "$out" in "jumpkv get: "*"(HTTP 404, not_found)") ;; *) fail "jumpkv get of a missing key said: $out" ;; esac
run "a dead endpoint first" 0 env JUMPKV_ADDR="http://127.0.0.1:1,http://$A" "$bin" get cli/greeting
run "a bad flag value: one line" 2 jumpkv get k --timeout banana
[ "$out" = 'jumpkv get: --timeout "banana": want a duration such as 2s, 500ms or 1m30s' ] || fail "a bad flag value said: $out"

# watch: one JSON line per change under the prefix
"$bin" watch cli/ >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch_pid=$! # the process itself: a background job of a script ignores SIGINT, so stop it with SIGTERM
for _ in $(seq 100); do # until it is connected: a put shows up
  jumpkv put cli/ping x >/dev/null
  grep -q '"key":"cli/ping"' "$tmp/watch.out" 2>/dev/null && break
  sleep 0.1
done
jumpkv put cli/watched 1 >/dev/null
jumpkv del cli/watched
for _ in $(seq 100); do grep -q '"type":"delete","key":"cli/watched"' "$tmp/watch.out" && break; sleep 0.1; done
kill -TERM "$watch_pid"; wait "$watch_pid" || fail "jumpkv watch did not exit 0 on SIGTERM: $(cat "$tmp/watch.err")"
grep -q '{"type":"put","key":"cli/watched","value":"MQ==","version":"' "$tmp/watch.out" || fail "watch printed no put: $(cat "$tmp/watch.out")"
grep -q '"type":"delete","key":"cli/watched"' "$tmp/watch.out" || fail "watch printed no delete: $(cat "$tmp/watch.out")"
! grep -q '^$' "$tmp/watch.out" || fail "watch printed an empty line"
pass "jumpkv watch: $(wc -l <"$tmp/watch.out") lines, one JSON object each"
run "jumpkv del" 0 jumpkv del cli/greeting
for i in $(seq 12); do jumpkv put "bulk/$i" v >/dev/null; done
run "jumpkv del --prefix asks above 10 keys" 1 sh -c "echo n | '$bin' del --prefix bulk/"
run "jumpkv del --prefix --yes" 0 jumpkv del --prefix bulk/ --yes
[ "$out" = 'deleted 12 keys under "bulk/"' ] || fail "jumpkv del --prefix: $out"

echo "--- The data survives a restart of the whole cluster (--data-dir)"
stop_cluster
(cd "$tmp" && exec "$bin" cluster --http-port "$http" --peer-port "$peer" --data-dir "$tmp/data") >"$tmp/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 600); do grep -q '^leader: ' "$tmp/cluster.log" && break; sleep 0.1; done
grep -q '^leader: ' "$tmp/cluster.log" || fail "the restarted cluster elected no leader"
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$A/v1/kv/notes/today")" = 200 ] && break; sleep 0.1; done
check "GET after the restart" 200 "$A/v1/kv/notes/today"
cmp -s "$tmp/body" "$tmp/notes.txt" || fail "the file changed across the restart"
stop_cluster
pass "cluster stopped"

# "In containers": make image, make up, compose port (the form of the
# compose that answers), the cluster through it, make down. Needs a Docker
# engine and make; JUMPKV_WALKTHROUGH_CONTAINERS=0 leaves it out. The
# project name and host ports are the run's own, so that a cluster of the
# user's is never touched.
if [ "${JUMPKV_WALKTHROUGH_CONTAINERS:-1}" = 0 ]; then
  echo "--- In containers: left out (JUMPKV_WALKTHROUGH_CONTAINERS=0)"
elif ! docker info >/dev/null 2>&1 || ! command -v make >/dev/null; then
  echo "--- In containers: skipped, no Docker engine answers here (or no make)"
else
  echo "--- In containers"
  # Ten host ports free a moment ago; another process may still take one
  # before Docker binds it, so make up is tried again on a new range.
  free_range() {
    python3 -c 'import random, socket
for _ in range(50):
    base = random.randrange(40000, 50000)
    socks = []
    try:
        for p in range(base, base + 10):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base); break'
  }
  export COMPOSE_PROJECT_NAME="jkvwalk$$"
  if docker compose version >/dev/null 2>&1; then compose="docker compose"; port_index="--index 1"; else compose=docker-compose; port_index="--index=1"; fi
  containers_down() { make down >/dev/null 2>&1 || true; }
  trap 'code=$?; containers_down; cleanup; exit $code' EXIT
  run "make image" 0 make image
  for attempt in 1 2 3; do
    base=$(free_range)
    [ -n "$base" ] || fail "no ten free ports found for the containers"
    export JUMPKV_HTTP_PORTS="$base-$((base + 9))"
    got=0; out=$(make up 2>&1) || got=$?
    [ "$got" != 0 ] && [ "$attempt" -lt 3 ] && case "$out" in *"address already in use"*) containers_down; continue ;; esac
    break
  done
  [ "$got" = 0 ] || fail "make up: exit $got, want 0: $out"
  pass "make up (exit 0)"
  case "$out" in *"ready: 127.0.0.1:"*) ;; *) fail "make up printed no addresses: $out" ;; esac
  run "$compose port $port_index node 8080" 0 $compose port $port_index node 8080
  addr=$(printf '%s' "$out" | tail -1)
  port=${addr##*:}
  [ "$port" -ge "$base" ] 2>/dev/null && [ "$port" -le $((base + 9)) ] || fail "compose port said $addr, not a port of $JUMPKV_HTTP_PORTS"
  check "GET /v1/cluster in containers" 200 "http://$addr/v1/cluster"
  [ "$(printf '%s' "$body" | grep -o '"state":"alive"' | wc -l)" = 3 ] || fail "/v1/cluster in containers: $body"
  check "PUT in containers" 200 -X PUT -H 'Content-Type: text/plain' --data-binary hello "http://$addr/v1/kv/greeting"
  check "GET in containers" 200 "http://$addr/v1/kv/greeting"
  [ "$body" = hello ] || fail "GET in containers: $body"
  run "make down" 0 make down
fi
echo "walk-through: $steps steps passed"
