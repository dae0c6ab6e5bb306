package kv

// Keys in the internal namespace belong to the node's own layers (the file
// layer's chunks and upload records, package files), never to a client:
// node.List leaves them out of a listing unless its prefix itself is
// internal, the change stream never carries them, and no client front
// accepts such a key (HTTP answers 400, FTP refuses a name with NUL). A
// future front must refuse them too: IsInternal says which.
//
// The namespace is every key that starts with a NUL byte, so it sorts
// before every client key, and InternalEnd sorts after all of it: a
// listing from the start of the key space skips it by starting after
// InternalEnd.
const (
	InternalPrefix = "\x00"
	// InternalEnd sorts after every valid UTF-8 key that starts with
	// InternalPrefix (no UTF-8 byte is 0xff) and before every other key.
	InternalEnd = "\x00\xff"
)

// IsInternal reports whether key is in the internal namespace.
func IsInternal(key string) bool { return len(key) > 0 && key[0] == 0 }

// FileType is the Content-Type that marks a key's value as a file's
// manifest (package files): the value names the chunks that hold the file's
// bytes. Clients cannot write a value of this type; readers (HTTP GET, FTP
// RETR) serve the file it describes rather than the manifest.
const FileType = "application/vnd.jumpkv.file+json"
