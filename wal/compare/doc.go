// Package compare measures the jumpkv log against the libraries issue 16
// suggested, github.com/tidwall/wal v1.2.1 (a segmented log) and
// go.etcd.io/bbolt v1.5.0 (for snapshots), under the same load. It is a
// module of its own so that neither library enters jumpkv's go.mod; the
// figures and the decision are in docs/durability.md.
//
//	cd wal/compare && go test -run XXX -bench . -benchtime 3s
//
// It builds the jumpkv module from ../.. (a replace directive); when
// jumpkv's go.mod changes, run `go mod tidy` here first.
package compare
