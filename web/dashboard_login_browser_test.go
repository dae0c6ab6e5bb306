//go:build browser

package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/web"
)

// TestDashboardLoginInBrowser serves the dashboard of a node with users in
// headless Chromium: the page opens its login form (not the browser's
// password dialog), refuses a wrong password with the node's words, then
// logs in with the session cookie, shows the cluster, the live feed and a
// write through the page, and logs out. (It once failed because the
// charts fetched /metrics without the dashboard's header: the node's Basic
// challenge opened the browser's own password dialog, which took every
// click.)
func TestDashboardLoginInBrowser(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1, DeadAfter: 500 * time.Millisecond})
	n := c.WaitLeader(20 * time.Second)
	h := web.New(noMetrics{n.Node}, web.Config{MaxValue: 1 << 20, Auth: guardOf(t, "admin:readwrite")})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	p := openBrowser(t)
	p.do("open the dashboard", 20*time.Second, chromedp.Navigate(srv.URL+"/"))
	p.waitJS("the login form open", `document.getElementById('login').open && document.getElementById('who').hidden`, 10*time.Second)

	login := func(password string) {
		p.do("fill in the login form", 5*time.Second,
			chromedp.SetValue(chromedp.ID("login-name"), "admin"),
			chromedp.SetValue(chromedp.ID("login-password"), password),
			chromedp.Click(chromedp.ID("login-submit")))
	}
	login("wrong")
	p.waitJS("a wrong password refused", `document.getElementById('login').open &&
		document.getElementById('login-status').textContent.includes('401')`, 10*time.Second)
	login("admin-pw")
	p.waitJS("logged in", `!document.getElementById('login').open &&
		document.getElementById('who-name').textContent === 'admin (readwrite)'`, 10*time.Second)
	p.waitJS("the cluster shown", `document.querySelectorAll('#nodes tbody tr[data-id]').length === 1`, 10*time.Second)
	p.waitJS("the live feed connected", `document.getElementById('feed-status').textContent === 'live'`, 10*time.Second)
	p.write("dash/logged-in", "written by admin", "text/plain")
	p.waitJS("the write in the live feed", `[...document.querySelectorAll('#feed li')].some(li =>
		li.dataset.type === 'put' && li.dataset.key === 'dash/logged-in')`, 10*time.Second)
	if r := n.Do(http.MethodGet, "/v1/kv/dash/logged-in", nil); r.Status != 200 || string(r.Body) != "written by admin" {
		t.Fatalf("the write through the page: %v", r)
	}

	p.do("log out", 5*time.Second, chromedp.Click(chromedp.ID("logout")))
	p.waitJS("logged out", `document.getElementById('login').open && document.getElementById('who').hidden`, 10*time.Second)
	p.do("reload", 20*time.Second, chromedp.Reload())
	p.waitJS("the login form again after a reload", `document.getElementById('login').open`, 10*time.Second)
	p.checkErrors()
}
