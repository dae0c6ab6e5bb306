package wire

import (
	"errors"
	"fmt"
)

// The errors of jumpkv, in one block. Each has a stable machine word (its
// Code) that survives a hop between nodes and reaches clients in JSON error
// bodies. Wrap them with %w and test them with errors.Is.
var (
	// Client mistakes and ordinary outcomes.
	ErrBadRequest   = errors.New("bad request")
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("key exists")
	ErrPrecondition = errors.New("precondition failed")
	ErrTooLarge     = errors.New("value too large")
	ErrKeyTooLong   = errors.New("key too long")
	ErrForbidden    = errors.New("forbidden")
	// ErrUnauthorized is a missing or wrong credential (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRateLimited refuses a client that failed to log in too often
	// (HTTP 429, with Retry-After).
	ErrRateLimited = errors.New("too many failed attempts")
	// ErrBodyTimeout is a request body that did not arrive within the
	// server's read timeout (HTTP 408).
	ErrBodyTimeout = errors.New("request body not received in time")
	// ErrInsufficientStorage refuses a write because the node's disk is
	// full or unwritable, or its memory limit is reached (HTTP 507).
	ErrInsufficientStorage = errors.New("insufficient storage")

	// The cluster cannot serve the request now; retrying later may work.
	ErrNoLeader    = errors.New("no leader")
	ErrReadOnly    = errors.New("cluster is read-only: the leader cannot reach a majority")
	ErrUnavailable = errors.New("too few replicas reachable")
	ErrNotLeader   = errors.New("not the leader")
	ErrStaleTerm   = errors.New("stale term")
	ErrStaleEpoch  = errors.New("stale placement epoch")
	ErrNotOwner    = errors.New("bucket not held here")
	ErrNoLease     = errors.New("no valid lease")
	ErrRefused     = errors.New("refused")

	// Transport outcomes. ErrUnreachable means the message was surely not
	// delivered; ErrTimeout and ErrConnLost mean it may have been.
	ErrUnreachable = errors.New("peer unreachable")
	ErrTimeout     = errors.New("peer did not answer in time")
	ErrConnLost    = errors.New("connection lost")
	ErrBadFrame    = errors.New("malformed frame")
	ErrClosed      = errors.New("transport closed")

	// ErrUnknownOutcome means a write may or may not have taken effect.
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrInternal is a bug: something this node did not expect.
	ErrInternal = errors.New("internal error")
)

// codes maps each sentinel to its machine word. This is the one place error
// codes are defined; CodeOf and ErrorOf read it.
var codes = []struct {
	err  error
	code string
}{
	{ErrBadRequest, "bad_request"},
	{ErrNotFound, "not_found"},
	{ErrExists, "exists"},
	{ErrPrecondition, "precondition_failed"},
	{ErrTooLarge, "too_large"},
	{ErrKeyTooLong, "key_too_long"},
	{ErrForbidden, "forbidden"},
	{ErrUnauthorized, "unauthorized"},
	{ErrRateLimited, "rate_limited"},
	{ErrBodyTimeout, "request_timeout"},
	{ErrInsufficientStorage, "insufficient_storage"},
	{ErrNoLeader, "no_leader"},
	{ErrReadOnly, "read_only"},
	{ErrUnavailable, "unavailable"},
	{ErrNotLeader, "not_leader"},
	{ErrStaleTerm, "stale_term"},
	{ErrStaleEpoch, "stale_epoch"},
	{ErrNotOwner, "not_owner"},
	{ErrNoLease, "no_lease"},
	{ErrRefused, "refused"},
	{ErrUnreachable, "unreachable"},
	{ErrTimeout, "timeout"},
	{ErrConnLost, "conn_lost"},
	{ErrBadFrame, "bad_frame"},
	{ErrClosed, "closed"},
	{ErrUnknownOutcome, "unknown_outcome"},
	{ErrInternal, "internal"},
}

// CodeOf returns the machine word of the first sentinel err wraps, or
// "internal" when it wraps none.
func CodeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// ErrorOf rebuilds an error from a code and message that crossed the wire:
// the result wraps the code's sentinel (ErrInternal for an unknown code).
func ErrorOf(code, msg string) error {
	for _, c := range codes {
		if c.code == code {
			if msg == "" || msg == c.err.Error() {
				return c.err
			}
			return &remoteError{sentinel: c.err, msg: msg}
		}
	}
	return &remoteError{sentinel: ErrInternal, msg: fmt.Sprintf("%s (code %q)", msg, code)}
}

// remoteError keeps a peer's message text while matching its sentinel.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// The one classification of a failed call, which every caller uses:
//   - NoAnswer: the peer gave no answer (it could not be reached, or did not
//     answer in time, or the connection broke): try another node;
//   - MaybeDelivered: the request may have reached the peer and taken
//     effect (a write's outcome is then unknown), as opposed to surely
//     failing before delivery (ErrUnreachable) or being refused by the
//     peer (any other sentinel).

// MaybeDelivered reports whether err leaves open that a request reached its
// peer (and so took effect), as opposed to surely failing before delivery.
func MaybeDelivered(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnLost) || errors.Is(err, ErrUnknownOutcome)
}

// NoAnswer reports whether err says the peer gave no answer at all:
// unreachable, timed out, or its connection broke.
func NoAnswer(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnLost)
}
