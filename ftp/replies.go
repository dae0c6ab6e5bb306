package ftp

import (
	"errors"
	"strings"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/wire"
)

// reply maps an error of the file layer or the node to an FTP reply: the
// one table of this front (as web/errors.go is HTTP's). 45x replies mean
// "try again", 55x "this will not work".
func reply(err error) (int, string) {
	msg := err.Error()
	switch {
	case errors.Is(err, files.ErrBadPath):
		return 553, "File name not allowed: " + msg
	case errors.Is(err, wire.ErrForbidden):
		return 550, "Permission denied: " + msg
	case errors.Is(err, files.ErrIsDir), errors.Is(err, files.ErrNotEmpty):
		return 550, msg
	case errors.Is(err, wire.ErrNotFound):
		return 550, "No such file or folder: " + msg
	case errors.Is(err, wire.ErrTooLarge):
		return 552, "Exceeded storage allocation: " + msg
	case errors.Is(err, wire.ErrExists):
		return 550, "Exists: " + msg
	case errors.Is(err, files.ErrChanged), errors.Is(err, wire.ErrPrecondition):
		return 450, "File busy, try again: " + msg
	case errors.Is(err, wire.ErrInsufficientStorage):
		return 452, "Insufficient storage: " + msg
	case errors.Is(err, wire.ErrUnknownOutcome):
		return 451, "Outcome unknown (the write may or may not have taken effect): " + msg
	case errors.Is(err, wire.ErrNoLeader), errors.Is(err, wire.ErrUnavailable), errors.Is(err, wire.ErrReadOnly):
		return 451, "Cluster unavailable, try again: " + msg
	case errors.Is(err, wire.ErrBadRequest), errors.Is(err, wire.ErrKeyTooLong):
		return 501, msg
	}
	return 451, "Local error: " + oneLine(msg)
}

// oneLine keeps a reply on one line whatever the error says.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
