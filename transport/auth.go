package transport

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/jumpkv/jumpkv/internal/ratelog"
	"github.com/jumpkv/jumpkv/wire"
)

// The secret handshake proves, in both directions, that the two ends of a
// new peer connection hold the same cluster secret, before any frame flows.
// It runs as TCPConfig.Handshake. The dialer speaks first:
//
//	dialer   → acceptor  hello_d
//	acceptor → dialer    hello_a | proof_a
//	dialer   → acceptor  proof_d
//	acceptor → dialer    verdict (1 byte: 1 accepted, 0 refused)
//
//	hello   = "JKVH" | version (1 byte) | nonce (32 random bytes) | name length (1 byte) | name
//	proof_a = HMAC-SHA256(key, "jumpkv auth v1 acceptor" | hello_d | hello_a)
//	proof_d = HMAC-SHA256(key, "jumpkv auth v1 dialer" | hello_d | hello_a)
//	key     = SHA-256(secret)
//
// Each proof covers both fresh nonces (so it cannot be replayed on another
// connection) and its role (so a side cannot reflect the other's proof back).
// The dialer checks proof_a before it proves anything: to an acceptor that
// failed to prove the secret it sends 32 zero bytes instead of proof_d.
// Proofs are compared with hmac.Equal. The name is the sender's advertised
// address, unauthenticated, used only to say who was refused in logs.
//
// The handshake authenticates the two ends of a connection, not each frame:
// it keeps out nodes without the secret, not an attacker on the network path
// who can rewrite a connection after its handshake.

// AuthVersion is the version byte of the secret handshake.
const AuthVersion = 1

// authMagic opens every hello. Its first byte is far from the first byte of
// a frame's length (frames are at most a few megabytes, so that byte is 0
// or 1), which tells a peer that sends frames without authenticating from
// one that runs the handshake.
var authMagic = [4]byte{'J', 'K', 'V', 'H'}

const (
	nonceLen      = 32
	proofLen      = sha256.Size
	helloFixedLen = len(authMagic) + 1 + nonceLen + 1
	maxAuthName   = 255
	// maxRefusedFrame bounds the frame an acceptor reads from a peer that
	// sent frames without authenticating, to answer it with an error.
	maxRefusedFrame = 64 << 10

	labelAcceptor = "jumpkv auth v1 acceptor"
	labelDialer   = "jumpkv auth v1 dialer"

	verdictRefused  = 0
	verdictAccepted = 1
)

// Errors of the secret handshake. Every error it returns matches ErrAuth
// (errors.Is), and the more specific of these where one applies.
var (
	ErrAuth error = authError("peer authentication failed")
	// ErrSecretMismatch: the peer proved a different secret, or refused
	// this node's proof.
	ErrSecretMismatch error = authError("cluster secret mismatch")
	// ErrNoSecret: the peer sent frames without authenticating, as a node
	// started without --cluster-secret does.
	ErrNoSecret error = authError("cluster secret mismatch: the peer sent frames without authenticating (it has no --cluster-secret)")
	// ErrNotHandshake: the peer's bytes are neither a handshake nor a frame.
	ErrNotHandshake error = authError("not a jumpkv authentication handshake")
	// ErrAuthVersion: the peer speaks another version of the handshake.
	ErrAuthVersion error = authError("unsupported authentication handshake version")
)

// authError is a sentinel of the handshake; each matches ErrAuth.
type authError string

func (e authError) Error() string        { return string(e) }
func (e authError) Is(target error) bool { return target == ErrAuth }

// AuthConfig configures the secret handshake.
type AuthConfig struct {
	// Secret is the cluster secret; it must not be empty.
	Secret []byte
	// Timeout bounds the whole handshake: every read and write runs under
	// one deadline this long after the start. Zero means 5s.
	Timeout time.Duration
	// Name is sent to peers so their logs can say who was refused (for
	// instance this node's advertised peer address); it proves nothing and
	// is cut to 255 bytes.
	Name string
	// Logger receives refusals, both ways, at most once per peer and reason
	// every LogEvery (with a count of those left out). Nil logs nothing.
	Logger *slog.Logger
	// LogEvery is the least time between two log lines about the same peer
	// and reason. Zero means one minute.
	LogEvery time.Duration
}

// NewSecretHandshake returns a TCPConfig.Handshake that runs the secret
// handshake described by cfg. The returned function is safe for concurrent
// use; an error it returns wraps ErrAuth, and a connection it fails must be
// closed without reading a frame from it.
func NewSecretHandshake(cfg AuthConfig) (func(net.Conn, bool) error, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("transport: the cluster secret is empty")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("transport: handshake timeout %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	name := cfg.Name
	if len(name) > maxAuthName {
		name = name[:maxAuthName]
	}
	a := &auth{
		secret:  authKey(cfg.Secret),
		timeout: cfg.Timeout,
		name:    name,
		log:     ratelog.New(cfg.Logger, cfg.LogEvery),
	}
	return a.handshake, nil
}

// authKey derives the HMAC key from the secret. HMAC itself treats keys
// that differ only in trailing zero bytes (and a long key and its hash) as
// the same key; hashing the secret first keeps every secret distinct.
func authKey(secret []byte) []byte {
	k := sha256.Sum256(secret)
	return k[:]
}

// auth holds one node's handshake settings.
type auth struct {
	secret  []byte // the HMAC key, authKey(the cluster secret)
	timeout time.Duration
	name    string
	log     *ratelog.Logger
}

// authConn is one handshake's connection with its deadline.
type authConn struct {
	nc       net.Conn
	deadline time.Time
}

func (c *authConn) read(buf []byte) error {
	if err := c.nc.SetReadDeadline(c.deadline); err != nil {
		return err
	}
	_, err := io.ReadFull(c.nc, buf)
	return err
}

func (c *authConn) write(buf []byte) error {
	if err := c.nc.SetWriteDeadline(c.deadline); err != nil {
		return err
	}
	_, err := c.nc.Write(buf)
	return err
}

func (a *auth) handshake(nc net.Conn, dialer bool) error {
	c := &authConn{nc: nc, deadline: time.Now().Add(a.timeout)}
	if dialer {
		return a.dial(c)
	}
	return a.accept(c)
}

// hello returns a fresh hello carrying this node's name.
func (a *auth) hello() []byte {
	b := make([]byte, 0, helloFixedLen+len(a.name))
	b = append(b, authMagic[:]...)
	b = append(b, AuthVersion)
	var nonce [nonceLen]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	b = append(b, nonce[:]...)
	b = append(b, byte(len(a.name)))
	return append(b, a.name...)
}

// proof returns the proof of role for the two hellos.
func (a *auth) proof(label string, helloD, helloA []byte) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(label))
	m.Write(helloD)
	m.Write(helloA)
	return m.Sum(nil)
}

// readHelloRest reads the rest of a hello whose first four bytes (the
// magic) are in head, and returns the whole hello and the name in it.
func (c *authConn) readHelloRest(head []byte) (hello []byte, name string, err error) {
	hello = make([]byte, helloFixedLen, helloFixedLen+maxAuthName)
	copy(hello, head)
	if err := c.read(hello[len(head):]); err != nil {
		return nil, "", err
	}
	n := int(hello[helloFixedLen-1])
	hello = hello[:helloFixedLen+n]
	if err := c.read(hello[helloFixedLen:]); err != nil {
		return nil, "", err
	}
	return hello, string(hello[helloFixedLen:]), nil
}

// dial runs the dialer's side.
func (a *auth) dial(c *authConn) error {
	remote := c.nc.RemoteAddr().String()
	fail := func(reason string, err error, level slog.Level, msg string, attrs ...any) error {
		a.log.Log("dial "+reason+" "+remote, level, msg, append([]any{"peer", remote, "err", err}, attrs...)...)
		return err
	}
	helloD := a.hello()
	if err := c.write(helloD); err != nil {
		return fail("io", fmt.Errorf("%w: sending hello to %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	head := make([]byte, len(authMagic))
	if err := c.read(head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return fail("closed", fmt.Errorf("%w: peer %s closed the connection without answering the handshake (does it run without --cluster-secret?): %w",
				ErrAuth, remote, err), slog.LevelWarn,
				"peer refused the authentication handshake: it closed the connection (it may run without --cluster-secret)")
		}
		return fail("io", fmt.Errorf("%w: reading hello from %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	if !bytes.Equal(head, authMagic[:]) {
		return fail("garbage", fmt.Errorf("%w: peer %s answered % x", ErrNotHandshake, remote, head), slog.LevelError,
			"peer refused: it does not speak the jumpkv authentication handshake")
	}
	helloA, name, err := c.readHelloRest(head)
	if err != nil {
		return fail("io", fmt.Errorf("%w: reading hello from %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	if v := helloA[len(authMagic)]; v != AuthVersion {
		return fail("version", fmt.Errorf("%w: peer %s speaks version %d, this node %d", ErrAuthVersion, remote, v, AuthVersion),
			slog.LevelError, "peer refused: another version of the authentication handshake")
	}
	proofA := make([]byte, proofLen)
	if err := c.read(proofA); err != nil {
		return fail("io", fmt.Errorf("%w: reading proof from %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	if !hmac.Equal(proofA, a.proof(labelAcceptor, helloD, helloA)) {
		// Prove nothing to a peer that did not prove the secret.
		_ = c.write(make([]byte, proofLen))
		return fail("mismatch", fmt.Errorf("peer %s refused: %w (its proof does not match this node's --cluster-secret)",
			remote, ErrSecretMismatch), slog.LevelError, "peer refused: cluster secret mismatch",
			"peer_name", name)
	}
	if err := c.write(a.proof(labelDialer, helloD, helloA)); err != nil {
		return fail("io", fmt.Errorf("%w: sending proof to %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	verdict := make([]byte, 1)
	if err := c.read(verdict); err != nil {
		return fail("io", fmt.Errorf("%w: reading verdict from %s: %w", ErrAuth, remote, err), slog.LevelWarn,
			"peer authentication failed")
	}
	if verdict[0] != verdictAccepted {
		return fail("mismatch", fmt.Errorf("peer %s refused: %w (it did not accept this node's proof)", remote, ErrSecretMismatch),
			slog.LevelError, "peer refused: cluster secret mismatch", "peer_name", name)
	}
	return nil
}

// accept runs the acceptor's side.
func (a *auth) accept(c *authConn) error {
	remote := c.nc.RemoteAddr().String()
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	name := ""
	fail := func(reason string, err error, msg string) error {
		attrs := []any{"remote", remote}
		if name != "" {
			attrs = append(attrs, "peer_name", name)
		}
		a.log.Log("accept "+reason+" "+host+" "+name, slog.LevelWarn, msg, append(attrs, "err", err)...)
		return err
	}
	head := make([]byte, len(authMagic))
	if err := c.read(head); err != nil {
		return fail("io", fmt.Errorf("%w: reading hello from %s: %w", ErrAuth, remote, err),
			"refusing peer connection: no authentication handshake")
	}
	if !bytes.Equal(head, authMagic[:]) {
		if c.answerUnauthenticated(head) {
			return fail("nosecret", fmt.Errorf("%w: from %s", ErrNoSecret, remote),
				"refusing peer connection: cluster secret mismatch (the peer sent frames without authenticating: it runs without --cluster-secret)")
		}
		return fail("garbage", fmt.Errorf("%w: from %s, starting % x", ErrNotHandshake, remote, head),
			"refusing peer connection: not a jumpkv authentication handshake")
	}
	helloD, claimed, err := c.readHelloRest(head)
	if err != nil {
		return fail("io", fmt.Errorf("%w: reading hello from %s: %w", ErrAuth, remote, err),
			"refusing peer connection: authentication handshake failed")
	}
	name = claimed
	helloA := a.hello()
	if v := helloD[len(authMagic)]; v != AuthVersion {
		// Say which version this node speaks, then close.
		_ = c.write(append(helloA, make([]byte, proofLen)...))
		return fail("version", fmt.Errorf("%w: peer %s speaks version %d, this node %d", ErrAuthVersion, remote, v, AuthVersion),
			"refusing peer connection: another version of the authentication handshake")
	}
	if err := c.write(append(helloA, a.proof(labelAcceptor, helloD, helloA)...)); err != nil {
		return fail("io", fmt.Errorf("%w: sending hello to %s: %w", ErrAuth, remote, err),
			"refusing peer connection: authentication handshake failed")
	}
	proofD := make([]byte, proofLen)
	if err := c.read(proofD); err != nil {
		return fail("io", fmt.Errorf("%w: reading proof from %s: %w", ErrAuth, remote, err),
			"refusing peer connection: authentication handshake failed")
	}
	if !hmac.Equal(proofD, a.proof(labelDialer, helloD, helloA)) {
		_ = c.write([]byte{verdictRefused})
		return fail("mismatch", fmt.Errorf("%w: peer %s did not prove this node's --cluster-secret", ErrSecretMismatch, remote),
			"refusing peer connection: cluster secret mismatch")
	}
	if err := c.write([]byte{verdictAccepted}); err != nil {
		return fail("io", fmt.Errorf("%w: sending verdict to %s: %w", ErrAuth, remote, err),
			"refusing peer connection: authentication handshake failed")
	}
	return nil
}

// answerUnauthenticated handles a connection whose first four bytes (head)
// are not the magic. If they start a request frame, as from a node without
// --cluster-secret, it reads that frame and answers it with a "refused"
// error, so that the other node can say why it cannot join; it reports
// whether head started a frame. The frame itself is never handled.
func (c *authConn) answerUnauthenticated(head []byte) bool {
	n := binary.BigEndian.Uint32(head)
	if n < wire.HeaderLen || n > wire.DefaultMaxFrame {
		return false
	}
	if n > maxRefusedFrame {
		return true // a frame, but too large to read just to refuse it
	}
	if err := c.nc.SetReadDeadline(c.deadline); err != nil {
		return true
	}
	h, _, err := wire.ReadFrame(io.MultiReader(bytes.NewReader(head), c.nc), maxRefusedFrame)
	if err != nil || h.Flags&wire.FlagResponse != 0 {
		return err == nil || !errors.Is(err, wire.ErrBadFrame)
	}
	msg := &wire.ErrorMsg{
		Code: wire.CodeOf(wire.ErrRefused),
		Message: fmt.Sprintf("peer %s refused: cluster secret mismatch: this cluster requires --cluster-secret and this node sent frames without one",
			c.nc.LocalAddr()),
	}
	body, err := wire.Encode(msg)
	if err != nil {
		return true
	}
	_ = c.write(wire.AppendFrame(nil, wire.Header{Type: msg.WireType(), Flags: wire.FlagResponse, ID: h.ID}, body))
	return true
}
