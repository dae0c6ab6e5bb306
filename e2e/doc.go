// Package e2e tests jumpkv as containers: it builds the image from the
// Dockerfile, runs docker-compose.yml under a project of its own, and
// scales, kills, partitions and stops nodes while checking every key.
// TestSwarmStack does the same with deploy/swarm.yml on Docker Swarm (on
// the engine's swarm, or on one it makes and leaves after).
//
// The tests need a Docker engine and Docker Compose (v2 `docker compose` or
// v1 `docker-compose`) and take a few minutes, so they sit behind the e2e
// build tag and run apart from `go test ./...` (which must not compete with
// them for the CPU): `make e2e`, or
//
//	go test -tags e2e -count=1 -v ./e2e
//
// Where `docker info` fails they skip, saying why.
package e2e
