package wal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRealDiskFull fills a real 2MiB tmpfs: appends fail with ErrNoSpace,
// a restart finds every acknowledged record and no damage, and appends
// work again once space is freed. It needs root to mount; without it the
// test skips and says so.
func TestRealDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a 2MiB tmpfs here (needs root and mount permission): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "wal")
	cfg := DefaultConfig(dir)
	cfg.SegmentSize = 256 << 10
	cfg.MaxRecord = 64 << 10
	l, _ := openLog(t, cfg)
	rec := make([]byte, 1000)
	acked := 0
	var err error
	for i := 0; i < 4000; i++ { // 4MB would not fit on 2MB
		rec[0], rec[1] = byte(i), byte(i>>8)
		if err = l.Append(rec); err != nil {
			break
		}
		acked++
	}
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d appends: %v, want ErrNoSpace wrapping ENOSPC", acked, err)
	}
	for range 3 {
		if err := l.Append(rec); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("Append on the full disk: %v", err)
		}
	}
	// A crash now: the copy (off the tmpfs) holds exactly what was acknowledged.
	lc, r := openLog(t, testConfig(crashCopy(t, dir), noSyncFS{}))
	lc.Close()
	if len(r.log) != acked || r.rec.Torn != nil {
		t.Fatalf("restart on the full disk: %d records (torn %+v), %d acknowledged", len(r.log), r.rec.Torn, acked)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(rec); err != nil {
		t.Fatalf("Append once space is freed: %v", err)
	}
	_, r = reopen(t, l, cfg)
	if len(r.log) != acked+1 || r.rec.Torn != nil {
		t.Fatalf("after space came back: %d records (torn %+v), want %d", len(r.log), r.rec.Torn, acked+1)
	}
	t.Logf("%d records of %d bytes acknowledged before the tmpfs was full", acked, len(rec))
}
