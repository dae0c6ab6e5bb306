package ftp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/files"
)

// Config sets up an FTP server.
type Config struct {
	// Files is the file layer served; required.
	Files *files.FS
	// Guard checks logins (--users); nil accepts any login, as the HTTP
	// API trusts every client without --users.
	Guard *auth.Guard
	// TLS, when set, enables AUTH TLS (explicit FTPS) and PROT P.
	TLS *tls.Config
	// PassiveLow..PassiveHigh is the passive port range; 0, 0: any free port.
	PassiveLow, PassiveHigh int
	// PublicHost is the address named in PASV/EPSV answers (behind NAT);
	// empty: the address the client reached.
	PublicHost string
	// MaxConns bounds the control connections open at once; past it a new
	// one is told 421 and closed.
	MaxConns int
	// IdleTimeout ends a control connection that sends no command for it.
	IdleTimeout time.Duration
	// DataTimeout ends a transfer that makes no progress for it (a client
	// that stops reading or sending), and bounds the wait for a data
	// connection.
	DataTimeout time.Duration
	// Logger receives sessions' errors; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults around fs.
func DefaultConfig(fs *files.FS) Config {
	return Config{
		Files:       fs,
		MaxConns:    512,
		IdleTimeout: 5 * time.Minute,
		DataTimeout: time.Minute,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Files == nil:
		return errors.New("ftp: no file layer (Config.Files)")
	case c.PassiveLow < 0 || c.PassiveHigh > 65535 || c.PassiveLow > c.PassiveHigh || (c.PassiveLow == 0) != (c.PassiveHigh == 0):
		return fmt.Errorf("ftp: passive port range %d-%d: want 1 <= LO <= HI <= 65535, or none", c.PassiveLow, c.PassiveHigh)
	case c.MaxConns < 1:
		return fmt.Errorf("ftp: MaxConns %d must be at least 1", c.MaxConns)
	case c.IdleTimeout <= 0 || c.DataTimeout <= 0:
		return errors.New("ftp: IdleTimeout and DataTimeout must be positive")
	}
	return nil
}

// ParsePortRange parses --ftp-passive-ports: "LO-HI", or "" for none.
func ParsePortRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("passive port range %q: want LO-HI with 1 <= LO <= HI <= 65535, e.g. 30000-30099", s)
	}
	return lo, hi, nil
}
