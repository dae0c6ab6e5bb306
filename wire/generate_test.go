package wire

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeUpToDate runs the msgp go:generate line of
// fastmessages.go into a temporary directory and checks that the result
// is the committed fastmessages_gen.go: a message changed without running
// go generate ./wire fails here (kv has the same test for kv_gen.go).
func TestGeneratedCodeUpToDate(t *testing.T) {
	checkGenerated(t, "fastmessages.go")
}

// checkGenerated regenerates what the "//go:generate go tool msgp" line of
// source writes, with the same arguments but the output in a temporary
// directory, and compares it with the committed file.
func checkGenerated(t *testing.T, source string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH (%v): cannot regenerate %s to compare", err, source)
	}
	src, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:generate go tool msgp "); ok {
			args = strings.Fields(rest)
		}
	}
	out := -1
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			out = i + 1
		}
	}
	if out < 0 {
		t.Fatalf("%s has no //go:generate go tool msgp line with -o", source)
	}
	committed := args[out]
	fresh := filepath.Join(t.TempDir(), committed)
	args[out] = fresh
	cmd := exec.Command(goCmd, append([]string{"tool", "msgp"}, args...)...)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool msgp %s: %v\n%s", strings.Join(args, " "), err, output)
	}
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is not what go tool msgp generates from %s now: run go generate in this package and commit the result",
			committed, source)
	}
}
