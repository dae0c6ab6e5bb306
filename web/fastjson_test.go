package web

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWriteResultJSONMatchesEncodingJSON(t *testing.T) {
	keys := []string{"", "plain", "a/b/c", "café", "日本語/キー", `quote"back\slash`, "<script>&amp;</script>",
		"\x00\x01\x1f\n\r\t\x7f", "line\u2028sep\u2029", "bad\xffutf8\xc3", strings.Repeat("é", 600)}
	for _, k := range keys {
		want, err := json.Marshal(writeResult{Key: k, Version: "1795287197660544.7"})
		if err != nil {
			t.Fatal(err)
		}
		if got := writeResultJSON(k, "1795287197660544.7"); string(got) != string(want) {
			t.Errorf("key %q:\n got %s\nwant %s", k, got, want)
		}
	}
}

func FuzzWriteResultJSON(f *testing.F) {
	f.Add("a/b", "1.2")
	f.Add("\u2028<&>\xff", "")
	f.Fuzz(func(t *testing.T, key, version string) {
		want, _ := json.Marshal(writeResult{Key: key, Version: version})
		if got := writeResultJSON(key, version); string(got) != string(want) {
			t.Fatalf("%q %q:\n got %s\nwant %s", key, version, got, want)
		}
	})
}
