package clustertest

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestKVModelExpiry checks the model's expiry against histories of one
// key whose verdict is known: a value with a ttl is readable until the
// latest instant it may expire, absent from the earliest, and once seen
// absent stays absent.
func TestKVModelExpiry(t *testing.T) {
	ms := func(f float64) int64 { return int64(f * float64(time.Millisecond)) }
	op := func(client int, in OpInput, out OpOutput, call, ret float64) porcupine.Operation {
		in.Key, in.Call, in.Return = "k", ms(call), ms(ret)
		if out.Unknown {
			in.Return = math.MaxInt64
		}
		return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: in.Call, Return: in.Return}
	}
	put := func(v string, ttl time.Duration, call, ret float64) porcupine.Operation {
		return op(0, OpInput{Kind: OpPut, Value: v, TTL: ttl}, OpOutput{OK: true}, call, ret)
	}
	get := func(v string, call, ret float64) porcupine.Operation {
		return op(1, OpInput{Kind: OpGet}, OpOutput{OK: v != "", Value: v}, call, ret)
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"read before expiry", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("a", 50, 60)}, true},
		{"read after expiry", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("a", 120, 130)}, false},
		{"absent after expiry", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("", 120, 130)}, true},
		{"absent before expiry", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("", 50, 60)}, false},
		{"read within the write's window", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("a", 105, 106)}, true},
		{"absent within the write's window", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("", 105, 106)}, true},
		{"absent, then present again", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), get("", 104, 105), get("a", 106, 107)}, false},
		{"a put without ttl clears it", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10), put("b", 0, 20, 30), get("b", 500, 510)}, true},
		{"append keeps it", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(0, OpInput{Kind: OpAppend, Value: "+"}, OpOutput{OK: true}, 20, 30), get("a+", 50, 60), get("a+", 150, 160)}, false},
		{"create succeeds on an expired key", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(0, OpInput{Kind: OpCreate, Value: "c"}, OpOutput{OK: true}, 150, 160), get("c", 170, 180)}, true},
		{"create refused on a live key", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(0, OpInput{Kind: OpCreate, Value: "c"}, OpOutput{OK: true}, 50, 60)}, false},
		{"no ttl: never expires", []porcupine.Operation{put("a", 0, 0, 10), get("", 5000, 5010)}, false},
		// A long read that may come after the expiry does not make an
		// earlier short one see it expired.
		{"absent early, hidden by a long read", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(2, OpInput{Kind: OpGet}, OpOutput{}, 11, 500), get("", 20, 30)}, false},
		{"absent after, with a long read", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(2, OpInput{Kind: OpGet}, OpOutput{}, 11, 500), get("", 120, 130)}, true},
		{"present, then a long read absent", []porcupine.Operation{put("a", 100*time.Millisecond, 0, 10),
			op(2, OpInput{Kind: OpGet}, OpOutput{}, 11, 500), get("a", 20, 30)}, true},
	}
	model := KVModel.ToModel()
	for _, c := range cases {
		if got := porcupine.CheckOperations(model, c.ops); got != c.want {
			t.Errorf("%s: linearizable %v, want %v", c.name, got, c.want)
		}
	}
}
