// Package resp serves jumpkv over the Redis protocol (RESP2, and RESP3
// after HELLO 3), so that redis-cli, redis-benchmark and Redis client
// libraries work against any node. It is an adapter over the node's
// operations, as the HTTP API is: every command becomes node reads and
// writes (Get, Write with conditions, List, Watch) with the same
// forwarding to the leader, the same guarantees and the same errors, mapped
// to Redis's forms in errors.go.
//
// Requests are framed and bounded here (framer.go) and parsed by redcon's
// ReadNextCommand; replies use redcon's encoders plus the RESP3 forms it
// lacks (reply.go). The connection loop is this package's own, so that
// every buffer has a bound and every goroutine an owner.
package resp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Backend is what the Redis front needs of a node (a subset of
// web.Backend). Methods are called from connection goroutines
// concurrently; errors wrap wire's sentinels.
type Backend interface {
	ID() shard.NodeID
	Leader() shard.NodeID
	Get(ctx context.Context, key string) (store.Entry, error)
	// GetMany reads keys as Get would, each on its own, and answers in
	// order; it may read them together (node.Node.GetMany).
	GetMany(ctx context.Context, keys []string) []node.GetResult
	Write(ctx context.Context, op wire.WriteOp) (store.Version, error)
	// WriteMany carries out writes of distinct keys as Write would, each
	// on its own, and answers in order; it may carry them out together
	// (node.Node.WriteMany).
	WriteMany(ctx context.Context, ops []wire.WriteOp) []node.WriteResult
	List(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error)
	Cluster(ctx context.Context) (wire.ClusterInfo, error)
	Watch(prefix string, since *store.Version) (*node.Subscription, error)
	Unwatch(s *node.Subscription)
}

// Authenticator checks a user's password for a client (its remote
// address, for a per-client limit on failed attempts). The error says
// only that the pair was refused, and clients see Redis's WRONGPASS,
// unless it is a *RetryLater: the client has failed too often.
type Authenticator interface {
	Authenticate(client, name, password string) (Principal, error)
}

// RetryLater is an Authenticator's refusal of a client that failed too
// often; it may try again after the given time.
type RetryLater struct{ After time.Duration }

func (e *RetryLater) Error() string {
	return fmt.Sprintf("too many failed authentications: retry in %v", e.After.Round(time.Second))
}

// Principal is an authenticated user.
type Principal interface {
	// Allows reports whether the user may read (write false) or write key.
	Allows(key string, write bool) bool
}

// Config sets the Redis front's limits. Zero fields take DefaultConfig's
// values in New.
type Config struct {
	// MaxValue is the largest value (and so the largest argument) accepted.
	MaxValue int
	// MaxKey is the longest key accepted.
	MaxKey int
	// MaxArgs bounds the arguments of one command.
	MaxArgs int
	// MaxQuery bounds the bytes of one command, framing included: a
	// connection buffers at most this much input.
	MaxQuery int
	// MaxInline bounds an inline (telnet-style) command line.
	MaxInline int
	// MaxClients bounds the connections served at once; more are answered
	// "-ERR max number of clients reached" and closed.
	MaxClients int
	// MaxPending is the reply bytes buffered before they are written out.
	MaxPending int
	// WriteTimeout disconnects a client that does not read its replies
	// (or messages) for this long.
	WriteTimeout time.Duration
	// KeysLimit bounds the keys KEYS returns; past it KEYS fails and says
	// so. KEYS also stops after examining KeysScanLimit keys.
	KeysLimit, KeysScanLimit int
	// Cursors bounds the SCAN cursors a server remembers, each for
	// CursorTTL.
	Cursors   int
	CursorTTL time.Duration
	// MaxRetries bounds the attempts of a read-modify-write (INCR, APPEND,
	// SET ... GET, GETDEL) that loses races to other writers.
	MaxRetries int
	// Parallel bounds the node calls one multi-key command makes at once,
	// and the single-key writes of a pipeline run in parallel.
	Parallel int
	// SerialPipelines runs every pipelined command after the one before
	// has finished, as Redis does. By default consecutive single-key
	// writes of a pipeline run in parallel (each key's in order), so that
	// they share the leader's round trips.
	SerialPipelines bool
	// Auth, when set, requires AUTH (or HELLO ... AUTH) before any command
	// but AUTH, HELLO and QUIT. Nil: every client is trusted.
	Auth Authenticator
	// Version is reported by INFO and HELLO.
	Version string
	// Logger receives connection errors and handler panics; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: 1 MiB values, 1024-byte keys,
// 65,536 arguments, 10,000 clients, KEYS up to 10,000 keys.
func DefaultConfig() Config {
	return Config{
		MaxValue:      1 << 20,
		MaxKey:        1024,
		MaxArgs:       1 << 16,
		MaxInline:     64 << 10,
		MaxClients:    10_000,
		MaxPending:    64 << 10,
		WriteTimeout:  30 * time.Second,
		KeysLimit:     10_000,
		KeysScanLimit: 1_000_000,
		Cursors:       10_000,
		CursorTTL:     10 * time.Minute,
		MaxRetries:    100,
		Parallel:      16,
		Version:       "dev",
	}
}

// withDefaults fills zero fields from DefaultConfig; MaxQuery defaults to
// twice the largest value plus 64 KiB (a SET of the largest value fits).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.MaxValue, d.MaxValue)
	set(&c.MaxKey, d.MaxKey)
	set(&c.MaxArgs, d.MaxArgs)
	set(&c.MaxInline, d.MaxInline)
	set(&c.MaxClients, d.MaxClients)
	set(&c.MaxPending, d.MaxPending)
	set(&c.KeysLimit, d.KeysLimit)
	set(&c.KeysScanLimit, d.KeysScanLimit)
	set(&c.Cursors, d.Cursors)
	set(&c.MaxRetries, d.MaxRetries)
	set(&c.Parallel, d.Parallel)
	set(&c.MaxQuery, 2*max(c.MaxValue, c.MaxKey)+64<<10)
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.CursorTTL == 0 {
		c.CursorTTL = d.CursorTTL
	}
	if c.Version == "" {
		c.Version = d.Version
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxValue < 1:
		return fmt.Errorf("resp: MaxValue %d: want at least 1 byte", c.MaxValue)
	case c.MaxKey < 1:
		return fmt.Errorf("resp: MaxKey %d: want at least 1 byte", c.MaxKey)
	case c.MaxArgs < 3:
		return fmt.Errorf("resp: MaxArgs %d: want at least 3 (SET key value)", c.MaxArgs)
	case c.MaxQuery < max(c.MaxValue, c.MaxKey):
		return fmt.Errorf("resp: MaxQuery %d is below MaxValue %d: the largest value could not be sent", c.MaxQuery, c.MaxValue)
	case c.MaxInline < 16:
		return fmt.Errorf("resp: MaxInline %d: want at least 16 bytes", c.MaxInline)
	case c.MaxClients < 1:
		return fmt.Errorf("resp: MaxClients %d: want at least 1", c.MaxClients)
	case c.MaxPending < 512:
		return fmt.Errorf("resp: MaxPending %d: want at least 512 bytes", c.MaxPending)
	case c.WriteTimeout < 0:
		return fmt.Errorf("resp: WriteTimeout %v: want a positive duration", c.WriteTimeout)
	case c.KeysLimit < 1 || c.KeysScanLimit < c.KeysLimit:
		return fmt.Errorf("resp: KeysLimit %d / KeysScanLimit %d: want 1 <= KeysLimit <= KeysScanLimit", c.KeysLimit, c.KeysScanLimit)
	case c.Cursors < 1 || c.CursorTTL <= 0:
		return fmt.Errorf("resp: Cursors %d / CursorTTL %v: want at least one cursor kept for a positive time", c.Cursors, c.CursorTTL)
	case c.MaxRetries < 1:
		return fmt.Errorf("resp: MaxRetries %d: want at least 1", c.MaxRetries)
	case c.Parallel < 1:
		return fmt.Errorf("resp: Parallel %d: want at least 1", c.Parallel)
	}
	return nil
}

// Server serves the Redis protocol for one node.
type Server struct {
	b       Backend
	cfg     Config
	log     *slog.Logger
	started time.Time
	cursors *cursors

	ctx    context.Context // ends when the server closes
	cancel context.CancelFunc

	mu     sync.Mutex
	lns    map[net.Listener]bool
	conns  map[*conn]bool
	closed bool
	wg     sync.WaitGroup // connection and accept goroutines

	pool workers // runs the tasks of parallel commands (wg: s.wg)

	nextID   atomic.Int64 // CLIENT ID
	clients  atomic.Int64 // connections served now
	commands atomic.Int64 // commands processed
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("resp: server closed")

// New returns a server over b; zero fields of cfg take defaults.
func New(b Backend, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{b: b, cfg: cfg, log: log, started: time.Now(), cursors: newCursors(cfg.Cursors, cfg.CursorTTL),
		ctx: ctx, cancel: cancel, lns: map[net.Listener]bool{}, conns: map[*conn]bool{}}
	srv.pool.wg = &srv.wg
	return srv, nil
}

// Serve accepts connections on ln until Close, and returns ErrServerClosed
// then; it closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer ln.Close()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("redis accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

// isTemporary reports accept errors worth retrying (too many open files).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// accept starts serving nc, or refuses it past MaxClients.
func (s *Server) accept(nc net.Conn) {
	if s.clients.Add(1) > int64(s.cfg.MaxClients) {
		s.clients.Add(-1)
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.clients.Add(-1)
		nc.Close()
		return
	}
	s.conns[c] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.clients.Add(-1)
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Close stops accepting, closes every connection and waits for their
// goroutines to end. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.pool.stop()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting, lets every connection finish the commands it
// has read (their replies are written), then closes it; connections still
// busy when ctx ends are closed at once. It waits for the connections'
// goroutines either way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.pool.stop() // idle workers end; busy ones after their task
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		// An idle connection's read returns at once; a busy one's after
		// its pipeline has run and been answered.
		_ = c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.wg.Wait()
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	return err
}

// Run serves ln until ctx ends, then closes the server.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case <-ctx.Done():
		s.Close()
		<-done
		return nil
	case err := <-done:
		s.Close()
		if errors.Is(err, ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Clients returns the number of connections served now.
func (s *Server) Clients() int64 { return s.clients.Load() }
