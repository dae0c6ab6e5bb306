package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of one request. Between attempts the
// client waits an exponential backoff (BaseDelay, doubling, at most
// MaxDelay), drawn at random from its upper half so that clients turned
// away together do not come back together; after an answer with
// Retry-After it waits at least that long (at most MaxRetryAfter), plus up
// to a quarter more. A request whose endpoint refused the connection goes
// to the next endpoint without waiting, until every endpoint has been
// tried.
type RetryPolicy struct {
	// MaxAttempts is the number of times a request is sent at most, the
	// first included (1: never retry).
	MaxAttempts int
	// BaseDelay is the first backoff.
	BaseDelay time.Duration
	// MaxDelay caps the backoff.
	MaxDelay time.Duration
	// MaxRetryAfter caps how long a server's Retry-After makes the client
	// wait.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns the default: 10 attempts, backoff from 50ms to
// 2s, Retry-After honoured up to 10s. With the server's Retry-After of 1s
// that rides out a leader election (3s at the default settings) with
// room to spare.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 10, BaseDelay: 50 * time.Millisecond, MaxDelay: 2 * time.Second, MaxRetryAfter: 10 * time.Second}
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("jumpkv client: RetryPolicy.MaxAttempts %d: want at least 1", p.MaxAttempts)
	case p.BaseDelay <= 0:
		return fmt.Errorf("jumpkv client: RetryPolicy.BaseDelay %v: want a positive duration", p.BaseDelay)
	case p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("jumpkv client: RetryPolicy.MaxDelay %v is below BaseDelay %v", p.MaxDelay, p.BaseDelay)
	case p.MaxRetryAfter < 0:
		return fmt.Errorf("jumpkv client: RetryPolicy.MaxRetryAfter %v: want zero (ignore Retry-After) or more", p.MaxRetryAfter)
	}
	return nil
}

// backoff returns the wait before retry number n (1 for the first retry):
// BaseDelay·2^(n-1) capped at MaxDelay, drawn from its upper half.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MaxDelay
	if n < 31 {
		d = min(p.BaseDelay<<(n-1), p.MaxDelay)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// wait returns the wait before retry n after an answer that said
// Retry-After ra (0: none).
func (p RetryPolicy) wait(n int, ra time.Duration) time.Duration {
	d := p.backoff(n)
	if ra = min(ra, p.MaxRetryAfter); ra > d {
		d = ra + rand.N(ra/4+1)
	}
	return d
}

// retryAfter parses a Retry-After header given in seconds (the form jumpkv
// sends) or as an HTTP date; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}

// failure classifies a transport error (no HTTP answer).
type failure int

const (
	// notSent: the request surely did not reach a server (the connection
	// was refused or never made); any request may go elsewhere.
	notSent failure = iota
	// maybeSent: the request may have reached the server (the connection
	// broke, or no answer came in time); only reads are retried.
	maybeSent
	// permanent: retrying cannot help (a certificate that does not
	// verify, a server that does not speak TLS).
	permanent
)

// classify sorts a transport error.
func classify(err error) failure {
	var (
		unknownCA  x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		hostname   x509.HostnameError
		verify     *tls.CertificateVerificationError
		recordHdr  tls.RecordHeaderError
		opErr      *net.OpError
		dnsErr     *net.DNSError
		addrErr    *net.AddrError
		unknownNet net.UnknownNetworkError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname),
		errors.As(err, &verify), errors.As(err, &recordHdr), errors.As(err, &unknownNet), errors.As(err, &addrErr),
		errors.Is(err, errAnswerTooLarge):
		return permanent
	case errors.As(err, &dnsErr):
		return notSent
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return notSent
	}
	return maybeSent
}

// request is one API call, before it is sent to an endpoint.
type request struct {
	op     string // for errors: "GET key", "list"...
	method string
	path   string // escaped path and query
	body   []byte
	header http.Header
	// write marks a request that changes data: after it may have been
	// sent, a failure is ErrUnknownOutcome and it is not retried.
	write bool
	// stream leaves a 200's body unread, for the caller to stream.
	stream bool
}

// response is a whole answer.
type response struct {
	endpoint string
	status   int
	header   http.Header
	body     []byte
	stream   io.ReadCloser // the open body of a streamed 200 (request.stream)
}

// maxAnswer bounds what the client reads of one answer: a value of the
// largest size a node accepts by default is 1 MiB, and a listing page of
// 10,000 keys of 1 KiB each about 10 MiB.
const maxAnswer = 64 << 20

// do sends r until it gets an answer that is not a retryable refusal, with
// failover and retries as the package doc says. It returns answers of any
// other status for the caller to judge, and an *Error when none came.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	n := len(c.endpoints)
	first := int(c.start.Load()) % n
	idx := first
	var last error // the last failure, returned when the attempts run out
	sinceWait := 0 // endpoints tried since the last wait
	for attempt := 1; ; attempt++ {
		ep := c.endpoints[idx]
		if err := context.Cause(ctx); err != nil && attempt == 1 {
			// Never sent: no unknown outcome.
			return nil, &Error{Kind: ErrUnavailable, Op: r.op, Endpoint: ep, Err: err}
		}
		resp, err := c.send(ctx, ep, r)
		var ra time.Duration
		switch {
		case err == nil && !retryableStatus(resp.status, r.write):
			c.start.Store(uint32(idx))
			return resp, nil
		case err == nil:
			e := statusError(r.op, resp)
			if !r.write {
				e.Kind = ErrUnavailable // a read's 504 is no unknown outcome
			}
			last = e
			ra = retryAfter(resp.header, time.Now())
			sinceWait = n // wait before the next attempt
		case ctx.Err() != nil:
			return nil, c.ctxError(r, ep, ctx)
		default:
			class := classify(err)
			e := &Error{Kind: ErrUnavailable, Op: r.op, Endpoint: ep, Err: err}
			switch {
			case class == permanent:
				return nil, e
			case class == maybeSent && r.write:
				e.Kind = ErrUnknownOutcome
				return nil, e
			case class == notSent:
				e.Err = fmt.Errorf("%w: %w", ErrNoEndpoint, err)
				sinceWait++
			default:
				sinceWait = n
			}
			last = e
		}
		if attempt >= c.cfg.retry.MaxAttempts {
			return nil, last
		}
		idx = (idx + 1) % n
		if sinceWait >= n {
			sinceWait = 0
			d := c.cfg.retry.wait(attempt, ra)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
				return nil, last // the wait would outlast the caller
			}
			c.cfg.logger.Debug("jumpkv client: retrying", "op", r.op, "attempt", attempt+1, "endpoint", c.endpoints[idx], "after", d, "err", last)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, last
			case <-t.C:
			}
		} else {
			c.cfg.logger.Debug("jumpkv client: failing over", "op", r.op, "endpoint", c.endpoints[idx], "err", last)
		}
	}
}

// retryableStatus reports an answer that says the request was not
// performed and may be sent again (any request), or, for a read, a 504.
func retryableStatus(status int, write bool) bool {
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout:
		return true
	case http.StatusGatewayTimeout:
		return !write
	}
	return false
}

// ctxError is the error of a request whose context ended during an
// attempt: for a write that may have been sent, an unknown outcome.
func (c *Client) ctxError(r request, ep string, ctx context.Context) error {
	kind := ErrUnavailable
	if r.write {
		kind = ErrUnknownOutcome
	}
	return &Error{Kind: kind, Op: r.op, Endpoint: ep, Err: context.Cause(ctx)}
}

// send makes one attempt at ep and reads the whole answer; with
// r.stream, a 200's body is left open in response.stream instead, bounded
// by ctx alone once the headers have arrived.
func (c *Client) send(ctx context.Context, ep string, r request) (*response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.cfg.timeout, func() { cancel(errAttemptTimeout) })
	streaming := false
	defer func() {
		if !streaming {
			timer.Stop()
			cancel(nil)
		}
	}()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, ep+r.path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
		}
		return nil, err
	}
	if r.stream && resp.StatusCode == http.StatusOK && timer.Stop() {
		streaming = true
		return &response{endpoint: ep, status: resp.StatusCode, header: resp.Header,
			stream: &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}}, nil
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxAnswer {
		return nil, fmt.Errorf("%w: %d bytes, more than the client reads (%d)", errAnswerTooLarge, resp.ContentLength, maxAnswer)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("%w: more than the %d bytes the client reads", errAnswerTooLarge, maxAnswer)
	}
	return &response{endpoint: ep, status: resp.StatusCode, header: resp.Header, body: data}, nil
}

var (
	// errAttemptTimeout ends an attempt that took longer than WithTimeout.
	errAttemptTimeout = errors.New("no answer within the attempt's timeout")
	// errAnswerTooLarge refuses to buffer an answer past maxAnswer.
	errAnswerTooLarge = errors.New("answer too large to buffer (use GetReader)")
)

// cancelOnClose releases a streamed answer's context when it is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// authorize adds the credentials, when the client has some.
func (c *Client) authorize(h http.Header) {
	if c.cfg.auth {
		h.Set("Authorization", "Basic "+basicAuth(c.cfg.user, c.cfg.password))
	}
	h.Set("User-Agent", userAgent)
}

// userAgent names the client to servers.
const userAgent = "jumpkv-go-client/1"
