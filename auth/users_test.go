package auth

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jumpkv/jumpkv/wire"
)

// aliceHtpasswd is what `htpasswd -nbB alice s3cret` printed (Apache 2.4).
const aliceHtpasswd = "alice:$2y$05$kw9HO1Rvw5ujpQzMWkfrbOcZMFWNB4h3C.tIkeZn2NGAxu4DOjc0i"

// hashOf returns a bcrypt hash of password at cost.
func hashOf(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// writeFile writes a users file in a test directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParse(t *testing.T, content string) *Users {
	t.Helper()
	u, err := Parse(strings.NewReader(content), "users", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestParseUsersFile reads a file with comments, blank lines, CRLF line
// ends, both roles and prefixes (one holding a colon).
func TestParseUsersFile(t *testing.T) {
	bob := hashOf(t, "hunter2", bcrypt.MinCost)
	file := "# the users of the test cluster\n\n" +
		aliceHtpasswd + ":readwrite\r\n" +
		"   # indented comment\n" +
		"bob:" + bob + ":read:sensors/\n" +
		"carol:" + bob + ":readwrite:app:v2/\n"
	s := mustParse(t, file)
	if s.Len() != 3 {
		t.Fatalf("%d users, want 3", s.Len())
	}
	for _, tc := range []struct {
		name, password, prefix string
		role                   Role
	}{
		{"alice", "s3cret", "", RoleReadWrite},
		{"bob", "hunter2", "sensors/", RoleRead},
		{"carol", "hunter2", "app:v2/", RoleReadWrite},
	} {
		u, err := s.Authenticate(tc.name, tc.password)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if u.Name != tc.name || u.Role != tc.role || u.Prefix != tc.prefix {
			t.Fatalf("%s: got %+v, want role %v prefix %q", tc.name, u, tc.role, tc.prefix)
		}
	}
}

// TestParseErrorsNameTheLineNotTheHash checks each kind of bad line: the
// error names the file and line and never shows the hash field.
func TestParseErrorsNameTheLineNotTheHash(t *testing.T) {
	good := hashOf(t, "pw", bcrypt.MinCost)
	cost31 := strings.Replace(good, "$04$", "$31$", 1)
	for _, tc := range []struct {
		line, want, secret string
	}{
		{"alice", "want name:bcrypt-hash:role", ""},
		{"alice:" + good, "want name:bcrypt-hash:role", good},
		{":" + good + ":read", "empty user name", good},
		{"al ice:" + good + ":read", "spaces", good},
		{"alice:plaintext-password:read", "not bcrypt", "plaintext-password"},
		{"alice:$2y$05$short:read", "malformed", "$2y$05$short"},
		{"alice:" + cost31 + ":read", "cost 31", cost31},
		{"alice:" + good + ":admin", `role "admin"`, good},
		{"alice:" + good + ":", "want read or readwrite", good},
	} {
		file := "# header\n\nbob:" + good + ":read\n" + tc.line + "\n"
		_, err := Parse(strings.NewReader(file), "users.txt", DefaultConfig())
		if err == nil {
			t.Errorf("%q: accepted", tc.line)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrBadFile) || !strings.Contains(msg, "users.txt:4:") || !strings.Contains(msg, tc.want) {
			t.Errorf("%q: error %q, want ErrBadFile naming users.txt:4 and %q", tc.line, msg, tc.want)
		}
		if tc.secret != "" && strings.Contains(msg, tc.secret) {
			t.Errorf("%q: the error shows the hash field: %q", tc.line, msg)
		}
	}
	_, err := Parse(strings.NewReader("bob:"+good+":read\nbob:"+good+":readwrite\n"), "f", DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "f:2:") || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate user: %v", err)
	}
	_, err = Parse(strings.NewReader("bob:"+good+":read\n"+strings.Repeat("x", maxLineBytes+10)+"\n"), "f", DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "f:2:") {
		t.Errorf("overlong line: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), DefaultConfig()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestHtpasswdHashes checks $2y$ hashes as htpasswd prints them: the one
// recorded above, and a fresh one when htpasswd is installed.
func TestHtpasswdHashes(t *testing.T) {
	s := mustParse(t, aliceHtpasswd+":read\n")
	if _, err := s.Authenticate("alice", "s3cret"); err != nil {
		t.Fatalf("the recorded htpasswd hash: %v", err)
	}
	if _, err := s.Authenticate("alice", "s3cret "); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a wrong password: %v", err)
	}
	bin, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Log("htpasswd not installed (apache2-utils): checked only the recorded hash")
		return
	}
	out, err := exec.Command(bin, "-nbB", "-C", "4", "dave", "pässwörd:with colon").Output()
	if err != nil {
		t.Fatal(err)
	}
	s = mustParse(t, strings.TrimSpace(string(out))+":readwrite:d/\n")
	if u, err := s.Authenticate("dave", "pässwörd:with colon"); err != nil || u.Prefix != "d/" {
		t.Fatalf("a fresh htpasswd hash: %v %v", u, err)
	}
}

// TestAllowsAndScope checks roles and prefixes.
func TestAllowsAndScope(t *testing.T) {
	r := &User{Name: "r", Role: RoleRead}
	rw := &User{Name: "rw", Role: RoleReadWrite}
	pr := &User{Name: "pr", Role: RoleRead, Prefix: "app/"}
	prw := &User{Name: "prw", Role: RoleReadWrite, Prefix: "app/"}
	var none *User
	for _, tc := range []struct {
		u     *User
		key   string
		write bool
		want  bool
	}{
		{r, "x", false, true}, {r, "x", true, false},
		{rw, "x", false, true}, {rw, "x", true, true},
		{pr, "app/x", false, true}, {pr, "app/x", true, false}, {pr, "other", false, false},
		{prw, "app/x", true, true}, {prw, "app/", true, true}, {prw, "app", true, false}, {prw, "apps/x", false, false},
		{none, "x", false, false}, {&User{Name: "zero"}, "x", false, false},
	} {
		if got := tc.u.Allows(tc.key, tc.write); got != tc.want {
			t.Errorf("%v Allows(%q, write=%v) = %v, want %v", tc.u, tc.key, tc.write, got, tc.want)
		}
	}
	for _, tc := range []struct {
		u      *User
		prefix string
		want   string
		ok     bool
	}{
		{r, "", "", true}, {r, "a/", "a/", true},
		{pr, "", "app/", true}, {pr, "ap", "app/", true}, {pr, "app/x/", "app/x/", true},
		{pr, "b/", "", false}, {pr, "apq", "", false}, {none, "", "", false},
	} {
		got, ok := tc.u.Scope(tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v Scope(%q) = %q, %v; want %q, %v", tc.u, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReloadKeepsTheOldSetOnABadFile reloads a bad file (the old users
// keep working), then a good one without alice (her cached login stops
// working at once) and with bob's password changed.
func TestReloadKeepsTheOldSetOnABadFile(t *testing.T) {
	h1 := hashOf(t, "one", bcrypt.MinCost)
	path := writeFile(t, "alice:"+h1+":readwrite\nbob:"+h1+":read\n")
	s, err := Load(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "one"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("alice:"+h1+":superuser\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("reloading a bad file: %v, want an error naming line 1", err)
	}
	for _, name := range []string{"alice", "bob"} {
		if _, err := s.Authenticate(name, "one"); err != nil {
			t.Fatalf("%s after a failed reload: %v", name, err)
		}
	}
	if err := s.Reload(filepath.Join(t.TempDir(), "gone")); err == nil || s.Len() != 2 {
		t.Fatalf("reloading a missing file: %v, %d users", err, s.Len())
	}
	h2 := hashOf(t, "two", bcrypt.MinCost)
	if err := os.WriteFile(path, []byte("bob:"+h2+":readwrite:b/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("alice", "one"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a removed user: %v", err)
	}
	if _, err := s.Authenticate("bob", "one"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("bob's old password: %v", err)
	}
	if u, err := s.Authenticate("bob", "two"); err != nil || u.Role != RoleReadWrite || u.Prefix != "b/" {
		t.Fatalf("bob's new password: %+v %v", u, err)
	}
}

// TestUnknownNameCostsLikeAWrongPassword times both failures: an unknown
// name must pay a bcrypt comparison too, within the same order of
// magnitude as a wrong password (it answers in microseconds otherwise).
func TestUnknownNameCostsLikeAWrongPassword(t *testing.T) {
	s := mustParse(t, "alice:"+hashOf(t, "right", 5)+":read\n")
	median := func(name string) time.Duration {
		var d []time.Duration
		for range 7 {
			start := time.Now()
			if _, err := s.Authenticate(name, "wrong"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("%s: %v", name, err)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	wrong, unknown := median("alice"), median("mallory")
	t.Logf("wrong password %v, unknown name %v (medians of 7)", wrong, unknown)
	if ratio := float64(unknown) / float64(wrong); ratio < 1.0/3 || ratio > 3 {
		t.Fatalf("an unknown name costs %v, a wrong password %v: want the same order of magnitude", unknown, wrong)
	}
}

// TestErrorsMapToWireSentinels checks what fronts test against.
func TestErrorsMapToWireSentinels(t *testing.T) {
	if !errors.Is(ErrBadCredentials, wire.ErrUnauthorized) || !errors.Is(ErrNoCredentials, wire.ErrUnauthorized) {
		t.Fatal("credential errors must be wire.ErrUnauthorized")
	}
	var err error = &RateLimitError{RetryAfter: 3 * time.Second}
	if !errors.Is(err, wire.ErrRateLimited) || !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "3s") {
		t.Fatalf("rate limit error %v", err)
	}
	if msg := fmt.Sprint(ErrBadCredentials); strings.Contains(msg, "name is") || strings.Contains(msg, "password is") {
		t.Fatalf("the credential error says which part was wrong: %q", msg)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{{CacheTTL: -1}, {CacheTTL: time.Minute}, {CacheTTL: 2 * time.Hour, CacheEntries: 1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := DefaultLimiterConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []LimiterConfig{{Burst: 0, Refill: 1, MaxClients: 1}, {Burst: 1, MaxClients: 1}, {Burst: 1, Refill: 1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
