package main

import (
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/jumpkv/jumpkv/auth"
)

// reloadOnHangup re-reads the users file at path into users on every
// SIGHUP until the returned stop is called (safe to call twice). A bad
// file keeps the users as they were; either way the outcome is logged,
// with the file's error (which names a line, never a hash or password).
// Without a users file (users nil) a SIGHUP is logged and ignored: left to
// Go's default it would end the process without a handoff, and a service
// manager's reload would take the node down.
func reloadOnHangup(path string, users *auth.Users, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if users == nil {
					log.Info("SIGHUP: nothing to reload (no --users file)")
					continue
				}
				if err := users.Reload(path); err != nil {
					log.Error("SIGHUP: users file not reloaded: keeping the previous users", "path", path, "err", err)
					continue
				}
				log.Info("SIGHUP: users file reloaded", "path", path, "users", users.Len())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(hup)
			close(done)
			<-finished
		})
	}
}

// logClientAuth says at start whether clients must authenticate, and
// warns when they need not and the HTTP listener reaches beyond loopback.
func logClientAuth(log *slog.Logger, guard *auth.Guard, usersFile string, httpAddr net.Addr) {
	switch {
	case guard != nil:
		log.Info("client authentication on", "users_file", usersFile, "users", guard.Users().Len())
	case !loopbackOnly(httpAddr):
		log.Warn("no --users: any client that reaches the HTTP port can read, write and delete every key; "+
			"start the node with --users FILE to require credentials (see docs/security.md)", "http", httpAddr.String())
	}
}

// loopbackOnly reports whether a listener's address is reachable only
// from this host (127.0.0.0/8 or ::1); an unspecified address (:8080)
// listens on every interface.
func loopbackOnly(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
