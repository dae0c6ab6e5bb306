package auth

import (
	"fmt"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// authError is a sentinel with its own words that matches a wire sentinel,
// so each front maps it through its one table.
type authError struct {
	msg  string
	wire error
}

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return e.wire }

var (
	// ErrBadCredentials is a wrong name or password, or a session that is
	// forged, expired or no longer matches its user. It is a
	// wire.ErrUnauthorized and never says which part was wrong.
	ErrBadCredentials error = &authError{"wrong name or password", wire.ErrUnauthorized}
	// ErrNoCredentials is a request that carries none where they are
	// required. It is a wire.ErrUnauthorized.
	ErrNoCredentials error = &authError{"credentials required", wire.ErrUnauthorized}
	// ErrRateLimited is what every *RateLimitError matches (it is
	// wire.ErrRateLimited).
	ErrRateLimited = wire.ErrRateLimited
)

// RateLimitError refuses a login from a client that failed too often;
// RetryAfter is when it may try again.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins from this client: retry in %s", e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return wire.ErrRateLimited }
