package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/wire"
)

// recorder is a SendFunc that answers from a table and records the order
// in which replicas were written.
type recorder struct {
	mu      sync.Mutex
	answers map[shard.NodeID]error
	order   []shard.NodeID
	// backupsDone counts backups that had answered when the primary was sent.
	backupsDoneAtPrimary int
	primary              shard.NodeID
}

func (r *recorder) send(_ context.Context, m wire.Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.ID == r.primary {
		r.backupsDoneAtPrimary = len(r.order)
	}
	r.order = append(r.order, m.ID)
	return r.answers[m.ID]
}

func members(ids ...shard.NodeID) []wire.Member {
	ms := make([]wire.Member, len(ids))
	for i, id := range ids {
		ms[i] = wire.Member{ID: id, Peer: fmt.Sprintf("n%d", id)}
	}
	return ms
}

func TestWriteOutcomes(t *testing.T) {
	refused := fmt.Errorf("%w: refused", wire.ErrUnreachable)
	timedOut := fmt.Errorf("%w: no answer", wire.ErrTimeout)
	cases := []struct {
		name     string
		replicas []shard.NodeID
		answers  map[shard.NodeID]error
		want     error // nil, wire.ErrUnavailable or wire.ErrUnknownOutcome
		primary  bool  // whether the primary is written at all
	}{
		{"all apply", []shard.NodeID{1, 2, 3}, nil, nil, true},
		{"single replica applies", []shard.NodeID{1}, nil, nil, true},
		{"every backup refused: nothing applied", []shard.NodeID{1, 2, 3}, map[shard.NodeID]error{2: refused, 3: refused}, wire.ErrUnavailable, false},
		{"one backup refused, one applied", []shard.NodeID{1, 2, 3}, map[shard.NodeID]error{3: refused}, wire.ErrUnknownOutcome, false},
		{"a backup timed out", []shard.NodeID{1, 2}, map[shard.NodeID]error{2: timedOut}, wire.ErrUnknownOutcome, false},
		{"the primary refused after the backups applied", []shard.NodeID{1, 2}, map[shard.NodeID]error{1: refused}, wire.ErrUnknownOutcome, true},
		{"sole replica refused", []shard.NodeID{1}, map[shard.NodeID]error{1: refused}, wire.ErrUnavailable, true},
		{"sole replica timed out", []shard.NodeID{1}, map[shard.NodeID]error{1: timedOut}, wire.ErrUnknownOutcome, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{answers: c.answers, primary: c.replicas[0]}
			err := Write(context.Background(), members(c.replicas...), r.send)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("Write = %v, want success", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("Write = %v, want %v", err, c.want)
			}
			if c.want == wire.ErrUnavailable && errors.Is(err, wire.ErrUnknownOutcome) {
				t.Fatalf("Write = %v: claims both outcomes", err)
			}
			wrotePrimary := false
			for _, id := range r.order {
				wrotePrimary = wrotePrimary || id == c.replicas[0]
			}
			if wrotePrimary != c.primary {
				t.Fatalf("primary written = %v, want %v (order %v)", wrotePrimary, c.primary, r.order)
			}
			if wrotePrimary && r.backupsDoneAtPrimary != len(c.replicas)-1 {
				t.Fatalf("primary written after %d of %d backups", r.backupsDoneAtPrimary, len(c.replicas)-1)
			}
		})
	}
}

func TestWriteNoReplicas(t *testing.T) {
	err := Write(context.Background(), nil, func(context.Context, wire.Member) error {
		t.Fatal("send called with no replicas")
		return nil
	})
	if !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("Write(no replicas) = %v, want ErrUnavailable", err)
	}
}

// TestWriteBackupsInParallel checks that no backup waits for another: each
// blocks until every backup has been sent to.
func TestWriteBackupsInParallel(t *testing.T) {
	reps := members(1, 2, 3, 4)
	var started sync.WaitGroup
	started.Add(len(reps) - 1)
	err := Write(context.Background(), reps, func(ctx context.Context, m wire.Member) error {
		if m.ID == 1 {
			return nil
		}
		started.Done()
		started.Wait()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
