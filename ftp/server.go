package ftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	server "goftp.io/server/v2"

	"github.com/jumpkv/jumpkv/files"
)

// Server is one node's FTP server.
type Server struct {
	cfg  Config
	fs   *files.FS
	ftp  *server.Server
	pool *portPool
	log  *slog.Logger

	ctx    context.Context // cancelled by Close: ends the file operations in flight
	cancel context.CancelFunc

	mu       sync.Mutex // guards the fields below
	sessions map[string]*session
	ln       net.Listener
	closed   bool
	conns    sync.WaitGroup // control connections goftp has not closed yet
}

// New returns a server; Serve runs it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, fs: cfg.Files, log: log, sessions: map[string]*session{},
		pool: &portPool{lo: cfg.PassiveLow, hi: cfg.PassiveHigh, used: map[int]bool{}}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	f, err := server.NewServer(&server.Options{
		Driver:         &driver{s: s},
		Auth:           &authenticator{s: s},
		Perm:           server.NewSimplePerm("jumpkv", "jumpkv"),
		Name:           "jumpkv",
		WelcomeMessage: "jumpkv FTP: every node serves the same tree",
		Logger:         &logAdapter{log: log},
		Commands:       s.commands(),
	})
	if err != nil {
		return nil, err
	}
	s.ftp = f
	return s, nil
}

// Serve serves FTP on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	err := s.ftp.Serve(&listener{Listener: ln, s: s})
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// Close stops taking connections, closes every session and its data
// connection, ends the file operations in flight and waits for the
// sessions to end. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	sessions := make([]*session, 0, len(s.sessions))
	for _, st := range s.sessions {
		sessions = append(sessions, st)
	}
	s.mu.Unlock()
	s.cancel()
	if ln != nil {
		_ = ln.Close()
	}
	for _, st := range sessions {
		_ = st.ctrl.Conn.Close() // goftp's loop ends and closes the session
		st.end(s.pool)
	}
	s.conns.Wait()
	return nil
}

// register admits a new control connection, or reports false past
// MaxConns or after Close.
func (s *Server) register(c net.Conn) (*ctrlConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.sessions) >= s.cfg.MaxConns {
		return nil, false
	}
	cc := &ctrlConn{Conn: c, s: s}
	st := &session{ctrl: cc, client: remoteIP(c)}
	cc.st = st
	key := c.RemoteAddr().String()
	s.sessions[key] = st
	s.conns.Add(1)
	cc.onClose = func() {
		s.mu.Lock()
		delete(s.sessions, key)
		s.mu.Unlock()
		st.end(s.pool)
		s.conns.Done()
	}
	return cc, true
}

// sessionOf returns this package's state of a goftp session.
func (s *Server) sessionOf(sess *server.Session) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.sessions[sess.RemoteAddr().String()]; st != nil {
		return st
	}
	return &session{ended: true} // closed meanwhile: a session that refuses everything
}

// Sessions returns the number of control connections open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// logAdapter sends goftp's log to slog at debug level, passwords hidden.
type logAdapter struct{ log *slog.Logger }

func (l *logAdapter) Print(id string, msg any) {
	l.log.Debug("ftp", "session", id, "msg", fmt.Sprint(msg))
}
func (l *logAdapter) Printf(id, format string, v ...any) {
	l.log.Debug("ftp", "session", id, "msg", fmt.Sprintf(format, v...))
}
func (l *logAdapter) PrintCommand(id, cmd, params string) {
	if cmd == "PASS" {
		params = "****"
	}
	l.log.Debug("ftp command", "session", id, "cmd", cmd, "params", params)
}
func (l *logAdapter) PrintResponse(id string, code int, msg string) {
	l.log.Debug("ftp reply", "session", id, "code", code, "msg", msg)
}

// authenticator checks logins against the guard (any login without one).
type authenticator struct{ s *Server }

func (a *authenticator) CheckPasswd(ctx *server.Context, name, password string) (bool, error) {
	st := a.s.sessionOf(ctx.Sess)
	if a.s.cfg.Guard == nil {
		return !st.ended, nil
	}
	u, err := a.s.cfg.Guard.Login(clientKey(ctx.Sess), name, password)
	if err != nil {
		a.s.log.Info("ftp login refused", "user", name, "remote", ctx.Sess.RemoteAddr().String(), "err", err)
		return false, nil // 530
	}
	st.user = u
	return true, nil
}

var errClosed = errors.New("ftp: server closed")
