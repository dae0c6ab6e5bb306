# jumpkv in containers. From a clean clone:
#   make image    build the static binary and the image (jumpkv:latest)
#   make up       start the cluster (3 nodes) and wait until it is ready
#   make down     stop it and remove its containers and networks
#   make e2e      the container tests (a few minutes; need Docker)
#   make swarm-e2e  the Docker Swarm test only (deploy/swarm.yml)

# `docker compose` (v2) where it answers, else `docker-compose` (v1).
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

# Host ports of the HTTP API on 127.0.0.1, one per node (docker-compose.yml reads it too).
JUMPKV_HTTP_PORTS ?= 8080-8089
export JUMPKV_HTTP_PORTS

.PHONY: build image up down e2e swarm-e2e

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/jumpkv ./cmd/jumpkv
	mkdir -p bin/data

# Building needs no secret, but compose checks the whole file: give it one
# that only this command sees.
image: build
	JUMPKV_CLUSTER_SECRET=$${JUMPKV_CLUSTER_SECRET:-not-used-to-build} $(COMPOSE) build

# Waits until every node answers /readyz (a member, following the leader,
# holding its buckets). Docker hands each node a free port of the range,
# continuing after the last one it handed out: on a fresh engine the first
# node is on 8080; `compose port node 8080` says where it is.
# .env holds the cluster secret compose passes to every node; made once.
.env:
	@umask 077; printf 'JUMPKV_CLUSTER_SECRET=%s\n' "$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > .env
	@echo "wrote a random JUMPKV_CLUSTER_SECRET to .env (keep it: every node of this cluster needs the same one)"

up: .env
	$(COMPOSE) up -d
	@addrs=$$(for c in $$($(COMPOSE) ps -q node); do docker port $$c 8080; done); \
	for i in $$(seq 120); do \
	  waiting=; \
	  for a in $$addrs; do curl -fs -o /dev/null http://$$a/readyz || waiting="$$waiting $$a"; done; \
	  if [ -z "$$waiting" ]; then \
	    echo "ready:" $$addrs; echo "try: curl http://$$($(COMPOSE) port node 8080)/v1/cluster"; exit 0; \
	  fi; \
	  sleep 1; \
	done; \
	$(COMPOSE) logs --tail 20; echo "not ready after 120s:$$waiting"; exit 1

down:
	$(COMPOSE) down -v --remove-orphans

# Every container test, the Swarm one included (it makes a single-node
# swarm if the engine is in none, and leaves it after).
e2e:
	JUMPKV_COMPOSE="$(COMPOSE)" go test -tags e2e -count=1 -v -timeout 30m ./e2e

swarm-e2e:
	go test -tags e2e -count=1 -v -timeout 20m -run TestSwarmStack ./e2e
