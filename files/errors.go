package files

import (
	"errors"
	"fmt"

	"github.com/jumpkv/jumpkv/wire"
)

// Errors wrap wire's sentinels where one fits, so that every front maps
// them with the table it already has.
var (
	// ErrNotFound: no file, value or folder at the path.
	ErrNotFound = fmt.Errorf("%w: no such file or folder", wire.ErrNotFound)
	// ErrTooLarge: the file would pass Config.MaxFile, or its manifest
	// the largest value.
	ErrTooLarge = wire.ErrTooLarge
	// ErrIsDir: a file operation named a folder.
	ErrIsDir = fmt.Errorf("%w: is a folder", wire.ErrBadRequest)
	// ErrNotEmpty: a folder removal found keys under it.
	ErrNotEmpty = fmt.Errorf("%w: the folder is not empty", wire.ErrExists)
	// ErrBadPath: a path that names no key (empty, NUL, CR/LF, a dot
	// segment, an internal key, too long).
	ErrBadPath = fmt.Errorf("%w: bad path", wire.ErrBadRequest)
	// ErrChanged: the file changed under an operation that depended on
	// it (an append racing another write, a chunk gone): retry.
	ErrChanged = fmt.Errorf("%w: the file changed meanwhile", wire.ErrPrecondition)
	// ErrDamaged: a manifest or chunk that does not hold what it must
	// (a chunk removed under a reader, a value forged as a manifest).
	ErrDamaged = errors.New("file damaged or removed while read")
)
