// Package memstore is an in-memory stand-in for a node's key operations
// (Get, Write with conditions, List, Watch-free) for the tests of the
// fronts and the file layer: one process, no replication, the same
// errors and the same hiding of internal keys as node.Node.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jumpkv/jumpkv/kv"
	"github.com/jumpkv/jumpkv/replication"
	"github.com/jumpkv/jumpkv/wire"
)

// Store holds keys in memory. Safe for concurrent use.
type Store struct {
	// MaxValue is the largest value accepted (0: 1 MiB).
	MaxValue int
	// Alias keeps the very slice a write passes as the stored value, as a
	// node does for its own replica (false: a copy is kept).
	Alias bool

	mu     sync.Mutex
	seq    uint64
	m      map[string]kv.Entry
	writes int
	// Fail, when set, is called before every write; a non-nil error fails it.
	Fail func(op wire.WriteOp) error
}

// New returns an empty store.
func New() *Store { return &Store{m: map[string]kv.Entry{}} }

// Get returns key's entry or wire.ErrNotFound.
func (s *Store) Get(_ context.Context, key string) (kv.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		return kv.Entry{}, fmt.Errorf("%w: %q", wire.ErrNotFound, key)
	}
	return e, nil
}

// Write applies op as a node would.
func (s *Store) Write(_ context.Context, op wire.WriteOp) (kv.Version, error) {
	if f := s.Fail; f != nil {
		if err := f(op); err != nil {
			return kv.Version{}, err
		}
	}
	max := s.MaxValue
	if max == 0 {
		max = 1 << 20
	}
	if len(op.Value) > max {
		return kv.Version{}, fmt.Errorf("%w: %d bytes", wire.ErrTooLarge, len(op.Value))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found := s.m[op.Key]
	if err := replication.CheckConditions(op, cur, found); err != nil {
		return kv.Version{}, err
	}
	s.seq++
	s.writes++
	v := kv.Version{Term: 1, Seq: s.seq}
	switch op.Kind {
	case wire.WriteDelete:
		delete(s.m, op.Key)
		return v, nil
	case wire.WriteAppend:
		if found {
			if len(cur.Value)+len(op.Value) > max {
				return kv.Version{}, fmt.Errorf("%w: appended", wire.ErrTooLarge)
			}
			val := append(slices.Clone(cur.Value), op.Value...)
			ct := cur.ContentType
			if op.ContentType != "" {
				ct = op.ContentType
			}
			s.m[op.Key] = kv.Entry{Key: op.Key, Value: val, ContentType: ct, Version: v}
			return v, nil
		}
	}
	val := op.Value
	if !s.Alias {
		val = slices.Clone(val)
	}
	s.m[op.Key] = kv.Entry{Key: op.Key, Value: val, ContentType: op.ContentType, Version: v}
	return v, nil
}

// List returns keys under prefix after after, as node.List does.
func (s *Store) List(_ context.Context, prefix, after string, limit int) ([]string, string, error) {
	if prefix == "" && after < kv.InternalEnd {
		after = kv.InternalEnd
	}
	s.mu.Lock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
		return keys, keys[len(keys)-1], nil
	}
	return keys, "", nil
}

// Keys returns every key held, internal ones included, sorted.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Writes returns the number of writes applied.
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
