package files

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jumpkv/jumpkv/kv"
)

// Internal keys of the file layer.
const (
	chunkPrefix  = kv.InternalPrefix + "f/c/" // + id + "/" + 8 hex digits
	recordPrefix = kv.InternalPrefix + "f/u/" // + id
)

// chunkKey returns the key of chunk i of upload id.
func chunkKey(id string, i int) string {
	return chunkPrefix + id + "/" + fmt.Sprintf("%08x", i)
}

// chunkIndex parses the index out of a chunk key of upload id.
func chunkIndex(id, key string) (int, bool) {
	p := chunkPrefix + id + "/"
	if len(key) != len(p)+8 || key[:len(p)] != p {
		return 0, false
	}
	n, err := strconv.ParseUint(key[len(p):], 16, 32)
	return int(n), err == nil
}

func recordKey(id string) string { return recordPrefix + id }

// Manifest is a file's value: its size and the runs of chunks that hold
// its bytes, in order.
type Manifest struct {
	Version int    `json:"v"`
	Size    int64  `json:"size"`
	Type    string `json:"type,omitempty"` // the file's own Content-Type
	MTime   int64  `json:"mtime"`          // Unix milliseconds of the write
	Runs    []Run  `json:"runs"`
}

// Run is Count chunks of one upload: chunks 0..Count-1 of ID, each Chunk
// bytes but the last, which is Last bytes (1..Chunk).
type Run struct {
	ID    string `json:"id"`
	Count int    `json:"n"`
	Chunk int    `json:"c"`
	Last  int    `json:"l"`
}

// Bytes returns the run's length.
func (r Run) Bytes() int64 {
	if r.Count == 0 {
		return 0
	}
	return int64(r.Count-1)*int64(r.Chunk) + int64(r.Last)
}

// chunkLen returns the length of the run's chunk i.
func (r Run) chunkLen(i int) int {
	if i == r.Count-1 {
		return r.Last
	}
	return r.Chunk
}

// ModTime returns the time of the manifest's write.
func (m *Manifest) ModTime() time.Time { return time.UnixMilli(m.MTime) }

// decodeManifest parses a manifest and checks that it is consistent, so
// that a damaged or forged one is refused rather than misread.
func decodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrDamaged, err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("%w: manifest version %d", ErrDamaged, m.Version)
	}
	var total int64
	for _, r := range m.Runs {
		if r.Count < 1 || r.Chunk < 1 || r.Last < 1 || r.Last > r.Chunk || !validID(r.ID) {
			return nil, fmt.Errorf("%w: manifest run %+v", ErrDamaged, r)
		}
		total += r.Bytes()
	}
	if total != m.Size {
		return nil, fmt.Errorf("%w: manifest runs hold %d bytes, its size says %d", ErrDamaged, total, m.Size)
	}
	return &m, nil
}

func (m *Manifest) encode() []byte {
	b, _ := json.Marshal(m) // plain fields: cannot fail
	return b
}

// validID reports whether id is an upload ID as newID makes them.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// locate returns the run and chunk holding byte off of m (off < m.Size),
// and the file offset where that chunk starts. starts are the runs' start
// offsets.
func locate(m *Manifest, starts []int64, off int64) (run, chunk int, chunkStart int64) {
	run = sort.Search(len(starts), func(i int) bool { return starts[i] > off }) - 1
	r := m.Runs[run]
	chunk = int((off - starts[run]) / int64(r.Chunk))
	return run, chunk, starts[run] + int64(chunk)*int64(r.Chunk)
}

// runStarts returns the file offset where each run starts.
func runStarts(m *Manifest) []int64 {
	s := make([]int64, len(m.Runs))
	var off int64
	for i, r := range m.Runs {
		s[i] = off
		off += r.Bytes()
	}
	return s
}
