package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jumpkv/jumpkv/auth"
)

// usersFile writes a users file of name:role[:prefix] entries, each with
// the password "<name>-pw", and returns its content.
func usersFile(t *testing.T, path string, users ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test users\n")
	for _, u := range users {
		name, rest, _ := strings.Cut(u, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		// htpasswd -nbB writes $2y$; bcrypt reads both.
		b.WriteString(name + ":" + strings.Replace(string(h), "$2a$", "$2y$", 1) + ":" + rest + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:8080": true,
		"0.0.0.0:8080": false, "[::]:8080": false, "192.0.2.1:8080": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackOnly(a); got != want {
			t.Errorf("loopbackOnly(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestNoUsersBeyondLoopbackWarns checks the start-up line of a node
// without --users: a warning when its HTTP port listens beyond loopback,
// nothing on loopback, and an info line with --users.
func TestNoUsersBeyondLoopbackWarns(t *testing.T) {
	say := func(guard *auth.Guard, addr string) string {
		var b bytes.Buffer
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		logClientAuth(slog.New(slog.NewTextHandler(&b, nil)), guard, "/etc/jumpkv/users", a)
		return b.String()
	}
	if out := say(nil, "0.0.0.0:8080"); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no --users") ||
		!strings.Contains(out, "every key") {
		t.Errorf("all interfaces without users: %q", out)
	}
	if out := say(nil, "192.0.2.1:8080"); !strings.Contains(out, "no --users") {
		t.Errorf("a public address without users: %q", out)
	}
	if out := say(nil, "127.0.0.1:8080"); out != "" {
		t.Errorf("loopback without users: %q, want nothing", out)
	}
	users, err := auth.Parse(strings.NewReader(""), "users", auth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if out := say(auth.NewGuard(users, nil), "0.0.0.0:8080"); strings.Contains(out, "no --users") || !strings.Contains(out, "client authentication on") {
		t.Errorf("with users: %q", out)
	}
}

// TestUsersFlagErrors checks an unusable --users file stops the node
// before it starts, naming the problem (and the line) but no hash.
func TestUsersFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	content := usersFile(t, bad, "admin:readwrite")
	hash := strings.Split(strings.Split(content, "\n")[1], ":")[1]
	if err := os.WriteFile(bad, []byte(content+"eve:"+hash+":root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"node", "--http", "127.0.0.1:0", "--peer", "127.0.0.1:0", "--advertise", "127.0.0.1"}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"missing file", []string{"--users", filepath.Join(dir, "missing")}, nil, "no such file"},
		{"bad line", []string{"--users", bad}, nil, bad + ":3:"},
		{"from the environment", nil, []string{"JUMPKV_USERS=" + bad}, bad + ":3:"},
	} {
		code, _, stderr := runCmd(t, tc.env, append(base, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--users") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming --users and %q", tc.name, code, stderr, tc.want)
		}
		if strings.Contains(stderr, hash) {
			t.Errorf("%s: the error shows a hash: %q", tc.name, stderr)
		}
	}
}

// TestProcessUsers runs a node process with --users: the health checks
// stay open, other routes answer 401 without credentials, 403 for a role
// that does not allow the request and 200 otherwise; SIGHUP reloads the
// file (a new user works, a removed one does not), a bad file keeps the
// previous users, and no password or hash reaches the log.
func TestProcessUsers(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	usersFile(t, path, "admin:readwrite", "reader:read", "app:readwrite:app/")
	ports := freePorts(t, 2)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := startProc(t, bin, httpAddr, "node", "--http", httpAddr, "--peer", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--advertise", "127.0.0.1", "--dead-after", "1s", "--users", path)
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, _, _ := request(t, "GET", base+"/readyz", nil); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never became ready:\n%s", p.out)
		}
		time.Sleep(100 * time.Millisecond) // polling a real process
	}
	waitLog(t, p, 5*time.Second, "client authentication on", "users=3")
	if strings.Contains(p.out.String(), "no --users") {
		t.Error("a node with --users warned that it has none")
	}

	type check struct {
		method, path, user string
		status             int
	}
	run := func(stage string, checks []check) {
		t.Helper()
		for _, c := range checks {
			var hdr []string
			if c.user != "" {
				hdr = []string{"Authorization", "Bearer " + c.user + ":" + c.user + "-pw"}
			}
			st, h, b := request(t, c.method, base+c.path, []byte("v"), hdr...)
			if st != c.status {
				t.Errorf("%s: %s %s as %q: %d %s, want %d", stage, c.method, c.path, c.user, st, b, c.status)
			}
			if st == 401 && h.Get("WWW-Authenticate") != `Basic realm="jumpkv"` {
				t.Errorf("%s: 401 with WWW-Authenticate %q", stage, h.Get("WWW-Authenticate"))
			}
		}
	}
	run("start", []check{
		{"GET", "/healthz", "", 200},
		{"GET", "/v1/kv/k", "", 401},
		{"PUT", "/v1/kv/k", "", 401},
		{"GET", "/v1/cluster", "", 401},
		{"PUT", "/v1/kv/k", "admin", 200},
		{"GET", "/v1/kv/k", "reader", 200},
		{"PUT", "/v1/kv/k", "reader", 403},
		{"PUT", "/v1/kv/app/x", "app", 200},
		{"PUT", "/v1/kv/k", "app", 403},
		{"GET", "/v1/kv/k", "newbie", 401},
	})

	// Reload: reader goes, newbie comes, app may now write anywhere.
	usersFile(t, path, "admin:readwrite", "app:readwrite", "newbie:read")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, 10*time.Second, "SIGHUP: users file reloaded", "users=3")
	run("after a reload", []check{
		{"GET", "/v1/kv/k", "reader", 401},
		{"GET", "/v1/kv/k", "newbie", 200},
		{"PUT", "/v1/kv/k", "newbie", 403},
		{"PUT", "/v1/kv/k", "app", 200},
	})

	// A bad file: the node says so and keeps the users it has.
	if err := os.WriteFile(path, []byte("admin:not-a-hash:readwrite\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, 10*time.Second, "users file not reloaded", path+":1:")
	run("after a bad reload", []check{
		{"GET", "/v1/kv/k", "newbie", 200},
		{"PUT", "/v1/kv/k", "admin", 200},
		{"GET", "/v1/kv/k", "", 401},
	})

	out := p.out.String()
	for _, secret := range []string{"admin-pw", "reader-pw", "newbie-pw", "not-a-hash", "$2y$"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
	p.stop(t)
}

// TestHangupWithoutUsersKeepsRunning: a node without --users gets SIGHUP
// (a service manager's reload): it logs that there is nothing to reload
// and goes on serving. Left to Go's default, SIGHUP ended the process.
func TestHangupWithoutUsersKeepsRunning(t *testing.T) {
	ports := freePorts(t, 2)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := startProc(t, binary(t), httpAddr, "node", "--http", httpAddr, "--peer", "127.0.0.1:"+strconv.Itoa(ports[1]))
	waitCluster(t, []*proc{p}, 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, 10*time.Second, "SIGHUP: nothing to reload")
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the node exited on SIGHUP: %v", err)
	default:
	}
	if st, _, b := request(t, "PUT", "http://"+httpAddr+"/v1/kv/after-hup", []byte("v")); st != 200 {
		t.Fatalf("PUT after SIGHUP: %d %s", st, b)
	}
}
