package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

func TestTCPContract(t *testing.T) {
	testContract(t, func(t *testing.T) *harness {
		hs := &harness{
			maxFrame:    contractMaxFrame,
			callTimeout: contractCallTimeout,
			deadAddr:    deadTCPAddr,
			stalls:      make(chan QuickStall, 16),
		}
		hs.listen = func(t *testing.T, addr string, stamp Stamp, h Handler) (Transport, error) {
			if addr == "" {
				addr = "127.0.0.1:0"
			}
			cfg := testTCPConfig(stamp, nil)
			cfg.MaxFrame = contractMaxFrame
			cfg.CallTimeout = contractCallTimeout
			cfg.QuickStall = contractQuickStall
			cfg.OnQuickStall = hs.reportStall
			return ListenTCP(addr, cfg, h)
		}
		return hs
	})
}

// testTCPConfig is the default config with stamp, logging to rec (nil:
// nowhere).
func testTCPConfig(stamp Stamp, rec *logRecorder) TCPConfig {
	cfg := DefaultTCPConfig()
	cfg.Stamp = stamp
	if rec == nil {
		rec = &logRecorder{}
	}
	cfg.Logger = slog.New(rec)
	return cfg
}

// deadTCPAddr returns a local address nobody listens on.
func deadTCPAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// listenTCP starts a TCP transport on a free port, closed at cleanup.
func listenTCP(t testing.TB, cfg TCPConfig, h Handler) *TCP {
	t.Helper()
	tr, err := ListenTCP("127.0.0.1:0", cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func fixedStamp(id, term uint64) Stamp { return func() (uint64, uint64) { return id, term } }

// logRecorder is a slog.Handler that keeps Warn and Error records.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *logRecorder) WithGroup(string) slog.Handler                { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}

// remotes returns the "remote" attribute of each record, in order.
func (r *logRecorder) remotes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		remote := ""
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "remote" {
				remote = a.Value.String()
			}
			return true
		})
		out = append(out, remote)
	}
	return out
}

// badInput is raw bytes a broken or hostile peer might send.
type badInput struct {
	name      string
	data      []byte
	halfClose bool // then end the sending side, so the server sees EOF
}

func badInputs(maxFrame int) []badInput {
	hello := wire.Header{Type: wire.TypeHello, ID: 1, From: 9, Term: 1}
	helloBody, err := wire.Encode(&wire.Hello{Self: wire.Member{ID: 9}})
	if err != nil {
		panic(err)
	}
	frame := func(h wire.Header, body []byte) []byte { return wire.AppendFrame(nil, h, body) }
	badVersion := frame(hello, helloBody)
	badVersion[4] = wire.ProtocolVersion + 1
	nested := append([]byte{0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 100_000)...)
	nested = append(nested, 0xc0)
	// A frame claiming maxFrame bytes that stops after its header and 1 KB.
	large := frame(wire.Header{Type: wire.TypeReplicate, ID: 2}, make([]byte, 1024))
	large[0], large[1], large[2], large[3] = byte(maxFrame>>24), byte(maxFrame>>16), byte(maxFrame>>8), byte(maxFrame)
	return []badInput{
		{name: "garbage", data: []byte("GET / HTTP/1.1\r\nHost: jumpkv\r\n\r\n")},
		{name: "truncated frame", data: frame(hello, helloBody)[:wire.HeaderLen], halfClose: true},
		{name: "length 0xFFFFFFFF", data: []byte{0xff, 0xff, 0xff, 0xff}},
		{name: "length below header", data: []byte{0, 0, 0, 3, 1, 2, 3}},
		{name: "unknown type", data: frame(wire.Header{Type: 200, ID: 1}, helloBody)},
		{name: "bad version", data: badVersion},
		{name: "unknown flags", data: frame(wire.Header{Type: wire.TypeHello, Flags: 0x80, ID: 1}, helloBody)},
		{name: "response to a server", data: frame(wire.Header{Type: wire.TypeOK, Flags: wire.FlagResponse, ID: 1}, []byte{0x80})},
		{name: "hello array32 claim", data: frame(hello, []byte{0xdd, 0xff, 0xff, 0xff, 0xff})},
		{name: "digests array32 claim", data: frame(wire.Header{Type: wire.TypeDigests, ID: 1}, []byte{0x81, 0xa1, 'b', 0xdd, 0xff, 0xff, 0xff, 0xff})},
		{name: "nested 100k deep", data: frame(wire.Header{Type: wire.TypeOK, ID: 1}, nested)},
		{name: "undecodable body", data: frame(hello, []byte{0xc1})},
		{name: "max-size claim then EOF", data: large, halfClose: true},
	}
}

// sendBad writes in to a new connection to addr and waits for the server
// to close it. It returns the connection's local address.
func sendBad(t testing.TB, addr string, in badInput) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	local := nc.LocalAddr().String()
	if _, err := nc.Write(in.data); err != nil {
		t.Fatalf("%s: write: %v", in.name, err)
	}
	if in.halfClose {
		nc.(*net.TCPConn).CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the server did not close the connection", in.name)
	}
	if n != 0 {
		t.Fatalf("%s: the server answered %d bytes", in.name, n)
	}
	return local
}

func TestTCPMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	rec := &logRecorder{}
	h := newTestHandler(2)
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), rec), h)
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), newTestHandler(1))
	ctx := callCtx(t)

	if _, err := cli.Call(ctx, srv.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
	var locals []string
	for _, in := range badInputs(wire.DefaultMaxFrame) {
		locals = append(locals, sendBad(t, srv.Addr(), in))
		// The shared connection of a well-behaved peer is untouched.
		env, err := cli.Call(ctx, srv.Addr(), &wire.Read{Key: in.name})
		if err != nil {
			t.Fatalf("after %s: %v", in.name, err)
		}
		if rr := env.Msg.(*wire.ReadResp); rr.Entry.Key != in.name {
			t.Fatalf("after %s: answer %#v", in.name, rr)
		}
	}
	got := rec.remotes()
	if len(got) != len(locals) {
		t.Fatalf("%d warnings for %d bad connections: %v", len(got), len(locals), got)
	}
	for i := range locals {
		if got[i] != locals[i] {
			t.Errorf("warning %d names remote %q, want %q", i, got[i], locals[i])
		}
	}
	if n := h.served.Load(); n != int64(1+len(locals)) {
		t.Errorf("handler served %d requests; bad frames must never reach it", n)
	}
}

func TestTCPBadConnectionsHeapBounded(t *testing.T) {
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), newTestHandler(2))
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), newTestHandler(1))
	inputs := badInputs(wire.DefaultMaxFrame)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 200 {
		sendBad(t, srv.Addr(), inputs[i%len(inputs)])
	}
	waitFor(t, "server connections to end", func() bool { return liveConns(srv) == 0 })
	if _, err := cli.Call(callCtx(t), srv.Addr(), &wire.Resign{}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("200 bad connections: heap growth %d KB, allocated %d KB in total", growth>>10, allocated>>10)
	if growth > 50<<20 {
		t.Errorf("heap grew by %d MB", growth>>20)
	}
	// Claims of 4-billion-element arrays and of max-size frames that never
	// come must not be believed: a 16 MB body per claim would make 250 MB.
	if allocated > 100<<20 {
		t.Errorf("allocated %d MB in total", allocated>>20)
	}
}

func TestTCPOneConnectionPerPeer(t *testing.T) {
	var accepted, dialed atomic.Int64
	count := func(_ net.Conn, dialer bool) error {
		if dialer {
			dialed.Add(1)
		} else {
			accepted.Add(1)
		}
		return nil
	}
	cfg := testTCPConfig(fixedStamp(2, 1), nil)
	cfg.Handshake = count
	srv := listenTCP(t, cfg, newTestHandler(2))
	srv2 := listenTCP(t, cfg, newTestHandler(3))
	cfg = testTCPConfig(fixedStamp(1, 1), nil)
	cfg.Handshake = count
	cli := listenTCP(t, cfg, newTestHandler(1))

	ctx := callCtx(t)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 64 {
		wg.Go(func() {
			for i := range 32 {
				addr := srv.Addr()
				if (w+i)%4 == 0 {
					addr = srv2.Addr()
				}
				if _, err := cli.Call(ctx, addr, &wire.Resign{}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d calls failed", n)
	}
	if a, d := accepted.Load(), dialed.Load(); a != 2 || d != 2 {
		t.Errorf("%d connections accepted and %d dialed for two peer addresses, want 2 and 2", a, d)
	}
}

func TestTCPHandshakeHook(t *testing.T) {
	const magic = "JKV1"
	hs := func(nc net.Conn, dialer bool) error {
		if dialer {
			_, err := nc.Write([]byte(magic))
			return err
		}
		buf := make([]byte, len(magic))
		if _, err := io.ReadFull(nc, buf); err != nil {
			return err
		}
		if string(buf) != magic {
			return errors.New("bad magic")
		}
		return nil
	}
	rec := &logRecorder{}
	cfg := testTCPConfig(fixedStamp(2, 1), rec)
	cfg.Handshake = hs
	srv := listenTCP(t, cfg, newTestHandler(2))

	cfg = testTCPConfig(fixedStamp(1, 1), nil)
	cfg.Handshake = hs
	good := listenTCP(t, cfg, newTestHandler(1))
	if _, err := good.Call(callCtx(t), srv.Addr(), &wire.Resign{}); err != nil {
		t.Fatalf("call after a good handshake: %v", err)
	}

	cfg.Handshake = func(nc net.Conn, dialer bool) error {
		_, err := nc.Write([]byte("NOPE"))
		return err
	}
	bad := listenTCP(t, cfg, newTestHandler(3))
	_, err := bad.Call(callCtx(t), srv.Addr(), &wire.Resign{})
	if err == nil || !(errors.Is(err, wire.ErrConnLost) || errors.Is(err, wire.ErrUnreachable)) {
		t.Fatalf("call after a rejected handshake: %v", err)
	}
	waitFor(t, "the handshake warning", func() bool { return len(rec.remotes()) >= 1 })
	t.Logf("bad-handshake call: %v; warnings %v", err, rec.remotes())

	// A dialer whose own handshake fails never sends: ErrUnreachable.
	cfg.Handshake = func(net.Conn, bool) error { return errors.New("no credentials") }
	none := listenTCP(t, cfg, newTestHandler(4))
	if _, err := none.Call(callCtx(t), srv.Addr(), &wire.Resign{}); !errors.Is(err, wire.ErrUnreachable) {
		t.Fatalf("call after the dialer's handshake failed: %v, want ErrUnreachable", err)
	}
}

func TestTCPDialBackoff(t *testing.T) {
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), newTestHandler(2))
	var attempts atomic.Int64
	cfg := testTCPConfig(fixedStamp(1, 1), nil)
	cfg.Handshake = func(net.Conn, bool) error {
		if attempts.Add(1) == 1 {
			return errors.New("refused once")
		}
		return nil
	}
	cli := listenTCP(t, cfg, newTestHandler(1))
	cli.backoff = time.Hour // every call in this test falls in the window
	for i := range 20 {
		if _, err := cli.Call(callCtx(t), srv.Addr(), &wire.Resign{}); !errors.Is(err, wire.ErrUnreachable) {
			t.Fatalf("call %d: %v, want ErrUnreachable", i, err)
		}
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d dials within the backoff window, want 1", n)
	}
	// After the window, the next call dials again.
	cli.peers[srv.Addr()].mu.Lock()
	cli.peers[srv.Addr()].failedAt = time.Now().Add(-2 * time.Hour)
	cli.peers[srv.Addr()].mu.Unlock()
	if _, err := cli.Call(callCtx(t), srv.Addr(), &wire.Resign{}); err != nil {
		t.Fatalf("call after the backoff window: %v", err)
	}
}

func TestTCPIdleConnections(t *testing.T) {
	var accepted atomic.Int64
	cfg := testTCPConfig(fixedStamp(2, 1), nil)
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.Handshake = func(_ net.Conn, dialer bool) error {
		if !dialer {
			accepted.Add(1)
		}
		return nil
	}
	slow := HandlerFunc(func(ctx context.Context, req Envelope) (wire.Message, error) {
		if _, ok := req.Msg.(*wire.Pull); ok {
			// Answer after three idle timeouts: in-flight work keeps
			// both ends of the connection open.
			select {
			case <-time.After(600 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	})
	srv := listenTCP(t, cfg, slow)
	ccfg := testTCPConfig(fixedStamp(1, 1), nil)
	ccfg.IdleTimeout = 200 * time.Millisecond
	cli := listenTCP(t, ccfg, newTestHandler(1))

	if _, err := cli.Call(callCtx(t), srv.Addr(), &wire.Pull{}); err != nil {
		t.Fatalf("slow call across idle timeouts: %v", err)
	}
	// Once idle, the client closes its side, then the server its own.
	waitFor(t, "idle connections to close", func() bool { return liveConns(cli) == 0 && liveConns(srv) == 0 })
	if _, err := cli.Call(callCtx(t), srv.Addr(), &wire.Resign{}); err != nil {
		t.Fatalf("call after idle close: %v", err)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections accepted, want 2 (one before and one after the idle close)", n)
	}
}

func TestTCPConfigValidate(t *testing.T) {
	ok := DefaultTCPConfig()
	ok.Stamp = fixedStamp(1, 1)
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config with a stamp: %v", err)
	}
	cases := []struct {
		change func(*TCPConfig)
		want   string
	}{
		{func(c *TCPConfig) { c.Stamp = nil }, "Stamp is nil"},
		{func(c *TCPConfig) { c.MaxFrame = wire.HeaderLen }, "is below the minimum"},
		{func(c *TCPConfig) { c.MaxFrame = 1 << 33 }, "MaxFrame 8589934592 is above"},
		{func(c *TCPConfig) { c.DialTimeout = 0 }, "DialTimeout 0s must be positive"},
		{func(c *TCPConfig) { c.CallTimeout = -time.Second }, "CallTimeout -1s must be positive"},
		{func(c *TCPConfig) { c.IdleTimeout = 0 }, "IdleTimeout"},
		{func(c *TCPConfig) { c.WriteTimeout = 0 }, "WriteTimeout"},
		{func(c *TCPConfig) { c.QuickStall = 0 }, "QuickStall 0s must be positive"},
	}
	for _, c := range cases {
		cfg := ok
		c.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate: %v, want an error containing %q", err, c.want)
		}
		if _, lerr := ListenTCP("127.0.0.1:0", cfg, newTestHandler(1)); lerr == nil {
			t.Errorf("ListenTCP accepted a config failing with %v", err)
		}
	}
	if _, err := ListenTCP("127.0.0.1:0", ok, nil); err == nil {
		t.Error("ListenTCP accepted a nil handler")
	}
}

// liveConns counts a transport's open connections, both sides.
func liveConns(t *TCP) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestTCPCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ha, hb := newTestHandler(1), newTestHandler(2)
	a, err := ListenTCP("127.0.0.1:0", testTCPConfig(fixedStamp(1, 1), nil), ha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ListenTCP("127.0.0.1:0", testTCPConfig(fixedStamp(2, 1), nil), hb)
	if err != nil {
		t.Fatal(err)
	}
	// Calls both ways, some blocked in handlers, one dial to nowhere.
	var results []<-chan callResult
	for range 4 {
		results = append(results, goCall(context.Background(), a, b.Addr(), &wire.Pull{}))
		results = append(results, goCall(context.Background(), b, a.Addr(), &wire.Pull{}))
	}
	for range 4 {
		waitStarted(t, ha)
		waitStarted(t, hb)
	}
	results = append(results, goCall(context.Background(), a, deadTCPAddr(t), &wire.Resign{}))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range results {
		if r := waitResult(t, ch); r.err == nil {
			t.Error("a call survived Close")
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// quickTestHandler serves Replicate as a quick request; everything else
// as testHandler does (a Pull blocks until unblocked).
type quickTestHandler struct{ *testHandler }

func (h quickTestHandler) Quick(msg wire.Message) bool {
	_, ok := msg.(*wire.Replicate)
	return ok
}

// TestQuickRequestsServedOnTheReader checks that a QuickHandler's quick
// requests are served on the connection's reader (counted), answered
// correctly, and not held up by a slow request on the same connection,
// which gets a goroutine of its own.
func TestQuickRequestsServedOnTheReader(t *testing.T) {
	th := newTestHandler(2)
	defer th.unblock()
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), quickTestHandler{th})
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), newTestHandler(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	slow := make(chan error, 1)
	go func() {
		_, err := cli.Call(ctx, srv.Addr(), &wire.Pull{})
		slow <- err
	}()
	<-th.started // the slow Pull is in its handler, blocked

	const n = 50
	for i := range n {
		env, err := cli.Call(ctx, srv.Addr(), &wire.Replicate{Entry: store.Entry{Key: "k", Value: []byte{byte(i)}}})
		if err != nil {
			t.Fatalf("quick call %d while a slow one is blocked: %v", i, err)
		}
		if ack, ok := env.Msg.(*wire.ReplicateAck); !ok || !ack.Applied {
			t.Fatalf("quick call %d: answer %#v", i, env.Msg)
		}
	}
	if got := srv.servedQuick.Load(); got != n {
		t.Fatalf("%d requests served on the reader, want %d (the Replicates, not the Pull)", got, n)
	}
	th.unblock()
	if err := <-slow; err != nil {
		t.Fatalf("slow call: %v", err)
	}
}

// TestHandlerGoroutinesAreReused checks that requests served one after
// another reuse a handler goroutine, and that requests blocked in their
// handlers each get one of their own, holding up nothing else.
func TestHandlerGoroutinesAreReused(t *testing.T) {
	th := newTestHandler(2)
	defer th.unblock()
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), th)
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), newTestHandler(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	const blocked = 5
	var results []<-chan callResult
	for range blocked {
		results = append(results, goCall(ctx, cli, srv.Addr(), &wire.Pull{}))
		waitStarted(t, th)
	}
	const sequential = 200
	for i := range sequential {
		if _, err := cli.Call(ctx, srv.Addr(), &wire.Digests{Buckets: []int{i}}); err != nil {
			t.Fatalf("call %d with %d handlers blocked: %v", i, blocked, err)
		}
	}
	// A worker returns to idle just after queueing its answer, so a call
	// may now and then find none idle yet: allow a few more.
	if got := srv.workers.started.Load(); got > blocked+10 {
		t.Fatalf("%d handler goroutines started for %d blocked and %d sequential requests", got, blocked, sequential)
	}
	th.unblock()
	for _, ch := range results {
		if r := waitResult(t, ch); r.err != nil {
			t.Fatalf("blocked call: %v", r.err)
		}
	}
}

// TestHeldAnswersDoNotWaitForAPartialFrame sends a quick request and, in
// the same write, the first half of another: the reader holds the first
// answer, and must send it before it blocks reading the rest of the second
// frame. The rest, with more quick requests, then gets every answer; and
// requests before a malformed frame get theirs before the connection
// closes.
func TestHeldAnswersDoNotWaitForAPartialFrame(t *testing.T) {
	th := newTestHandler(2)
	defer th.unblock()
	srv := listenTCP(t, testTCPConfig(fixedStamp(2, 1), nil), quickTestHandler{th})
	nc, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame := func(id uint64) []byte {
		body, err := wire.Encode(&wire.Replicate{Entry: store.Entry{Key: "k", Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		return wire.AppendFrame(nil, wire.Header{Type: wire.TypeReplicate, ID: id, From: 1, Term: 1}, body)
	}
	readAnswers := func(n int) []uint64 {
		t.Helper()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var ids []uint64
		for range n {
			h, _, err := wire.ReadFrame(nc, wire.DefaultMaxFrame)
			if err != nil {
				t.Fatalf("reading answer %d of %d: %v (an answer held and never sent?)", len(ids)+1, n, err)
			}
			ids = append(ids, h.ID)
		}
		return ids
	}

	second := frame(2)
	if _, err := nc.Write(append(frame(1), second[:len(second)/2]...)); err != nil {
		t.Fatal(err)
	}
	if ids := readAnswers(1); ids[0] != 1 {
		t.Fatalf("answer to %d, want 1", ids[0])
	}
	var batch []byte
	batch = append(batch, second[len(second)/2:]...)
	for id := uint64(3); id <= 10; id++ {
		batch = append(batch, frame(id)...)
	}
	if _, err := nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	if ids := readAnswers(9); !slices.Equal(ids, []uint64{2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("answers %v, want 2 to 10 in order", ids)
	}
	if got := srv.servedQuick.Load(); got != 10 {
		t.Fatalf("%d requests served on the reader, want 10", got)
	}

	// Quick requests, then a malformed frame, in one write: the requests
	// took effect, so their answers go out before the connection closes.
	batch = nil
	for id := uint64(11); id <= 13; id++ {
		batch = append(batch, frame(id)...)
	}
	batch = append(batch, 0, 0, 0, 1, 0) // a length shorter than any header
	if _, err := nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	if ids := readAnswers(3); !slices.Equal(ids, []uint64{11, 12, 13}) {
		t.Fatalf("answers %v before the malformed frame, want 11 to 13", ids)
	}
	if _, _, err := wire.ReadFrame(nc, wire.DefaultMaxFrame); !errors.Is(err, io.EOF) {
		t.Fatalf("after the malformed frame: %v, want the connection closed", err)
	}

	// The counters: 13 answers, all served on the reader, in at least the
	// 3 writes the test forced (answer 1 alone, then two batches), most of
	// them by the reader itself.
	st := srv.Stats()
	if st.FramesSent != 13 || st.ServedQuick != 13 || st.Writes < 3 || st.Writes > 13 ||
		st.ReaderWrites < 1 || st.ReaderWrites > st.Writes {
		t.Fatalf("stats %+v: want 13 frames served on the reader in 3 to 13 writes, some by the reader", st)
	}
}

// TestTCPQuickStallLogged checks the default of OnQuickStall: a quick
// handler blocking its reader is logged at Warn, naming the peer and the
// message type, and counted in Stats, while it still blocks.
func TestTCPQuickStallLogged(t *testing.T) {
	rec := &logRecorder{}
	cfg := testTCPConfig(fixedStamp(2, 1), rec)
	cfg.QuickStall = 20 * time.Millisecond
	h := &stallHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	srv := listenTCP(t, cfg, h)
	defer close(h.release)
	cli := listenTCP(t, testTCPConfig(fixedStamp(1, 1), nil), newTestHandler(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_ = goCall(ctx, cli, srv.Addr(), &wire.Replicate{Entry: store.Entry{Key: "block"}})
	<-h.started
	waitFor(t, "the stall to be logged", func() bool { return len(rec.remotes()) > 0 })
	if got := srv.Stats().QuickStalls; got != 1 {
		t.Errorf("Stats().QuickStalls = %d, want 1", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.recs) != 1 {
		t.Fatalf("%d log records, want 1", len(rec.recs))
	}
	r := rec.recs[0]
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "quick request") ||
		attrs["remote"] == "" || attrs["type"] != fmt.Sprint(int(wire.TypeReplicate)) || attrs["held"] == "" {
		t.Fatalf("logged %v %q %v", r.Level, r.Message, attrs)
	}
}
