package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/web"
	"github.com/jumpkv/jumpkv/wire"
)

// This file records histories of concurrent single-key operations against
// a cluster and checks them for linearizability with porcupine. Every
// written value is unique, so "the value read with an ETag" identifies a
// version and If-Match can be modelled on values.

// OpKind is a client operation.
type OpKind int

// The operations.
const (
	OpGet OpKind = iota
	OpPut
	OpCreate // POST: create only
	OpAppend
	OpCAS // PUT with If-Match of the ETag read with Expect
	OpDelete
)

var opNames = [...]string{"get", "put", "create", "append", "cas", "delete"}

// OpInput is what a client asked.
type OpInput struct {
	Kind   OpKind
	Key    string
	Value  string // put/create/cas: the value; append: the suffix
	Expect string // cas: the value the client read with the ETag it sends
	// TTL, when positive, makes a put or create's value expire that long
	// after the write takes effect (?ttl=).
	TTL time.Duration
	// Call and Return are the operation's times in the history (Return is
	// math.MaxInt64 for an unknown outcome): the model needs them to place
	// expiries, which porcupine's steps do not otherwise see.
	Call, Return int64
}

// OpOutput is what a client saw.
type OpOutput struct {
	OK      bool   // write: 2xx; get: 200 (found)
	Value   string // get: the value read
	Unknown bool   // write: 5xx or no answer: it may or may not have taken effect
}

// kvState is one key's state in the model.
type kvState struct {
	exists bool
	value  string
	// expLo and expHi bound when the value expires (history times; 0: it
	// does not): the leader stamps the expiry at the write's linearization
	// point, somewhere in the write's call..return, plus its ttl.
	expLo, expHi int64
	// after, in an absent state that an expiry made, is the earliest
	// instant of the operation that saw the value expired: every later
	// operation lies after it (one expiry instant for all of them).
	after int64
}

// ExpirySkew is how far the instant a value counts as expired may lie
// outside [call+ttl, return+ttl] of the write that set it. The in-process
// cluster's nodes share one clock, so only the millisecond stamps count
// (replication.ExpiryOf truncates the leader's now to a millisecond).
const ExpirySkew = 2 * time.Millisecond

// possibleStates returns the states the key may be in at some instant of
// an operation called at call and returned at ret, given state s: a value
// with an expiry is still there if the operation may come before the
// latest expiry, and gone (expired, absent) if it may come after the
// earliest.
func possibleStates(s kvState, call, ret int64) []kvState {
	if !s.exists {
		if ret < s.after { // it ended before an expiry seen earlier in the order
			return nil
		}
		return []kvState{s}
	}
	if s.expHi == 0 {
		return []kvState{s}
	}
	skew := int64(ExpirySkew)
	var out []kvState
	if call < satAdd(s.expHi, skew) {
		out = append(out, s)
	}
	if ret >= s.expLo-skew {
		out = append(out, kvState{after: max(call, s.expLo-skew, 1)})
	}
	return out
}

// satAdd adds without overflowing past math.MaxInt64 (an unknown return).
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// KVModel is the sequential specification of one key, partitioned by key.
// A write whose outcome is unknown may or may not have taken effect.
var KVModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(OpInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{kvState{}} },
	Step: func(state, input, output interface{}) []interface{} {
		in, out := input.(OpInput), output.(OpOutput)
		var nexts []interface{}
		add := func(s kvState) {
			for _, n := range nexts {
				if n.(kvState) == s {
					return
				}
			}
			nexts = append(nexts, s)
		}
		for _, s := range possibleStates(state.(kvState), in.Call, in.Return) {
			if in.Kind == OpGet {
				if out.OK == s.exists && (!out.OK || out.Value == s.value) {
					add(s)
				}
				continue
			}
			next, applies := applyOp(s, in)
			switch {
			case out.Unknown && applies:
				add(s)
				add(next)
			case out.Unknown:
				add(s)
			case out.OK && applies:
				add(next)
			case !out.OK && !applies:
				add(s)
			}
		}
		return nexts
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(OpInput), output.(OpOutput)
		res := "ok"
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Kind == OpGet && out.OK:
			res = fmt.Sprintf("%q", out.Value)
		case in.Kind == OpGet:
			res = "absent"
		case !out.OK:
			res = "refused"
		}
		arg := in.Value
		if in.Kind == OpCAS {
			arg = fmt.Sprintf("%s if %q", in.Value, in.Expect)
		}
		if in.TTL > 0 {
			arg += " ttl " + in.TTL.String()
		}
		return fmt.Sprintf("%s(%s %s) -> %s", opNames[in.Kind], in.Key, arg, res)
	},
	DescribeState: func(state interface{}) string {
		s := state.(kvState)
		if !s.exists {
			return "absent"
		}
		if s.expHi != 0 {
			return fmt.Sprintf("%q expiring in [%.3fs, %.3fs]", s.value, float64(s.expLo)/1e9, float64(s.expHi)/1e9)
		}
		return fmt.Sprintf("%q", s.value)
	},
}

// applyOp returns the state after a write and whether its preconditions
// hold in s (a write whose preconditions fail changes nothing).
// A write with a ttl sets the expiry, one without clears it, and an
// append to a value keeps the value's.
func applyOp(s kvState, in OpInput) (kvState, bool) {
	set := kvState{exists: true, value: in.Value}
	if in.TTL > 0 {
		// The leader stamps the expiry when it takes the write, which
		// becomes readable only once its replicas hold it: the stamp lies
		// in the write's call..return, but may come before an instant at
		// which another operation still saw the key's earlier value
		// expired (s.after), although the write takes effect after it.
		set.expLo, set.expHi = in.Call+int64(in.TTL), satAdd(in.Return, int64(in.TTL))
	}
	switch in.Kind {
	case OpPut:
		return set, true
	case OpCreate:
		return set, !s.exists
	case OpAppend:
		if !s.exists {
			return set, true
		}
		s.value += in.Value
		return s, true
	case OpCAS:
		return set, s.exists && s.value == in.Expect
	case OpDelete:
		return kvState{}, s.exists
	}
	return s, false
}

// Doer sends one HTTP request to a node.
type Doer interface {
	Do(method, path string, body []byte, header ...string) Response
}

// History collects operations from concurrent clients.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory starts a history; times are measured from now.
func NewHistory() *History { return &History{start: time.Now()} }

func (h *History) add(client int, in OpInput, call time.Time, out OpOutput, ret time.Time) {
	in.Call, in.Return = int64(call.Sub(h.start)), int64(ret.Sub(h.start))
	if out.Unknown {
		in.Return = math.MaxInt64 // it may take effect at any later time
	}
	op := porcupine.Operation{ClientId: client, Input: in, Output: out, Call: in.Call, Return: in.Return}
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns the recorded operations.
func (h *History) Ops() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Stats counts the recorded operations by outcome.
func (h *History) Stats() (ops, unknown int) {
	for _, op := range h.Ops() {
		ops++
		if op.Output.(OpOutput).Unknown {
			unknown++
		}
	}
	return ops, unknown
}

// ClientOptions shape the operations RunClientWith issues.
type ClientOptions struct {
	// TTLs gives half of the puts and creates a ttl of 20 to 300ms.
	TTLs bool
	// ManyReads makes each read, on a node that has GetMany, a read of its
	// key and 1 to 3 others at once, each recorded as a read of its own
	// over the call's span (a pipeline's GETs, or an MGET).
	ManyReads bool
	// ManyWrites makes each put, on a node that has WriteMany, a put of its
	// key and 1 to 3 other keys at once, each recorded as a put of its own
	// over the call's span (a pipeline's SETs).
	ManyWrites bool
}

// ManyWriter carries out several writes at once (node.Node.WriteMany).
type ManyWriter interface {
	WriteMany(ctx context.Context, ops []wire.WriteOp) []node.WriteResult
}

// ManyGetter reads several keys at once (node.Node.GetMany).
type ManyGetter interface {
	GetMany(ctx context.Context, keys []string) []node.GetResult
}

// RunClient issues random operations on keys through nodes() until stop
// closes, recording each in h. Reads that fail and writes answered 503 are
// left out (they changed nothing); writes answered 504 (or another 5xx)
// are recorded with unknown outcomes.
func RunClient(h *History, id int, seed uint64, keys []string, nodes func() []Doer, stop <-chan struct{}) {
	RunClientWith(h, id, seed, keys, nodes, stop, ClientOptions{})
}

// RunClientWith is RunClient with options.
func RunClientWith(h *History, id int, seed uint64, keys []string, nodes func() []Doer, stop <-chan struct{}, opts ClientOptions) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	seen := map[string]struct{ value, etag string }{}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		ns := nodes()
		if len(ns) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n := ns[rng.IntN(len(ns))]
		key := keys[rng.IntN(len(keys))]
		value := fmt.Sprintf("c%d.%d;", id, seq)
		in := OpInput{Key: key, Value: value}
		var method, path = http.MethodGet, "/v1/kv/" + key
		var body []byte
		var header []string
		switch p := rng.IntN(100); {
		case p < 40:
			in.Kind = OpGet
		case p < 55:
			in.Kind, method, body = OpPut, http.MethodPut, []byte(value)
		case p < 65:
			in.Kind, method, body = OpCreate, http.MethodPost, []byte(value)
		case p < 75:
			in.Kind, method, path, body = OpAppend, http.MethodPost, path+"?op=append", []byte(value)
		case p < 90:
			last, ok := seen[key]
			if !ok {
				in.Kind = OpGet
				break
			}
			in.Kind, method, body, in.Expect = OpCAS, http.MethodPut, []byte(value), last.value
			header = []string{"If-Match", last.etag}
		default:
			in.Kind, method = OpDelete, http.MethodDelete
		}
		if in.Kind == OpGet {
			in.Value = ""
		}
		if opts.TTLs && (in.Kind == OpPut || in.Kind == OpCreate) && rng.IntN(2) == 0 {
			in.TTL = time.Duration(20+rng.IntN(281)) * time.Millisecond
			path += fmt.Sprintf("?ttl=%dms", in.TTL.Milliseconds())
		}
		if mg, ok := n.(ManyGetter); ok && opts.ManyReads && in.Kind == OpGet {
			readMany(h, id, mg, append([]string{key}, pick(rng, keys, 1+rng.IntN(3))...))
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			continue
		}
		if mw, ok := n.(ManyWriter); ok && opts.ManyWrites && in.Kind == OpPut {
			writeMany(h, id, mw, in, pick(rng, keys, 1+rng.IntN(3)), fmt.Sprintf("c%d.%d.", id, seq))
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			continue
		}
		call := time.Now()
		r := n.Do(method, path, body, header...)
		ret := time.Now()
		var out OpOutput
		switch {
		case in.Kind == OpGet && r.Status == http.StatusOK:
			out = OpOutput{OK: true, Value: string(r.Body)}
			seen[key] = struct{ value, etag string }{string(r.Body), r.Header.Get("ETag")}
		case in.Kind == OpGet && r.Status == http.StatusNotFound:
			out = OpOutput{}
			delete(seen, key)
		case in.Kind == OpGet:
			time.Sleep(10 * time.Millisecond) // a failed read: back off, record nothing
			continue
		case r.Status >= 200 && r.Status < 300:
			out = OpOutput{OK: true}
		case r.Status == http.StatusConflict || r.Status == http.StatusPreconditionFailed || r.Status == http.StatusNotFound:
			out = OpOutput{}
		case r.Status == http.StatusServiceUnavailable:
			// jumpkv answers 503 only when the write surely did not take
			// effect (no leader, or refused before any replica applied
			// it): recorded as nothing, so a 503 write that did take
			// effect shows up as a violation.
			time.Sleep(10 * time.Millisecond)
			continue
		case r.Status >= 500:
			out = OpOutput{Unknown: true}
		default:
			panic(fmt.Sprintf("unexpected answer to %s %s: %v", method, path, r))
		}
		h.add(id, in, call, out, ret)
		time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
	}
}

// pick returns n keys drawn from keys (repeats allowed).
func pick(rng *rand.Rand, keys []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = keys[rng.IntN(len(keys))]
	}
	return out
}

// readMany reads keys at once through mg and records each read that
// answered (a value or absent) as its own operation over the call's span;
// failed reads changed nothing and are left out.
func readMany(h *History, id int, mg ManyGetter, keys []string) {
	call := time.Now()
	res := mg.GetMany(context.Background(), keys)
	ret := time.Now()
	for i, k := range keys {
		switch err := res[i].Err; {
		case err == nil:
			h.add(id, OpInput{Kind: OpGet, Key: k}, call, OpOutput{OK: true, Value: string(res[i].Entry.Value)}, ret)
		case errors.Is(err, wire.ErrNotFound):
			h.add(id, OpInput{Kind: OpGet, Key: k}, call, OpOutput{}, ret)
		}
	}
}

// writeMany puts first (its key and value, and its ttl if any) and a
// value of each of others not already among the keys, at once through mw,
// and records each put as its own operation over the call's span: a put
// refused as HTTP would answer 503 (surely not performed) is left out, and
// one answered any other error has an unknown outcome.
func writeMany(h *History, id int, mw ManyWriter, first OpInput, others []string, prefix string) {
	ins := []OpInput{first}
	for j, k := range others {
		if !slices.ContainsFunc(ins, func(in OpInput) bool { return in.Key == k }) {
			ins = append(ins, OpInput{Kind: OpPut, Key: k, Value: fmt.Sprintf("%s%d;", prefix, j)})
		}
	}
	ops := make([]wire.WriteOp, len(ins))
	for j, in := range ins {
		ops[j] = wire.WriteOp{Kind: wire.WritePut, Key: in.Key, Value: []byte(in.Value), TTL: in.TTL.Milliseconds()}
	}
	call := time.Now()
	res := mw.WriteMany(context.Background(), ops)
	ret := time.Now()
	for j, in := range ins {
		// As RunClientWith judges HTTP's answers: 503 surely did nothing.
		switch err := res[j].Err; {
		case err == nil:
			h.add(id, in, call, OpOutput{OK: true}, ret)
		case web.StatusOf(err) == http.StatusServiceUnavailable:
		default:
			h.add(id, in, call, OpOutput{Unknown: true}, ret)
		}
	}
}

// CheckLinearizable checks h with porcupine. A violation, or a checker that
// runs out of time, fails t; on a violation porcupine's HTML visualization
// is written under dir (the test's output directory) and its path logged.
func CheckLinearizable(t testing.TB, h *History, timeout time.Duration, dir, name string) {
	t.Helper()
	model := KVModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, h.Ops(), timeout)
	switch res {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		t.Fatalf("%s: the linearizability checker ran out of time after %v: counted as a failure", name, timeout)
	}
	path := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+"-linearizability.html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%s: history is not linearizable (and the visualization could not be written: %v)", name, err)
	}
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Fatalf("%s: history is not linearizable (visualization failed: %v)", name, err)
	}
	text := strings.TrimSuffix(path, ".html") + ".txt"
	_ = os.WriteFile(text, []byte(describeFailure(h, timeout)), 0o644)
	t.Fatalf("%s: history is NOT linearizable; porcupine's visualization: %s (failing key as text: %s)", name, path, text)
}

// describeFailure lists, for each key whose history alone is not
// linearizable, its operations in call order and the longest prefix
// porcupine could linearize.
func describeFailure(h *History, timeout time.Duration) string {
	var b strings.Builder
	one := KVModel
	one.Partition = nil
	model := one.ToModel()
	for _, part := range KVModel.Partition(h.Ops()) {
		res, info := porcupine.CheckOperationsVerbose(model, part, timeout)
		if res == porcupine.Ok {
			continue
		}
		key := part[0].Input.(OpInput).Key
		fmt.Fprintf(&b, "key %q: %d operations, result %s\n", key, len(part), res)
		sorted := append([]porcupine.Operation(nil), part...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
		for _, op := range sorted {
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = fmt.Sprintf("%.3f", float64(op.Return)/1e9)
			}
			fmt.Fprintf(&b, "  [%.3f, %s] client %d: %s\n", float64(op.Call)/1e9, ret, op.ClientId,
				KVModel.DescribeOperation(op.Input, op.Output))
		}
		for _, lin := range info.PartialLinearizationsOperations() {
			for _, seq := range lin {
				fmt.Fprintf(&b, "longest linearizable prefix (%d ops), ending:\n", len(seq))
				for _, op := range seq[max(0, len(seq)-15):] {
					fmt.Fprintf(&b, "  [%.3f] client %d: %s\n", float64(op.Call)/1e9, op.ClientId, KVModel.DescribeOperation(op.Input, op.Output))
				}
			}
		}
	}
	return b.String()
}
