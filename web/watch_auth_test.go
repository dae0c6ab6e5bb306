package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/web"
)

// guardOf returns a guard over users given as name:role[:prefix], each
// with the password "<name>-pw".
func guardOf(t *testing.T, users ...string) *auth.Guard {
	t.Helper()
	var file strings.Builder
	for _, u := range users {
		name, rest, _ := strings.Cut(u, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(name + ":" + string(h) + ":" + rest + "\n")
	}
	s, err := auth.Parse(strings.NewReader(file.String()), "users", auth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(s, nil)
}

// noMetrics serves a node through a second handler (the node's own
// registered the HTTP metrics already).
type noMetrics struct{ *node.Node }

func (noMetrics) Metrics() *prometheus.Registry { return nil }

func basicAuth(name, password string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))}}
}

// TestWatchNeedsCredentials runs the watch route of a node with users: no
// credentials is a 401 before any upgrade or watcher slot, Basic and the
// dashboard's session cookie both open it, and a prefix user only sees
// its own keys.
func TestWatchNeedsCredentials(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond})
	n := c.WaitLeader(10 * time.Second)
	h := web.New(noMetrics{n.Node}, web.Config{MaxValue: 1 << 20, Auth: guardOf(t, "admin:readwrite", "app:read:app/")})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/watch"

	_, resp, err := websocket.DefaultDialer.Dial(ws, nil)
	if err == nil || resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("a watch without credentials: %v %v, want 401 with a challenge", err, resp)
	}
	var body web.ErrorBody
	if json.NewDecoder(resp.Body).Decode(&body) != nil || body.Code != "unauthorized" {
		t.Fatalf("401 body %+v", body)
	}
	resp.Body.Close()
	if _, resp, err := websocket.DefaultDialer.Dial(ws, basicAuth("app", "wrong")); err == nil || resp.StatusCode != 401 {
		t.Fatalf("a watch with a wrong password: %v", resp)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(ws+"?prefix=other/", basicAuth("app", "app-pw")); err == nil || resp.StatusCode != 403 {
		t.Fatalf("a prefix user watching elsewhere: %v", resp)
	}
	if live, _ := n.Watchers(); live != 0 {
		t.Fatalf("%d watcher slots taken by refused watches", live)
	}

	// The app user, by Basic, watching everything it may: only app/.
	appConn, _, err := websocket.DefaultDialer.Dial(ws, basicAuth("app", "app-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer appConn.Close()
	// The admin, by session cookie from the login form.
	form := url.Values{"name": {"admin"}, "password": {"admin-pw"}}
	lr, err := http.PostForm(srv.URL+"/ui/login", form)
	if err != nil || lr.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, lr)
	}
	lr.Body.Close()
	var cookie string
	for _, ck := range lr.Cookies() {
		cookie = ck.Name + "=" + ck.Value
	}
	adminConn, _, err := websocket.DefaultDialer.Dial(ws, http.Header{"Cookie": {cookie}})
	if err != nil {
		t.Fatalf("a watch with the session cookie: %v", err)
	}
	defer adminConn.Close()
	c.WaitFor(5*time.Second, "both watches to start", func() bool { live, _ := n.Watchers(); return live == 2 })

	for _, k := range []string{"other/x", "app/y"} {
		if r := n.Do(http.MethodPut, "/v1/kv/"+k, []byte("v")); r.Status != 200 {
			t.Fatalf("put %s: %v", k, r)
		}
	}
	next := func(conn *websocket.Conn) web.WatchMessage {
		t.Helper()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var m web.WatchMessage
			if err := conn.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			if m.Type != "reset" {
				return m
			}
		}
	}
	if m := next(appConn); m.Key != "app/y" {
		t.Fatalf("the app user saw %+v first, want app/y (other/x is not its key)", m)
	}
	if m1, m2 := next(adminConn), next(adminConn); m1.Key != "other/x" || m2.Key != "app/y" {
		t.Fatalf("the admin saw %s then %s", m1.Key, m2.Key)
	}
}

// TestWatcherCapSaysWhy fills the watcher cap: the refusal is a 503 that
// speaks of watchers, not of replicas.
func TestWatcherCapSaysWhy(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 200 * time.Millisecond,
		Configure: func(_ int, cfg *node.Config) { cfg.Watch = node.WatchConfig{MaxWatchers: 1} }})
	n := c.WaitLeader(10 * time.Second)
	srv := httptest.NewServer(n.HTTP)
	defer srv.Close()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/watch"
	first, _, err := websocket.DefaultDialer.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, resp, err := websocket.DefaultDialer.Dial(ws, nil)
	if err == nil || resp.StatusCode != 503 {
		t.Fatalf("past the cap: %v %v", err, resp)
	}
	defer resp.Body.Close()
	var body web.ErrorBody
	if json.NewDecoder(resp.Body).Decode(&body) != nil || !strings.Contains(body.Error, "too many watchers") ||
		strings.Contains(body.Error, "replicas") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the cap: %+v, Retry-After %q; want a message about watchers only", body, resp.Header.Get("Retry-After"))
	}
}
