package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jumpkv/jumpkv/wire"
)

// Errors of the Redis front itself (the node's are wire's sentinels).
var (
	// ErrHoldsFile refuses a read-modify-write of a key that holds a file
	// (uploaded over FTP or HTTP): its value is the file's manifest.
	ErrHoldsFile = errors.New("the key holds a file: read and write it over HTTP or FTP")
	// ErrNotInteger is Redis's answer to INCR on a value that is not a
	// 64-bit integer.
	ErrNotInteger = errors.New("value is not an integer or out of range")
	// ErrOverflow refuses an increment past the 64-bit range.
	ErrOverflow = errors.New("increment or decrement would overflow")
	// ErrSyntax is Redis's answer to options it cannot parse.
	ErrSyntax = errors.New("syntax error")
)

// errorClass is how an error reaches a Redis client.
type errorClass int

const (
	classErr      errorClass = iota // -ERR <message>
	classTryAgain                   // -TRYAGAIN <message>: surely not done, retry
	classUnknown                    // -ERR outcome unknown: a write may or may not have happened
	classNoPerm                     // -NOPERM <message>
)

// redisErrors maps error sentinels to the Redis error forms. This is the
// one place that mapping is made; the first match wins. It mirrors web's
// status table: 503 is TRYAGAIN, 504 "outcome unknown", 413 "value too
// large", 403 NOPERM.
var redisErrors = []struct {
	err   error
	class errorClass
	text  string // what the client reads before the detail
}{
	{wire.ErrTooLarge, classErr, "value too large"},
	{wire.ErrKeyTooLong, classErr, "key too long"},
	{wire.ErrBadRequest, classErr, "bad request"},
	{wire.ErrForbidden, classNoPerm, "no permissions"},
	{ErrHoldsFile, classErr, ""},
	{ErrNotInteger, classErr, ""},
	{ErrOverflow, classErr, ""},
	{ErrSyntax, classErr, ""},
	{wire.ErrUnknownOutcome, classUnknown, "outcome unknown"},
	{wire.ErrTimeout, classUnknown, "outcome unknown"},
	{wire.ErrConnLost, classUnknown, "outcome unknown"},
	{context.DeadlineExceeded, classUnknown, "outcome unknown"},
	{wire.ErrNoLeader, classTryAgain, "no leader"},
	{wire.ErrReadOnly, classTryAgain, ""},
	{wire.ErrUnavailable, classTryAgain, ""},
	{wire.ErrNotLeader, classTryAgain, ""},
	{wire.ErrStaleTerm, classTryAgain, ""},
	{wire.ErrStaleEpoch, classTryAgain, ""},
	{wire.ErrNotOwner, classTryAgain, ""},
	{wire.ErrNoLease, classTryAgain, ""},
	{wire.ErrUnreachable, classTryAgain, ""},
	{wire.ErrClosed, classTryAgain, ""},
	{wire.ErrRefused, classTryAgain, ""},
	{context.Canceled, classTryAgain, ""},
}

// errorText returns the Redis error line (without the leading '-') for
// err. A read (write false) never has an unknown outcome: what would be one
// for a write is TRYAGAIN for it.
func errorText(err error, write bool) string {
	class, text := classErr, "internal error"
	for _, m := range redisErrors {
		if errors.Is(err, m.err) {
			class, text = m.class, m.text
			break
		}
	}
	if class == classUnknown && !write {
		class = classTryAgain
	}
	detail := err.Error()
	msg := detail
	if text != "" && !strings.HasPrefix(detail, text) {
		msg = text + ": " + detail
	}
	switch class {
	case classTryAgain:
		return "TRYAGAIN " + msg
	case classUnknown:
		return "ERR outcome unknown (the write may or may not have taken effect): " + detail
	case classNoPerm:
		return "NOPERM " + msg
	}
	return "ERR " + msg
}

// Redis's own wordings.
func errWrongArity(name string) string {
	return fmt.Sprintf("ERR wrong number of arguments for '%s' command", name)
}

func errUnknownCommand(name string) string {
	return fmt.Sprintf("ERR unknown command '%s'", truncate(name, 128))
}

func errUnknownSubcommand(sub, cmd string) string {
	return fmt.Sprintf("ERR unknown subcommand '%s'. Try %s HELP.", truncate(sub, 128), cmd)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
