package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/wire"
)

// statuses maps error sentinels to HTTP statuses. This is the one place
// that mapping is made; the first match wins.
var statuses = []struct {
	err    error
	status int
}{
	{wire.ErrBadRequest, http.StatusBadRequest},
	{wire.ErrNotFound, http.StatusNotFound},
	{wire.ErrExists, http.StatusConflict},
	{wire.ErrPrecondition, http.StatusPreconditionFailed},
	{wire.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{wire.ErrKeyTooLong, http.StatusRequestURITooLong},
	{wire.ErrForbidden, http.StatusForbidden},
	{wire.ErrUnauthorized, http.StatusUnauthorized},
	{wire.ErrRateLimited, http.StatusTooManyRequests},
	{wire.ErrBodyTimeout, http.StatusRequestTimeout},
	{wire.ErrInsufficientStorage, http.StatusInsufficientStorage},
	{wire.ErrUnknownOutcome, http.StatusGatewayTimeout},
	{wire.ErrTimeout, http.StatusGatewayTimeout},
	{wire.ErrConnLost, http.StatusGatewayTimeout},
	{context.DeadlineExceeded, http.StatusGatewayTimeout},
	{wire.ErrNoLeader, http.StatusServiceUnavailable},
	{wire.ErrReadOnly, http.StatusServiceUnavailable},
	{wire.ErrUnavailable, http.StatusServiceUnavailable},
	{wire.ErrNotLeader, http.StatusServiceUnavailable},
	{wire.ErrStaleTerm, http.StatusServiceUnavailable},
	{wire.ErrStaleEpoch, http.StatusServiceUnavailable},
	{wire.ErrNotOwner, http.StatusServiceUnavailable},
	{wire.ErrNoLease, http.StatusServiceUnavailable},
	{wire.ErrUnreachable, http.StatusServiceUnavailable},
	{wire.ErrClosed, http.StatusServiceUnavailable},
	{wire.ErrRefused, http.StatusServiceUnavailable},
	{context.Canceled, http.StatusServiceUnavailable},
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError answers with err's status and JSON body; 503s and 429s say
// when to retry, 401s how to authenticate.
func writeError(c *gin.Context, err error) {
	status := StatusOf(err)
	code := wire.CodeOf(err)
	if errors.Is(err, context.DeadlineExceeded) && code == "internal" {
		code = "unknown_outcome"
	}
	switch status {
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	case http.StatusTooManyRequests:
		retry := time.Second
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			retry = max(retry, rl.RetryAfter)
		}
		c.Header("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", challenge(c.Request))
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: err.Error(), Code: code})
}

// challenge is the WWW-Authenticate of a 401: Basic, except for the
// dashboard's own requests, whose challenge browsers do not answer with
// their password dialog (the page shows its login form instead).
func challenge(r *http.Request) string {
	if r.Header.Get(dashboardHeader) != "" {
		return `Session realm="jumpkv"`
	}
	return `Basic realm="jumpkv"`
}

// badRequest answers 400 with msg.
func badRequest(c *gin.Context, msg string) {
	c.AbortWithStatusJSON(http.StatusBadRequest, ErrorBody{Error: msg, Code: wire.CodeOf(wire.ErrBadRequest)})
}
