package readings

import (
	"errors"
	"testing"
	"time"
)

func TestKeysRoundTripAndSortByTime(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.FixedZone("x", 3600))
	r := Reading{Site: "site-a", Room: "lab", Sensor: "temperature-1", Kind: "temperature", Value: 21.5, Unit: "°C", At: at}
	if k := r.Key(); k != "sensors/site-a/lab/temperature-1/2026-03-04T04:06:07.008Z" {
		t.Fatalf("key %q", k)
	}
	s, got, err := ParseKey(r.Key())
	if err != nil || s != (Sensor{"site-a", "lab", "temperature-1"}) || !got.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("ParseKey: %+v %v %v", s, got, err)
	}
	later := r
	later.At = at.Add(995 * time.Millisecond)
	if !(r.Key() < later.Key()) {
		t.Fatalf("%s sorts after %s", r.Key(), later.Key())
	}
	back, err := Decode(r.Encode())
	if err != nil || back.Value != 21.5 || !back.At.Equal(at) {
		t.Fatalf("Decode: %+v %v", back, err)
	}
	for _, bad := range []string{"other/a/b/c/d", "sensors/a/b/c", "sensors/a/b/c/not-a-time", "sensors//b/c/2026-03-04T04:06:07.008Z"} {
		if _, _, err := ParseKey(bad); !errors.Is(err, ErrNotReading) {
			t.Errorf("ParseKey(%q): %v", bad, err)
		}
	}
	if _, err := ParseSensor("a/b"); err == nil {
		t.Error("ParseSensor of two parts")
	}
}
