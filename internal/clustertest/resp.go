package clustertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/resp"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// This file serves the Redis protocol on the nodes of a test cluster (with
// Options.RESP) over in-memory pipes, which work inside synctest bubbles,
// and drives it with a minimal RESP client for linearizability histories.

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a new client end to the listener.
func (l *pipeListener) dial() (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, fmt.Errorf("dialing RESP: %w", net.ErrClosed)
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// gatedBackend is a node as its RESP server sees it: while the test node
// is paused, its calls wait, as a stopped process's would.
type gatedBackend struct{ *Node }

func (g gatedBackend) Get(ctx context.Context, key string) (store.Entry, error) {
	g.waitGate()
	return g.Node.Get(ctx, key)
}

func (g gatedBackend) GetMany(ctx context.Context, keys []string) []node.GetResult {
	g.waitGate()
	return g.Node.GetMany(ctx, keys)
}

func (g gatedBackend) Write(ctx context.Context, op wire.WriteOp) (store.Version, error) {
	g.waitGate()
	return g.Node.Write(ctx, op)
}

func (g gatedBackend) WriteMany(ctx context.Context, ops []wire.WriteOp) []node.WriteResult {
	g.waitGate()
	return g.Node.WriteMany(ctx, ops)
}

func (g gatedBackend) List(ctx context.Context, prefix, after string, limit int) ([]string, string, error) {
	g.waitGate()
	return g.Node.List(ctx, prefix, after, limit)
}

func (g gatedBackend) Cluster(ctx context.Context) (wire.ClusterInfo, error) {
	g.waitGate()
	return g.Node.Cluster(ctx)
}

// startRESP serves the Redis protocol for tn until stopRESP.
func (tn *Node) startRESP(maxValue, maxKey int) error {
	srv, err := resp.New(gatedBackend{tn}, resp.Config{MaxValue: maxValue, MaxKey: maxKey})
	if err != nil {
		return err
	}
	tn.resp, tn.respLn, tn.respDone = srv, newPipeListener(), make(chan struct{})
	go func() {
		defer close(tn.respDone)
		_ = srv.Serve(tn.respLn)
	}()
	return nil
}

// stopRESP closes the node's RESP server and its connections.
func (tn *Node) stopRESP() {
	if tn.resp == nil {
		return
	}
	tn.resp.Close()
	<-tn.respDone
}

// DialRESP opens a Redis-protocol connection to the node (Options.RESP).
func (tn *Node) DialRESP() (net.Conn, error) {
	if tn.respLn == nil {
		return nil, errors.New("the cluster serves no RESP: start it with Options.RESP")
	}
	tn.waitGate()
	return tn.respLn.dial()
}

// RESPClient is a minimal Redis client: one command at a time.
type RESPClient struct {
	conn net.Conn
	rd   *bufio.Reader
}

// NewRESPClient wraps a connection.
func NewRESPClient(c net.Conn) *RESPClient { return &RESPClient{conn: c, rd: bufio.NewReader(c)} }

// Close closes the connection.
func (c *RESPClient) Close() error { return c.conn.Close() }

// Reply is one RESP2 reply (arrays are not read).
type Reply struct {
	Kind byte   // '+', '-', ':', '$' (Nil for a null bulk)
	Str  string // simple string, error line or bulk
	Int  int64
	Nil  bool
}

// Do sends a command and reads its reply, within timeout.
func (c *RESPClient) Do(timeout time.Duration, args ...string) (Reply, error) {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return Reply{}, err
	}
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return Reply{}, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return Reply{}, errors.New("empty reply line")
	}
	r := Reply{Kind: line[0], Str: line[1:]}
	switch r.Kind {
	case '+', '-':
	case ':':
		r.Int, err = strconv.ParseInt(r.Str, 10, 64)
	case '$':
		n, perr := strconv.Atoi(r.Str)
		switch {
		case perr != nil:
			err = perr
		case n < 0:
			r.Nil, r.Str = true, ""
		default:
			buf := make([]byte, n+2)
			if _, err = io.ReadFull(c.rd, buf); err == nil {
				r.Str = string(buf[:n])
			}
		}
	default:
		err = fmt.Errorf("unexpected reply %q", line)
	}
	return r, err
}

// RunRESPClient issues random operations on keys through the nodes' Redis
// protocol until stop closes, recording each in h: GET, SET, SET NX
// (create), APPEND and DEL. Failed reads and writes answered TRYAGAIN (a
// write that surely did not happen) are left out; writes answered "ERR
// outcome unknown" or cut off by a lost connection are recorded with
// unknown outcomes.
func RunRESPClient(h *History, id int, seed uint64, keys []string, nodes func() []*Node, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)+1000))
	clients := map[*Node]*RESPClient{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
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
		cl := clients[n]
		if cl == nil {
			conn, err := n.DialRESP()
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			cl = NewRESPClient(conn)
			clients[n] = cl
		}
		key := keys[rng.IntN(len(keys))]
		value := fmt.Sprintf("r%d.%d;", id, seq)
		in := OpInput{Key: key, Value: value}
		var args []string
		switch p := rng.IntN(100); {
		case p < 40:
			in.Kind, in.Value, args = OpGet, "", []string{"GET", key}
		case p < 60:
			in.Kind, args = OpPut, []string{"SET", key, value}
		case p < 75:
			in.Kind, args = OpCreate, []string{"SET", key, value, "NX"}
		case p < 90:
			in.Kind, args = OpAppend, []string{"APPEND", key, value}
		default:
			in.Kind, in.Value, args = OpDelete, "", []string{"DEL", key}
		}
		call := time.Now()
		r, err := cl.Do(30*time.Second, args...)
		ret := time.Now()
		var out OpOutput
		switch {
		case err != nil:
			cl.Close()
			delete(clients, n)
			if in.Kind == OpGet {
				continue
			}
			out = OpOutput{Unknown: true}
		case r.Kind == '-' && strings.HasPrefix(r.Str, "TRYAGAIN"):
			time.Sleep(10 * time.Millisecond) // surely not done: recorded as nothing
			continue
		case r.Kind == '-' && in.Kind == OpGet:
			time.Sleep(10 * time.Millisecond)
			continue
		case r.Kind == '-':
			out = OpOutput{Unknown: true} // "ERR outcome unknown" or worse
		case in.Kind == OpGet:
			out = OpOutput{OK: !r.Nil, Value: r.Str}
		case in.Kind == OpCreate:
			out = OpOutput{OK: !r.Nil}
		case in.Kind == OpDelete:
			out = OpOutput{OK: r.Int == 1}
		default:
			out = OpOutput{OK: true}
		}
		h.add(id, in, call, out, ret)
		time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
	}
}
