package wal

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// writeRecords writes k records of random sizes (the last one non-empty)
// into a fresh log in dir and closes it. If the log ended on a segment that
// holds only its header, that file is removed, as if the crash came before
// the rotation, so the last record is in the last segment.
func writeRecords(t *testing.T, rng *rand.Rand, cfg Config, k int) [][]byte {
	t.Helper()
	l, _ := openLog(t, cfg)
	var recs [][]byte
	for i := range k {
		rec := record(rng, i, 1+rng.IntN(400))
		if err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, cfg.Dir)
	if last := files[len(files)-1]; fileLen(t, last) == fileHeader {
		if err := os.Remove(last); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func mutate(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTornTail cuts or damages the last record of the last segment at a
// random byte, 200 times: Replay must keep exactly the records before it,
// report what it dropped, and leave a log that appends and reopens cleanly.
func TestTornTail(t *testing.T) {
	for c := range 200 {
		rng := rand.New(rand.NewPCG(uint64(c), 16))
		dir := t.TempDir()
		cfg := testConfig(dir, noSyncFS{})
		cfg.Fsync, cfg.SegmentSize = FsyncNo, 4096
		recs := writeRecords(t, rng, cfg, 2+rng.IntN(60))
		files := segmentFiles(t, dir)
		last := files[len(files)-1]
		size := fileLen(t, last)
		start := size - int64(frameHeader+len(recs[len(recs)-1]))
		var dropped int64
		var how string
		if c%2 == 0 {
			cut := start + 1 + rng.Int64N(size-start-1)
			how = "cut at " + itoa(cut)
			mutate(t, last, func(b []byte) []byte { return b[:cut] })
			dropped = cut - start
		} else {
			at := start + rng.Int64N(size-start)
			how = "byte flipped at " + itoa(at)
			mutate(t, last, func(b []byte) []byte { b[at] ^= byte(1 + rng.IntN(255)); return b })
			dropped = size - start
		}
		l, r, err := tryOpen(cfg)
		if err != nil {
			t.Fatalf("case %d (%s, last record at %d of %d): %v", c, how, start, size, err)
		}
		sameRecords(t, how, r.log, recs[:len(recs)-1])
		want := TornTail{File: last, Offset: start, Bytes: dropped}
		if tt := r.rec.Torn; tt == nil || tt.File != want.File || tt.Offset != want.Offset || tt.Bytes != want.Bytes {
			t.Fatalf("case %d (%s): torn tail %+v, want %+v", c, how, tt, want)
		}
		if got := fileLen(t, last); got != start {
			t.Fatalf("case %d: the segment is %d bytes after recovery, want %d", c, got, start)
		}
		extra := []byte("after the crash")
		if err := l.Append(extra); err != nil {
			t.Fatal(err)
		}
		_, r = reopen(t, l, cfg)
		sameRecords(t, "after recovery and an append", r.log, append(recs[:len(recs)-1:len(recs)-1], extra))
		if r.rec.Torn != nil {
			t.Fatalf("case %d: a second torn tail %+v", c, r.rec.Torn)
		}
	}
}

// TestCorruptionBeforeTail damages a record that has intact records after
// it: Replay must refuse, name the file and the record's offset, and change
// nothing on disk.
func TestCorruptionBeforeTail(t *testing.T) {
	for c := range 100 {
		rng := rand.New(rand.NewPCG(uint64(c), 61))
		dir := t.TempDir()
		cfg := testConfig(dir, noSyncFS{})
		cfg.Fsync, cfg.SegmentSize = FsyncNo, 1<<20 // one segment: offsets are easy to know
		recs := writeRecords(t, rng, cfg, 3+rng.IntN(40))
		seg := segmentFiles(t, dir)[0]
		i := rng.IntN(len(recs) - 1)
		start := int64(fileHeader)
		for _, r := range recs[:i] {
			start += int64(frameHeader + len(r))
		}
		at := start + rng.Int64N(int64(frameHeader+len(recs[i])))
		mutate(t, seg, func(b []byte) []byte { b[at] ^= byte(1 + rng.IntN(255)); return b })
		before, _ := os.ReadFile(seg)
		_, _, err := tryOpen(cfg)
		ce := isCorrupt(t, err)
		if ce.File != seg || ce.Offset != start {
			t.Fatalf("case %d: record %d of %d damaged at byte %d: error names %s at %d, want %s at %d (%v)",
				c, i, len(recs), at, ce.File, ce.Offset, seg, start, err)
		}
		if !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), itoa(start)) {
			t.Fatalf("the message %q does not name the file and offset", err)
		}
		if after, _ := os.ReadFile(seg); string(after) != string(before) {
			t.Fatalf("case %d: a refused Replay changed the segment", c)
		}
	}
}

func TestDamageInSealedSegment(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	cfg := testConfig(t.TempDir(), noSyncFS{})
	cfg.Fsync, cfg.SegmentSize = FsyncNo, 4096
	writeRecords(t, rng, cfg, 100)
	files := segmentFiles(t, cfg.Dir)
	if len(files) < 3 {
		t.Fatalf("only %d segments", len(files))
	}
	for name, tc := range map[string]struct {
		mut    func([]byte) []byte
		offset int64
	}{
		"flipped record":  {func(b []byte) []byte { b[fileHeader+3] ^= 0x40; return b }, fileHeader},
		"flipped header":  {func(b []byte) []byte { b[2] ^= 1; return b }, 0},
		"cut short":       {func(b []byte) []byte { return b[:len(b)-5] }, -1},
		"trailing zeroes": {func(b []byte) []byte { return append(b, make([]byte, 100)...) }, -1},
	} {
		t.Run(name, func(t *testing.T) {
			orig, _ := os.ReadFile(files[1])
			defer os.WriteFile(files[1], orig, 0o644)
			mutate(t, files[1], tc.mut)
			_, _, err := tryOpen(cfg)
			ce := isCorrupt(t, err)
			if ce.File != files[1] || (tc.offset >= 0 && ce.Offset != tc.offset) {
				t.Fatalf("error %v, want %s at %d", err, files[1], tc.offset)
			}
		})
	}
	// Undamaged again, it opens.
	l, _ := openLog(t, cfg)
	l.Close()
}

func TestTornTailShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for name, tc := range map[string]struct {
		mut   func(dir, last string)
		bytes int64
	}{
		// A crash while the next segment was being created.
		"short segment header": {func(dir, last string) {
			os.WriteFile(dir+"/"+segmentName(nextSeq(t, last)), appendFileHeader(nil, segmentMagic, nextSeq(t, last))[:7], 0o644)
		}, 7},
		"zero segment header": {func(dir, last string) {
			os.WriteFile(dir+"/"+segmentName(nextSeq(t, last)), make([]byte, fileHeader), 0o644)
		}, fileHeader},
		// A file system that grew the file but never wrote the data.
		"zeroes after the last record": {func(dir, last string) {
			mutate(t, last, func(b []byte) []byte { return append(b, make([]byte, 8192)...) })
		}, 8192},
		"garbage after the last record": {func(dir, last string) {
			mutate(t, last, func(b []byte) []byte { return append(b, "not a record, not a frame"...) })
		}, 25},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t.TempDir(), noSyncFS{})
			cfg.Fsync = FsyncNo
			recs := writeRecords(t, rng, cfg, 30)
			files := segmentFiles(t, cfg.Dir)
			tc.mut(cfg.Dir, files[len(files)-1])
			l, r, err := tryOpen(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, name, r.log, recs)
			if r.rec.Torn == nil || r.rec.Torn.Bytes != tc.bytes {
				t.Fatalf("torn %+v, want %d bytes dropped", r.rec.Torn, tc.bytes)
			}
			if err := l.Append([]byte("next")); err != nil {
				t.Fatal(err)
			}
			_, r = reopen(t, l, cfg)
			sameRecords(t, "after an append", r.log, append(recs, []byte("next")))
		})
	}
}

func nextSeq(t *testing.T, last string) uint64 {
	seq, ok := parseSeq(last[strings.LastIndex(last, "/")+1:], segmentPrefix, segmentSuffix)
	if !ok {
		t.Fatalf("not a segment: %s", last)
	}
	return seq + 1
}

func TestMissingSegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := testConfig(t.TempDir(), noSyncFS{})
	cfg.Fsync, cfg.SegmentSize = FsyncNo, 4096
	writeRecords(t, rng, cfg, 100)
	files := segmentFiles(t, cfg.Dir)
	for _, i := range []int{len(files) / 2, 0} { // a gap, then a lost beginning
		os.Rename(files[i], files[i]+".away")
		_, _, err := tryOpen(cfg)
		if ce := isCorrupt(t, err); ce.File != files[i] {
			t.Fatalf("missing %s: error names %s", files[i], ce.File)
		}
		os.Rename(files[i]+".away", files[i])
	}
}

func TestRecordAboveMaxIsNotTorn(t *testing.T) {
	cfg := testConfig(t.TempDir(), noSyncFS{})
	cfg.Fsync = FsyncNo
	l, _ := openLog(t, cfg)
	if err := l.Append(make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	cfg.MaxRecord = 100 // the last record is intact but too long now
	_, _, err := tryOpen(cfg)
	if ce := isCorrupt(t, err); !strings.Contains(ce.Reason, "exceeds the maximum") {
		t.Fatalf("reason %q", ce.Reason)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
