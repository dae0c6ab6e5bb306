package ftp

import (
	"fmt"
	"strings"

	server "goftp.io/server/v2"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/wire"
)

func clientKey(sess *server.Session) string { return auth.ClientKey(sess.RemoteAddr().String()) }

// errDenied wraps wire.ErrForbidden with the reason.
func denied(st *session, what string) error {
	u := st.user
	switch {
	case u == nil:
		return fmt.Errorf("%w: not logged in", wire.ErrForbidden)
	case strings.Contains(what, "write") && u.Role != auth.RoleReadWrite:
		return fmt.Errorf("%w: user %q has the %s role and may not %s", wire.ErrForbidden, u.Name, u.Role, what)
	default:
		return fmt.Errorf("%w: user %q may only %s under /%s", wire.ErrForbidden, u.Name, what, u.Prefix)
	}
}

// canFile checks that the session's user may read (or write) key.
func (s *Server) canFile(st *session, key string, write bool) error {
	if s.cfg.Guard == nil || st.user.Allows(key, write) {
		return nil
	}
	if write {
		return denied(st, "write files")
	}
	return denied(st, "read files")
}

// canDir checks that the session's user may list folder key, and returns
// the prefix the listing is narrowed to ("" when it is not).
func (s *Server) canDir(st *session, key string) (within string, err error) {
	if s.cfg.Guard == nil {
		return "", nil
	}
	prefix := key
	if prefix != "" {
		prefix += "/"
	}
	scoped, ok := st.user.Scope(prefix)
	if !ok {
		return "", denied(st, "read folders")
	}
	if scoped == prefix {
		return "", nil
	}
	return scoped, nil
}
