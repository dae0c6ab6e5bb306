package replication

import (
	"errors"
	"slices"
	"testing"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func TestCheckConditions(t *testing.T) {
	v1 := store.Version{Term: 1, Seq: 1}
	v2 := store.Version{Term: 1, Seq: 2}
	cur := store.Entry{Key: "k", Value: []byte("x"), Version: v1}
	cases := []struct {
		name  string
		op    wire.WriteOp
		found bool
		want  error
	}{
		{"put over nothing", wire.WriteOp{Kind: wire.WritePut}, false, nil},
		{"if-none-match over a value", wire.WriteOp{Kind: wire.WritePut, IfNoneMatch: true}, true, wire.ErrPrecondition},
		{"if-none-match over nothing", wire.WriteOp{Kind: wire.WritePut, IfNoneMatch: true}, false, nil},
		{"if-match at the version", wire.WriteOp{Kind: wire.WritePut, IfMatch: &v1}, true, nil},
		{"if-match at another version", wire.WriteOp{Kind: wire.WritePut, IfMatch: &v2}, true, wire.ErrPrecondition},
		{"if-match over nothing", wire.WriteOp{Kind: wire.WritePut, IfMatch: &v1}, false, wire.ErrPrecondition},
		{"if-exists over nothing", wire.WriteOp{Kind: wire.WritePut, IfExists: true}, false, wire.ErrPrecondition},
		{"create over a value", wire.WriteOp{Kind: wire.WriteCreate}, true, wire.ErrExists},
		{"create over nothing", wire.WriteOp{Kind: wire.WriteCreate}, false, nil},
		{"delete of nothing", wire.WriteOp{Kind: wire.WriteDelete}, false, wire.ErrNotFound},
		{"delete of a value", wire.WriteOp{Kind: wire.WriteDelete}, true, nil},
		{"append over nothing", wire.WriteOp{Kind: wire.WriteAppend}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.op.Key = "k"
			err := CheckConditions(c.op, cur, c.found)
			if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("CheckConditions = %v, want %v", err, c.want)
			}
		})
	}
}

func TestNeedsCurrent(t *testing.T) {
	v := store.Version{Term: 1, Seq: 1}
	if NeedsCurrent(wire.WriteOp{Kind: wire.WritePut}) {
		t.Error("an unconditional put needs no read")
	}
	for _, op := range []wire.WriteOp{
		{Kind: wire.WriteCreate}, {Kind: wire.WriteAppend}, {Kind: wire.WriteDelete},
		{Kind: wire.WritePut, IfMatch: &v}, {Kind: wire.WritePut, IfNoneMatch: true}, {Kind: wire.WritePut, IfExists: true},
	} {
		if !NeedsCurrent(op) {
			t.Errorf("%+v needs the current state", op)
		}
	}
}

func TestNewest(t *testing.T) {
	old := store.Entry{Key: "k", Value: []byte("old"), Version: store.Version{Term: 1, Seq: 1}}
	fresh := store.Entry{Key: "k", Value: []byte("new"), Version: store.Version{Term: 2, Seq: 1}}
	tomb := store.Entry{Key: "k", Deleted: true, Version: store.Version{Term: 2, Seq: 5}}
	cases := []struct {
		name        string
		answers     []Held
		want        store.Entry
		wantLagging []int
	}{
		{"nobody holds it", []Held{{}, {}, {}}, store.Entry{}, nil},
		{"all agree", []Held{{old, true}, {old, true}}, old, nil},
		{"a backup holds a newer version", []Held{{old, true}, {fresh, true}, {old, true}}, fresh, []int{2, 0}},
		{"only the primary lacks it", []Held{{}, {fresh, true}, {fresh, true}}, fresh, []int{0}},
		{"a tombstone is newest", []Held{{fresh, true}, {tomb, true}}, tomb, []int{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, lagging := Newest(c.answers)
			if got.Version != c.want.Version || string(got.Value) != string(c.want.Value) || got.Deleted != c.want.Deleted {
				t.Fatalf("Newest = %+v, want %+v", got, c.want)
			}
			if !slices.Equal(lagging, c.wantLagging) {
				t.Fatalf("lagging = %v, want %v (backups first, primary last)", lagging, c.wantLagging)
			}
		})
	}
}
