package leader

import (
	"strings"
	"testing"
	"time"
)

func TestWithDefaultsDerivesFromDeadAfter(t *testing.T) {
	cases := []struct {
		name string
		in   Config
		want Config
	}{
		{
			name: "all zero uses 2s dead-after",
			in:   Config{ID: 7},
			want: Config{ID: 7, DeadAfter: 2 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
				SuspectAfter: time.Second, LeaderLease: 800 * time.Millisecond, ReadLease: 800 * time.Millisecond},
		},
		{
			name: "custom dead-after",
			in:   Config{ID: 1, DeadAfter: 10 * time.Second},
			want: Config{ID: 1, DeadAfter: 10 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
				SuspectAfter: 5 * time.Second, LeaderLease: 4 * time.Second, ReadLease: 4 * time.Second},
		},
		{
			name: "set fields are kept",
			in: Config{ID: 3, DeadAfter: time.Second, HeartbeatInterval: 7 * time.Millisecond,
				SuspectAfter: 11 * time.Millisecond, LeaderLease: 13 * time.Millisecond, ReadLease: 17 * time.Millisecond},
			want: Config{ID: 3, DeadAfter: time.Second, HeartbeatInterval: 7 * time.Millisecond,
				SuspectAfter: 11 * time.Millisecond, LeaderLease: 13 * time.Millisecond, ReadLease: 17 * time.Millisecond},
		},
		{
			name: "only some fields set",
			in:   Config{ID: 3, DeadAfter: time.Second, LeaderLease: 100 * time.Millisecond},
			want: Config{ID: 3, DeadAfter: time.Second, HeartbeatInterval: 50 * time.Millisecond,
				SuspectAfter: 500 * time.Millisecond, LeaderLease: 100 * time.Millisecond, ReadLease: 400 * time.Millisecond},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in.WithDefaults()
			if got != c.want {
				t.Fatalf("WithDefaults(%+v) = %+v, want %+v", c.in, got, c.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("defaults do not validate: %v", err)
			}
			if again := got.WithDefaults(); again != got {
				t.Fatalf("WithDefaults is not idempotent: %+v then %+v", got, again)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig(5, 4*time.Second)
	want := Config{ID: 5, DeadAfter: 4 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		SuspectAfter: 2 * time.Second, LeaderLease: 1600 * time.Millisecond, ReadLease: 1600 * time.Millisecond}
	if c != want {
		t.Fatalf("DefaultConfig = %+v, want %+v", c, want)
	}
	// The documented margin: both leases together leave a fifth of
	// dead-after to spare.
	if (c.LeaderLease+c.ReadLease)*5 != c.DeadAfter*4 {
		t.Fatalf("leases %v + %v are not 4/5 of %v", c.LeaderLease, c.ReadLease, c.DeadAfter)
	}
	e := New(Config{ID: 5, DeadAfter: 4 * time.Second}, time.Unix(0, 0))
	if e.Config() != want {
		t.Fatalf("New did not fill defaults: %+v", e.Config())
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig(1, 2*time.Second)
	mod := func(f func(*Config)) Config {
		c := ok
		f(&c)
		return c
	}
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"defaults", ok, ""},
		{"zero ID", mod(func(c *Config) { c.ID = 0 }), "node ID must not be 0"},
		{"dead-after too short", mod(func(c *Config) {
			c.DeadAfter = 9 * time.Millisecond
			c.HeartbeatInterval = time.Millisecond
			c.SuspectAfter = time.Millisecond
			c.LeaderLease = time.Millisecond
			c.ReadLease = time.Millisecond
		}), "dead-after 9ms is too short"},
		{"dead-after minimum", mod(func(c *Config) {
			c.DeadAfter = 10 * time.Millisecond
			c.HeartbeatInterval = time.Millisecond
			c.SuspectAfter = time.Millisecond
			c.LeaderLease = 4 * time.Millisecond
			c.ReadLease = 4 * time.Millisecond
		}), ""},
		{"zero heartbeat", mod(func(c *Config) { c.HeartbeatInterval = 0 }), "heartbeat interval 0s must be positive"},
		{"negative heartbeat", mod(func(c *Config) { c.HeartbeatInterval = -time.Millisecond }), "heartbeat interval -1ms must be positive"},
		{"heartbeat over half", mod(func(c *Config) { c.HeartbeatInterval = time.Second + 1 }), "at most half of dead-after 2s"},
		{"heartbeat exactly half", mod(func(c *Config) { c.HeartbeatInterval = time.Second }), ""},
		{"zero suspect", mod(func(c *Config) { c.SuspectAfter = 0 }), "suspect-after 0s must be in (0, dead-after 2s]"},
		{"negative suspect", mod(func(c *Config) { c.SuspectAfter = -1 }), "suspect-after -1ns must be in"},
		{"suspect over dead-after", mod(func(c *Config) { c.SuspectAfter = 2*time.Second + 1 }), "suspect-after 2.000000001s must be in"},
		{"suspect equals dead-after", mod(func(c *Config) { c.SuspectAfter = 2 * time.Second }), ""},
		{"zero leader lease", mod(func(c *Config) { c.LeaderLease = 0 }), "leases must be positive"},
		{"zero read lease", mod(func(c *Config) { c.ReadLease = 0 }), "leases must be positive"},
		{"negative read lease", mod(func(c *Config) { c.ReadLease = -1 }), "leases must be positive"},
		{"leases too long", mod(func(c *Config) { c.ReadLease = 800*time.Millisecond + 1 }), "plus read lease 800.000001ms must stay within 4/5 of dead-after 2s"},
		{"leases exactly 4/5", mod(func(c *Config) { c.LeaderLease = 1200 * time.Millisecond; c.ReadLease = 400 * time.Millisecond }), ""},
		// The first failing rule is the one reported.
		{"first error wins", Config{}, "node ID must not be 0"},
		{"zero config with ID", Config{ID: 1}, "dead-after 0s is too short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate(%+v) = %v, want nil", c.cfg, err)
			case c.want != "" && err == nil:
				t.Fatalf("Validate(%+v) = nil, want an error containing %q", c.cfg, c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("Validate(%+v) = %q, want it to contain %q", c.cfg, err, c.want)
			case err != nil && !strings.HasPrefix(err.Error(), "leader: "):
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}
