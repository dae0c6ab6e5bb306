package kv

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestVersionCompare(t *testing.T) {
	vs := []Version{{0, 0}, {0, 1}, {0, math.MaxUint64}, {1, 0}, {1, 5}, {2, 0}, {math.MaxUint64, math.MaxUint64}}
	for i, a := range vs {
		for j, b := range vs {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
		}
	}
	if !(Version{}).IsZero() || (Version{0, 1}).IsZero() || (Version{1, 0}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func TestVersionStringRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vs := []Version{{}, {1, 2}, {math.MaxUint64, 0}, {0, math.MaxUint64}, {math.MaxUint64, math.MaxUint64}}
	for range 1000 {
		vs = append(vs, Version{r.Uint64() >> r.IntN(64), r.Uint64() >> r.IntN(64)})
	}
	for _, v := range vs {
		got, err := ParseVersion(v.String())
		if err != nil || got != v {
			t.Fatalf("ParseVersion(%q) = %v, %v; want %v", v.String(), got, err, v)
		}
	}
	if s := (Version{Term: 3, Seq: 17}).String(); s != "3.17" {
		t.Errorf("String = %q, want 3.17", s)
	}
}

func TestParseVersionMalformed(t *testing.T) {
	for _, s := range []string{
		"", "1", "a.b", "1.b", "a.1", "1.2.3", "-1.2", "1.-2", "+1.2", ".", "1.", ".2",
		" 1.2", "1.2 ", "1,2", "0x1.2", "1_0.2",
		"18446744073709551616.1", "1.18446744073709551616", "99999999999999999999.0",
	} {
		if v, err := ParseVersion(s); err == nil || !errors.Is(err, ErrBadVersion) {
			t.Errorf("ParseVersion(%q) = %v, %v; want ErrBadVersion", s, v, err)
		}
	}
	if v, err := ParseVersion("18446744073709551615.18446744073709551615"); err != nil ||
		v != (Version{math.MaxUint64, math.MaxUint64}) {
		t.Errorf("max version: %v, %v", v, err)
	}
}
