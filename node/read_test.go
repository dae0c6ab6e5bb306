package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jumpkv/jumpkv/wire"
)

// TestKeyNotFoundReadsAsFormatted: a read's lazily formatted not-found
// error matches wire.ErrNotFound and reads exactly as the fmt.Errorf one
// it stands for, binary keys too.
func TestKeyNotFoundReadsAsFormatted(t *testing.T) {
	for _, key := range []string{"a", "with space", "nul\x00cr\r\nlf", "é"} {
		var err error = keyNotFound{key}
		want := fmt.Errorf("%w: %q", wire.ErrNotFound, key)
		if !errors.Is(err, wire.ErrNotFound) || err.Error() != want.Error() {
			t.Errorf("key %q: %v (is not found: %v), want %v", key, err, errors.Is(err, wire.ErrNotFound), want)
		}
	}
}
