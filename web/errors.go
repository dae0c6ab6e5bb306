package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

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

// writeError answers with err's status and JSON body; 503s say when to
// retry.
func writeError(c *gin.Context, err error) {
	status := StatusOf(err)
	code := wire.CodeOf(err)
	if errors.Is(err, context.DeadlineExceeded) && code == "internal" {
		code = "unknown_outcome"
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: err.Error(), Code: code})
}

// badRequest answers 400 with msg.
func badRequest(c *gin.Context, msg string) {
	c.AbortWithStatusJSON(http.StatusBadRequest, ErrorBody{Error: msg, Code: wire.CodeOf(wire.ErrBadRequest)})
}
