package replication

import (
	"errors"
	"testing"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func TestResultExpiry(t *testing.T) {
	const now = 1_000_000
	v1 := store.Version{Term: 1, Seq: 1}
	live := store.Entry{Key: "k", Value: []byte("ab"), ContentType: "text/plain", Version: v1, Expires: now + 5000}
	expired := store.Entry{Key: "k", Value: []byte("ab"), Version: v1, Expires: now}
	plain := store.Entry{Key: "k", Value: []byte("ab"), Version: v1}
	for _, tc := range []struct {
		name    string
		op      wire.WriteOp
		cur     store.Entry
		found   bool
		value   string
		expires int64
		deleted bool
		wantErr error
	}{
		{"put with ttl", wire.WriteOp{Kind: wire.WritePut, Key: "k", Value: []byte("x"), TTL: 2000}, plain, true, "x", now + 2000, false, nil},
		{"put without ttl clears it", wire.WriteOp{Kind: wire.WritePut, Key: "k", Value: []byte("x")}, live, true, "x", 0, false, nil},
		{"put keeping the ttl", wire.WriteOp{Kind: wire.WritePut, Key: "k", Value: []byte("x"), KeepTTL: true}, live, true, "x", now + 5000, false, nil},
		{"put at an absolute time", wire.WriteOp{Kind: wire.WritePut, Key: "k", Value: []byte("x"), ExpireAt: now + 9}, plain, true, "x", now + 9, false, nil},
		{"append keeps the ttl", wire.WriteOp{Kind: wire.WriteAppend, Key: "k", Value: []byte("c")}, live, true, "abc", now + 5000, false, nil},
		{"append with a ttl sets it", wire.WriteOp{Kind: wire.WriteAppend, Key: "k", Value: []byte("c"), TTL: 10}, live, true, "abc", now + 10, false, nil},
		{"append to an expired value starts over", wire.WriteOp{Kind: wire.WriteAppend, Key: "k", Value: []byte("c")}, expired, true, "c", 0, false, nil},
		{"create over an expired value", wire.WriteOp{Kind: wire.WriteCreate, Key: "k", Value: []byte("n")}, expired, true, "n", 0, false, nil},
		{"create over a live value", wire.WriteOp{Kind: wire.WriteCreate, Key: "k", Value: []byte("n")}, live, true, "", 0, false, wire.ErrExists},
		{"if-none-match over an expired value", wire.WriteOp{Kind: wire.WritePut, Key: "k", IfNoneMatch: true}, expired, true, "", 0, false, nil},
		{"delete of an expired value", wire.WriteOp{Kind: wire.WriteDelete, Key: "k"}, expired, true, "", 0, false, wire.ErrNotFound},
		{"if-match of an expired value", wire.WriteOp{Kind: wire.WritePut, Key: "k", IfMatch: &v1}, expired, true, "", 0, false, wire.ErrPrecondition},
		{"the expirer's delete", wire.WriteOp{Kind: wire.WriteDelete, Key: "k", IfMatch: &v1, Expiring: true}, expired, true, "", 0, true, nil},
		{"the expirer after a rewrite", wire.WriteOp{Kind: wire.WriteDelete, Key: "k", IfMatch: &store.Version{Term: 1, Seq: 2}, Expiring: true}, expired, true, "", 0, false, wire.ErrPrecondition},
		{"expire sets a ttl", wire.WriteOp{Kind: wire.WriteExpire, Key: "k", TTL: 7}, plain, true, "ab", now + 7, false, nil},
		{"persist clears it", wire.WriteOp{Kind: wire.WriteExpire, Key: "k"}, live, true, "ab", 0, false, nil},
		{"expire of an absent key", wire.WriteOp{Kind: wire.WriteExpire, Key: "k", TTL: 7}, store.Entry{}, false, "", 0, false, wire.ErrNotFound},
		{"expire of an expired key", wire.WriteOp{Kind: wire.WriteExpire, Key: "k", TTL: 7}, expired, true, "", 0, false, wire.ErrNotFound},
	} {
		e, err := Result(tc.op, tc.cur, tc.found, now, 1<<20)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(e.Value) != tc.value || e.Expires != tc.expires || e.Deleted != tc.deleted {
			t.Errorf("%s: %+v %v, want value %q expires %d deleted %v", tc.name, e, err, tc.value, tc.expires, tc.deleted)
		}
	}
}
