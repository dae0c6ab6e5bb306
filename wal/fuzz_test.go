package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

const fuzzMax = 1024

func fuzzSeeds(f *testing.F) {
	var valid []byte
	for _, r := range []string{"", "a", "hello world", string(make([]byte, 300))} {
		valid = appendFrame(valid, []byte(r))
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(appendTrailer(append([]byte(nil), valid...), 4))
	huge := make([]byte, frameHeader) // an intact header claiming 4GiB-2
	le.PutUint32(huge[0:], 0xFFFFFFFE)
	le.PutUint32(huge[8:], checksum(huge[:8]))
	f.Add(huge)
	f.Add(make([]byte, 64))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3})
}

// FuzzScanner feeds hostile bytes to the record reader: it never panics,
// never returns a record over the maximum, never grows its buffer past one
// maximal frame, and always moves forward.
func FuzzScanner(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, trailer := range []bool{false, true} {
			r := bytes.NewReader(data)
			s := newScanner(r, 0, int64(len(data)), fuzzMax, nil)
			s.trailer = trailer
			last := int64(-1)
			for n := 0; ; n++ {
				if n > len(data)/frameHeader+1 {
					t.Fatalf("%d records from %d bytes", n, len(data))
				}
				rec, err := s.next()
				if err != nil {
					var d *damage
					if err != io.EOF && !errors.Is(err, errTrailer) && !errors.As(err, &d) {
						t.Fatalf("unexpected error %v", err)
					}
					break
				}
				if len(rec) > fuzzMax {
					t.Fatalf("a record of %d bytes, max %d", len(rec), fuzzMax)
				}
				if s.off <= last {
					t.Fatalf("no progress at %d", s.off)
				}
				last = s.off
			}
			if limit := max(min(scanWindow, len(data)), frameHeader+fuzzMax); cap(s.buf) > limit {
				t.Fatalf("the scanner grew its buffer to %d bytes (limit %d)", cap(s.buf), limit)
			}
		}
		if p, ok, err := intactAfter(bytes.NewReader(data), 0, int64(len(data)), fuzzMax); err != nil {
			t.Fatal(err)
		} else if ok { // what intactAfter finds, the scanner reads
			s := newScanner(bytes.NewReader(data), p, int64(len(data)), fuzzMax, nil)
			if _, err := s.next(); err != nil {
				t.Fatalf("intactAfter found a frame at %d that the scanner rejects: %v", p, err)
			}
		}
	})
}

// FuzzReplay makes the bytes after a segment header the whole log: Replay
// never panics, and what it accepts (after cutting a torn tail) it accepts
// again unchanged.
func FuzzReplay(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		seg := append(appendFileHeader(nil, segmentMagic, 1), data...)
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(dir, noSyncFS{})
		cfg.MaxRecord = fuzzMax
		l, r, err := tryOpen(cfg)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Replay: %v", err)
			}
			return
		}
		l.Close()
		l, r2, err := tryOpen(cfg)
		if err != nil {
			t.Fatalf("a log Replay accepted fails the second time: %v", err)
		}
		l.Close()
		sameRecords(t, "second replay", r2.log, r.log)
		if r2.rec.Torn != nil {
			t.Fatalf("a second torn tail: %+v", r2.rec.Torn)
		}
	})
}

// TestHostileLengthAllocatesNothing: an intact header claiming 4GiB must
// not make the reader allocate it.
func TestHostileLengthAllocatesNothing(t *testing.T) {
	huge := make([]byte, frameHeader+100)
	le.PutUint32(huge[0:], 1<<30)
	le.PutUint32(huge[8:], checksum(huge[:8]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newScanner(bytes.NewReader(huge), 0, int64(len(huge)), MaxRecordLimit, nil)
	_, err := s.next()
	runtime.ReadMemStats(&after)
	var d *damage
	if !errors.As(err, &d) || d.end != frameHeader+1<<30 {
		t.Fatalf("next: %v, want a short-record damage", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("reading a hostile header allocated %d bytes", grew)
	}
}
