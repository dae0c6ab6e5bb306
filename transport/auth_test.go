package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// authTimeout bounds the handshakes of these tests. Tests that expect a
// handshake to succeed use it too; under -race on a loaded machine a
// loopback handshake takes milliseconds.
const authTimeout = 5 * time.Second

// tcpPair returns the two ends of a new loopback TCP connection: the
// dialer's and the acceptor's. Both are closed at cleanup.
func tcpPair(t testing.TB) (dialer, acceptor net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Closed only at the end of the test, so that every pair of a test has
	// its own port (tests count log lines per dialed address).
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- nc
	}()
	d, err := net.DialTimeout("tcp", ln.Addr().String(), authTimeout)
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		d.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

// handshakes runs hsD on the dialer's end and hsA on the acceptor's end
// of a new connection at once, each closing its end when it fails (as the
// transport does), and returns both results.
func handshakes(t testing.TB, hsD, hsA func(net.Conn, bool) error) (errD, errA error) {
	t.Helper()
	d, a := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		err := hsA(a, false)
		if err != nil {
			a.Close()
		}
		done <- err
	}()
	errD = hsD(d, true)
	if errD != nil {
		d.Close()
	}
	return errD, <-done
}

func newHS(t testing.TB, cfg AuthConfig) func(net.Conn, bool) error {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = authTimeout
	}
	hs, err := NewSecretHandshake(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// secretHS is the secret handshake with secret and the tests' timeout,
// logging nothing. It panics if secret is empty.
func secretHS(secret []byte) func(net.Conn, bool) error {
	hs, err := NewSecretHandshake(AuthConfig{Secret: secret, Timeout: authTimeout})
	if err != nil {
		panic(err)
	}
	return hs
}

func TestSecretHandshakeRightSecret(t *testing.T) {
	secret := []byte("correct horse battery staple")
	for range 20 {
		errD, errA := handshakes(t, secretHS(secret), secretHS(bytes.Clone(secret)))
		if errD != nil || errA != nil {
			t.Fatalf("same secret: dialer %v, acceptor %v", errD, errA)
		}
	}
}

func TestSecretHandshakeWrongSecretBothWays(t *testing.T) {
	for _, tc := range []struct{ name, dialer, acceptor string }{
		{"a dials b", "secret-a", "secret-b"},
		{"b dials a", "secret-b", "secret-a"},
		{"prefix", "secret", "secret-a"},
		{"one byte", "secret-a", "secret-a\x00"},
	} {
		errD, errA := handshakes(t, secretHS([]byte(tc.dialer)), secretHS([]byte(tc.acceptor)))
		if !errors.Is(errD, ErrSecretMismatch) || !errors.Is(errA, ErrSecretMismatch) {
			t.Errorf("%s: dialer %v, acceptor %v; want both %v", tc.name, errD, errA, ErrSecretMismatch)
		}
		if !errors.Is(errD, ErrAuth) || !errors.Is(errA, ErrAuth) {
			t.Errorf("%s: errors do not match ErrAuth", tc.name)
		}
		if !strings.Contains(errD.Error(), "refused: cluster secret mismatch") {
			t.Errorf("%s: dialer error %q does not say it was refused for the secret", tc.name, errD)
		}
	}
}

// TestSecretHandshakeDialerProvesNothingFirst plays an acceptor without the
// secret: the dialer must not send it a valid proof it could use.
func TestSecretHandshakeDialerProvesNothingFirst(t *testing.T) {
	secret := []byte("s3cret")
	d, a := tcpPair(t)
	errc := make(chan error, 1)
	go func() { errc <- secretHS(secret)(d, true) }()
	helloD := readHello(t, a)
	fake := &auth{secret: []byte("guess"), name: "impostor"}
	helloA := fake.hello()
	if _, err := a.Write(append(helloA, fake.proof(labelAcceptor, helloD, helloA)...)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, proofLen)
	if _, err := io.ReadFull(a, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, proofLen)) {
		t.Fatalf("the dialer sent a proof (% x) to an acceptor that did not prove the secret", got)
	}
	if err := <-errc; !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("dialer: %v, want %v", err, ErrSecretMismatch)
	}
}

// readHello reads one hello from nc.
func readHello(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	h, err := readHelloErr(nc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readHelloErr(nc net.Conn) ([]byte, error) {
	c := &authConn{nc: nc, deadline: time.Now().Add(authTimeout)}
	head := make([]byte, len(authMagic))
	if err := c.read(head); err != nil {
		return nil, err
	}
	h, _, err := c.readHelloRest(head)
	return h, err
}

// TestSecretHandshakeNoReplay records a successful dialer's messages and
// replays them on a new connection: the acceptor's fresh nonce makes the
// recorded proof worthless.
func TestSecretHandshakeNoReplay(t *testing.T) {
	secret := []byte("s3cret")
	// Record a dialer's hello and proof against a real acceptor.
	d, a := tcpPair(t)
	accErr := make(chan error, 1)
	go func() { accErr <- secretHS(secret)(a, false) }()
	dialer := &auth{secret: authKey(secret), name: "recorded"}
	helloD := dialer.hello()
	d.Write(helloD)
	helloA := readHello(t, d)
	proofA := make([]byte, proofLen)
	io.ReadFull(d, proofA)
	proofD := dialer.proof(labelDialer, helloD, helloA)
	d.Write(proofD)
	if err := <-accErr; err != nil {
		t.Fatalf("recording: %v", err)
	}
	// Replay both to a new acceptor.
	d2, a2 := tcpPair(t)
	go func() { accErr <- secretHS(secret)(a2, false) }()
	d2.Write(helloD)
	readHello(t, d2)
	io.ReadFull(d2, make([]byte, proofLen))
	d2.Write(proofD)
	verdict := make([]byte, 1)
	d2.SetReadDeadline(time.Now().Add(authTimeout))
	if _, err := io.ReadFull(d2, verdict); err != nil || verdict[0] != verdictRefused {
		t.Fatalf("replayed proof: verdict % x, %v; want refused", verdict, err)
	}
	if err := <-accErr; !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("acceptor of a replay: %v, want %v", err, ErrSecretMismatch)
	}
}

// TestSecretHandshakeReflection sends the acceptor's own proof back as the
// dialer's: roles differ, so it fails.
func TestSecretHandshakeReflection(t *testing.T) {
	d, a := tcpPair(t)
	accErr := make(chan error, 1)
	go func() { accErr <- secretHS([]byte("s3cret"))(a, false) }()
	d.Write((&auth{name: "mirror"}).hello())
	readHello(t, d)
	proofA := make([]byte, proofLen)
	io.ReadFull(d, proofA)
	d.Write(proofA)
	if err := <-accErr; !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("reflected proof: %v, want %v", err, ErrSecretMismatch)
	}
}

// TestSecretHandshakeNoSecretPeer covers a node without --cluster-secret
// meeting one with it, both ways.
func TestSecretHandshakeNoSecretPeer(t *testing.T) {
	t.Run("frames to a secret acceptor", func(t *testing.T) {
		d, a := tcpPair(t)
		accErr := make(chan error, 1)
		go func() { accErr <- secretHS([]byte("s3cret"))(a, false) }()
		body, _ := wire.Encode(&wire.Hello{Self: wire.Member{ID: 4}})
		d.Write(wire.AppendFrame(nil, wire.Header{Type: wire.TypeHello, ID: 77, From: 4, Term: 1}, body))
		if err := <-accErr; !errors.Is(err, ErrNoSecret) || !errors.Is(err, ErrAuth) {
			t.Fatalf("acceptor: %v, want %v", err, ErrNoSecret)
		}
		// The node without a secret gets a "refused" answer to its request,
		// which it logs.
		d.SetReadDeadline(time.Now().Add(authTimeout))
		h, rb, err := wire.ReadFrame(d, wire.DefaultMaxFrame)
		if err != nil {
			t.Fatal(err)
		}
		env, err := decodeReply(h, rb)
		if h.ID != 77 || h.Flags&wire.FlagResponse == 0 || !errors.Is(err, wire.ErrRefused) ||
			!strings.Contains(err.Error(), "cluster secret mismatch") {
			t.Fatalf("answer to an unauthenticated frame: %+v %+v %v", h, env, err)
		}
	})
	t.Run("secret dialer to a plain acceptor", func(t *testing.T) {
		d, a := tcpPair(t)
		go func() {
			// What a transport without a handshake does: read a frame,
			// find it malformed, close.
			_, _, _ = wire.ReadFrame(a, wire.DefaultMaxFrame)
			a.Close()
		}()
		err := secretHS([]byte("s3cret"))(d, true)
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "--cluster-secret") {
			t.Fatalf("dialer: %v", err)
		}
	})
}

// TestSecretHandshakeHostileBytes feeds garbage and truncated messages to
// each side; every case fails with ErrAuth well before the timeout.
func TestSecretHandshakeHostileBytes(t *testing.T) {
	secret := []byte("s3cret")
	good := (&auth{secret: secret, name: "x"}).hello()
	badVersion := bytes.Clone(good)
	badVersion[len(authMagic)] = AuthVersion + 1
	nameCut := bytes.Clone(good[:helloFixedLen])
	nameCut[helloFixedLen-1] = 200 // claims a 200-byte name, sends none
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrNotHandshake},
		{"length 0xFFFFFFFF", []byte{0xff, 0xff, 0xff, 0xff, 0, 0}, ErrNotHandshake},
		{"zero bytes", []byte{0, 0, 0, 0}, ErrNotHandshake},
		{"empty", nil, ErrAuth},
		{"magic only", authMagic[:], ErrAuth},
		{"half a hello", good[:20], ErrAuth},
		{"name cut", nameCut, ErrAuth},
		{"bad version", badVersion, ErrAuthVersion},
		{"hello then garbage proof", append(bytes.Clone(good), bytes.Repeat([]byte{0xaa}, proofLen)...), ErrSecretMismatch},
		{"hello then half a proof", append(bytes.Clone(good), 1, 2, 3), ErrAuth},
		{"truncated frame", wire.AppendFrame(nil, wire.Header{Type: wire.TypeHello, ID: 1}, []byte{0x80})[:10], ErrAuth},
		{"frame of unknown type", wire.AppendFrame(nil, wire.Header{Type: 0xee, ID: 1}, []byte{0x80}), ErrAuth},
	}
	for _, tc := range cases {
		t.Run("to acceptor/"+tc.name, func(t *testing.T) {
			d, a := tcpPair(t)
			start := time.Now()
			accErr := make(chan error, 1)
			go func() { accErr <- secretHS(secret)(a, false) }()
			d.Write(tc.data)
			d.(*net.TCPConn).CloseWrite()
			err := <-accErr
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrAuth) {
				t.Fatalf("acceptor: %v, want %v", err, tc.want)
			}
			if took := time.Since(start); took > authTimeout/2 {
				t.Fatalf("acceptor took %v to refuse", took)
			}
		})
		t.Run("to dialer/"+tc.name, func(t *testing.T) {
			d, a := tcpPair(t)
			start := time.Now()
			dialErr := make(chan error, 1)
			go func() { dialErr <- secretHS(secret)(d, true) }()
			readHello(t, a)
			a.Write(tc.data)
			a.(*net.TCPConn).CloseWrite()
			err := <-dialErr
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("dialer: %v, want ErrAuth", err)
			}
			if took := time.Since(start); took > authTimeout/2 {
				t.Fatalf("dialer took %v to give up", took)
			}
		})
	}
}

// TestSecretHandshakeTimeouts checks that a silent or trickling peer holds
// a handshake no longer than its timeout, on both sides.
func TestSecretHandshakeTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	hs := newHS(t, AuthConfig{Secret: []byte("s3cret"), Timeout: timeout})
	good := (&auth{secret: []byte("s3cret")}).hello()
	for _, tc := range []struct {
		name   string
		dialer bool
		peer   func(nc net.Conn, stop <-chan struct{})
	}{
		{"silent dialer", false, func(net.Conn, <-chan struct{}) {}},
		{"silent acceptor", true, func(net.Conn, <-chan struct{}) {}},
		{"dialer stops after its hello", false, func(nc net.Conn, _ <-chan struct{}) { nc.Write(good) }},
		{"acceptor stops after reading a hello", true, func(nc net.Conn, _ <-chan struct{}) { readHelloErr(nc) }},
		{"dialer trickles its hello", false, func(nc net.Conn, stop <-chan struct{}) {
			tick := time.NewTicker(timeout / 10)
			defer tick.Stop()
			for i := range good {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := nc.Write(good[i : i+1]); err != nil {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a := tcpPair(t)
			own, other := a, d
			if tc.dialer {
				own, other = d, a
			}
			stop := make(chan struct{})
			defer close(stop)
			go tc.peer(other, stop)
			start := time.Now()
			err := hs(own, tc.dialer)
			took := time.Since(start)
			if !errors.Is(err, ErrAuth) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%v, want a deadline error matching ErrAuth", err)
			}
			if took < timeout-50*time.Millisecond || took > timeout+2*time.Second {
				t.Fatalf("gave up after %v; the timeout is %v", took, timeout)
			}
		})
	}
}

func TestNewSecretHandshakeConfig(t *testing.T) {
	if _, err := NewSecretHandshake(AuthConfig{}); err == nil {
		t.Error("an empty secret was accepted")
	}
	if _, err := NewSecretHandshake(AuthConfig{Secret: []byte("x"), Timeout: -1}); err == nil {
		t.Error("a negative timeout was accepted")
	}
}

// allRecorder is a slog.Handler that keeps every record.
type allRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *allRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *allRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *allRecorder) WithGroup(string) slog.Handler            { return r }
func (r *allRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}

func (r *allRecorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		out = append(out, rec.Level.String()+" "+rec.Message)
	}
	return out
}

// TestSecretHandshakeLogsOncePerPeer repeats a refused handshake: each side
// logs it once, clearly, until LogEvery passes; another peer gets its own
// line.
func TestSecretHandshakeLogsOncePerPeer(t *testing.T) {
	var dl, al allRecorder
	acc := newHS(t, AuthConfig{Secret: []byte("right"), Name: "good-node", Logger: slog.New(&al)})
	bad := newHS(t, AuthConfig{Secret: []byte("wrong"), Name: "bad-node", Logger: slog.New(&dl)})
	for range 20 {
		if errD, errA := handshakes(t, bad, acc); errD == nil || errA == nil {
			t.Fatal("a wrong secret was accepted")
		}
	}
	// (Each handshake dials a new port, so the dialer keys by the address
	// it dialed: 20 acceptors here, one line each.)
	am := al.messages()
	if len(am) != 1 || !strings.Contains(am[0], "WARN refusing peer connection: cluster secret mismatch") {
		t.Fatalf("acceptor logged %q, want one refusal", am)
	}
	dm := dl.messages()
	if len(dm) != 20 {
		t.Fatalf("dialer logged %d lines for 20 acceptors: %q", len(dm), dm)
	}
	for _, m := range dm {
		if m != "ERROR peer refused: cluster secret mismatch" {
			t.Fatalf("dialer logged %q", m)
		}
	}
	other := newHS(t, AuthConfig{Secret: []byte("other"), Name: "other-node"})
	handshakes(t, other, acc)
	if am := al.messages(); len(am) != 2 {
		t.Fatalf("a second peer: acceptor logged %q, want a second line", am)
	}
}

// TestTCPSecretHandshake runs the handshake in TCP transports: nodes with
// the secret talk; one with another secret, or none, never reaches a
// handler, and learns why.
func TestTCPSecretHandshake(t *testing.T) {
	var served atomic.Int64
	handler := HandlerFunc(func(ctx context.Context, req Envelope) (wire.Message, error) {
		served.Add(1)
		return &wire.OK{}, nil
	})
	node := func(id uint64, secret string) *TCP {
		cfg := testTCPConfig(fixedStamp(id, 1), nil)
		if secret != "" {
			cfg.Handshake = secretHS([]byte(secret))
		}
		return listenTCP(t, cfg, handler)
	}
	a, b := node(1, "s3cret"), node(2, "s3cret")
	ctx := callCtx(t)
	if _, err := a.Call(ctx, b.Addr(), &wire.Resign{}); err != nil {
		t.Fatalf("same secret: %v", err)
	}
	if _, err := b.Call(ctx, a.Addr(), &wire.Resign{}); err != nil {
		t.Fatalf("same secret, other way: %v", err)
	}
	if served.Load() != 2 {
		t.Fatalf("served %d", served.Load())
	}
	wrong, none := node(3, "guess"), node(4, "")
	for _, c := range []struct {
		name     string
		from, to *TCP
		want     []error
	}{
		{"wrong secret dials", wrong, a, []error{wire.ErrUnreachable, ErrSecretMismatch}},
		{"dialed by a wrong secret", a, wrong, []error{wire.ErrUnreachable, ErrSecretMismatch}},
		{"no secret dials", none, a, []error{wire.ErrRefused}},
		{"dialed by no secret", a, none, []error{wire.ErrUnreachable, ErrAuth}},
	} {
		_, err := c.from.Call(ctx, c.to.Addr(), &wire.Resign{})
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", c.name, err, w)
			}
		}
		if err != nil && c.from != a && !strings.Contains(err.Error(), "cluster secret") {
			t.Errorf("%s: the refused node's error %q does not say why", c.name, err)
		}
	}
	if served.Load() != 2 {
		t.Fatalf("handlers served %d requests; unauthenticated ones must never reach them", served.Load())
	}
}

// TestTCPFramesAfterFailedHandshakeNeverServed completes a handshake with a
// wrong secret by hand, then sends valid frames anyway: the connection is
// closed and no frame reaches the handler.
func TestTCPFramesAfterFailedHandshakeNeverServed(t *testing.T) {
	var served atomic.Int64
	cfg := testTCPConfig(fixedStamp(1, 1), nil)
	cfg.Handshake = secretHS([]byte("s3cret"))
	srv := listenTCP(t, cfg, HandlerFunc(func(context.Context, Envelope) (wire.Message, error) {
		served.Add(1)
		return nil, nil
	}))
	frame := wire.AppendFrame(nil, wire.Header{Type: wire.TypeResign, ID: 1, From: 9, Term: 1}, []byte{0x80})
	for _, tc := range []struct {
		name string
		send func(nc net.Conn)
	}{
		{"frames only", func(nc net.Conn) {}},
		{"wrong proof", func(nc net.Conn) {
			impostor := &auth{secret: []byte("guess")}
			h := impostor.hello()
			nc.Write(h)
			helloA := readHello(t, nc)
			io.ReadFull(nc, make([]byte, proofLen))
			nc.Write(impostor.proof(labelDialer, h, helloA))
		}},
		{"no proof", func(nc net.Conn) {
			nc.Write((&auth{}).hello())
		}},
	} {
		nc, err := net.DialTimeout("tcp", srv.Addr(), authTimeout)
		if err != nil {
			t.Fatal(err)
		}
		tc.send(nc)
		for range 10 {
			nc.Write(frame)
		}
		nc.SetReadDeadline(time.Now().Add(2 * authTimeout))
		io.Copy(io.Discard, nc) // until the server closes it
		nc.Close()
	}
	waitFor(t, "server connections to end", func() bool { return liveConns(srv) == 0 })
	if n := served.Load(); n != 0 {
		t.Fatalf("the handler served %d frames from unauthenticated connections", n)
	}
}

func TestSecretHandshakeConcurrent(t *testing.T) {
	hs := secretHS([]byte("s3cret"))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 32 {
		d, a := tcpPair(t)
		wg.Go(func() { errs <- hs(a, false) })
		wg.Go(func() { errs <- hs(d, true) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
