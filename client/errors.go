package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The errors a Client returns, one per kind of answer. Every error a
// method returns for an answer of the server is an *Error that wraps one of
// these: test with errors.Is, read the server's words with errors.As.
var (
	// ErrBadRequest is a request the server (or the client, before
	// sending it) found malformed: an empty key, a bad option (400).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized is a missing or wrong credential (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden is a request the user's role does not allow, or a
	// watch from a foreign origin (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound is a key that does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrExists is a Create of a key that exists (409).
	ErrExists = errors.New("key exists")
	// ErrPrecondition is a conditional write (IfMatch, IfNoneMatch)
	// whose condition did not hold (412).
	ErrPrecondition = errors.New("precondition failed")
	// ErrTooLarge is a value larger than the node's --max-value (413).
	ErrTooLarge = errors.New("value too large")
	// ErrKeyTooLong is a key longer than 1024 bytes (414).
	ErrKeyTooLong = errors.New("key too long")
	// ErrUnavailable means the cluster could not serve the request now
	// and did not perform it (503 without a leader or with too few
	// replicas; 429 and 408 too): the client has retried it and given up.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnknownOutcome means a write may or may not have taken effect:
	// the server answered 504, or the connection failed after the request
	// was sent. The client never retries a write after this by itself;
	// read the key to learn what happened (an unconditional Put may simply
	// be sent again).
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrInsufficientStorage is a write refused because the node's disk
	// is full or --max-memory is reached (507); reads and deletes work.
	ErrInsufficientStorage = errors.New("insufficient storage")
	// ErrServer is any other answer the client did not expect (a 500,
	// a status the API does not describe).
	ErrServer = errors.New("server error")
	// ErrNoEndpoint means no endpoint could be reached: every node named
	// refused the connection or did not answer, through every retry.
	ErrNoEndpoint = errors.New("no endpoint reachable")
)

// Error is an unsuccessful request: the server's answer (Status, Code,
// Message) or, with Status 0, a failure to reach it (Err holds why).
type Error struct {
	// Kind is the sentinel this error matches with errors.Is.
	Kind error
	// Op is the operation, such as "PUT sensors/a" or "list".
	Op string
	// Endpoint is the base URL of the node that answered (or failed).
	Endpoint string
	// Status is the HTTP status, or 0 when no answer came.
	Status int
	// Code is the server's machine word ("not_found", "unavailable"...).
	Code string
	// Message is the server's explanation, for a person.
	Message string
	// Err is the transport error when no answer came (or it was cut).
	Err error
}

// Error describes the failure: the server's message when it sent one,
// else the kind of error, then the transport error and the status.
func (e *Error) Error() string {
	s := "jumpkv: " + e.Op + ": "
	if e.Status != 0 && e.Message != "" {
		s += e.Message
	} else {
		s += e.Kind.Error()
		if e.Message != "" {
			s += ": " + e.Message
		}
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Code != "" {
			s += ", " + e.Code
		}
		s += ")"
	}
	return s
}

// Unwrap returns the sentinel, and the transport error when there is one,
// so that errors.Is(err, ErrNotFound) and errors.As(err, &x509Err) work.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// kindOf maps an HTTP status to its sentinel. This is the one place the
// mapping is made.
func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrExists
	case http.StatusPreconditionFailed:
		return ErrPrecondition
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case http.StatusRequestURITooLong:
		return ErrKeyTooLong
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout:
		return ErrUnavailable
	case http.StatusGatewayTimeout:
		return ErrUnknownOutcome
	case http.StatusInsufficientStorage:
		return ErrInsufficientStorage
	}
	return ErrServer
}

// statusError turns an answer that is not a success into an *Error with
// the server's words (its JSON error body, or the start of its body).
func statusError(op string, r *response) *Error {
	e := &Error{Kind: kindOf(r.status), Op: op, Endpoint: r.endpoint, Status: r.status}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(r.body, &body) == nil && body.Error != "" {
		e.Message, e.Code = body.Error, body.Code
	} else if text := strings.TrimSpace(string(r.body)); text != "" {
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Message = text
	}
	return e
}
