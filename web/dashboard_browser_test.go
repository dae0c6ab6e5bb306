//go:build browser

// The browser test of the dashboard drives headless Chromium, so it is
// built only with -tags browser (.ci/run installs Chromium and runs it):
//
//	go test -race -tags browser -run Dashboard ./web
//
// Add -artifacts -outputdir DIR to keep the screenshot it takes.

package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/shard"
)

// TestDashboardInBrowser runs a 3-node cluster in process, serves node 0's
// HTTP handler on a real socket and drives the dashboard in headless
// Chromium: it shows the 3 nodes and the leader, a key written through the
// page shows in the live feed and in the key browser (and reads back
// through the API as written), the feed resumes with &since after its
// WebSocket drops, folders open, a delete through the page lands, and a
// killed leader shows as dead within --dead-after plus 2s, with the new
// leader shown after it. It saves a screenshot as a test artifact.
func TestDashboardInBrowser(t *testing.T) {
	const deadAfter = 2 * time.Second
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, DeadAfter: deadAfter})
	leader := c.WaitLeader(20 * time.Second)
	n0 := c.Node(0)
	if leader == n0 {
		t.Fatalf("node 0 leads; the test serves the page from a follower")
	}
	watches := &watchTracker{h: n0.HTTP}
	srv := httptest.NewServer(watches)
	t.Cleanup(srv.Close)

	put := func(key, value, contentType string) {
		t.Helper()
		if r := n0.Do(http.MethodPut, "/v1/kv/"+escapeKey(key), []byte(value), "Content-Type", contentType); r.Status != http.StatusOK {
			t.Fatalf("put %s: %v", key, r)
		}
	}
	put("sensors/room1/temp", "21.5", "text/plain")
	put("sensors/room2/temp", "19.0", "text/plain")
	put("config/app.json", `{"replicas":"auto","log":"info"}`, "application/json")
	put("bin/blob", string([]byte{0, 1, 2, 0xfe, 0xff, 'j', 'k', 'v'}), "application/octet-stream")
	for i := range 250 { // more than a listing page (200) in one folder
		put(fmt.Sprintf("big/k%03d", i), "v", "text/plain")
	}
	put("big2/x", "v", "text/plain")

	p := openBrowser(t)
	start := time.Now()
	p.do("open the dashboard", 20*time.Second, chromedp.Navigate(srv.URL+"/"))

	// The nodes, the leader and the serving node.
	leaderID, selfID := idText(leader.ID()), idText(n0.ID())
	p.waitJS("3 alive nodes, the leader and the serving node shown", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('#nodes tbody tr[data-id]')];
		return rows.length === 3 && rows.every(r => r.dataset.state === 'alive') &&
			rows.filter(r => r.dataset.role === 'leader').map(r => r.dataset.id).join() === %[1]s &&
			document.getElementById('sum-leader').dataset.id === %[1]s &&
			document.getElementById('sum-self').dataset.id === %[2]s &&
			document.querySelector('#nodes tr.self')?.dataset.id === %[2]s;
	})()`, js(leaderID), js(selfID)), 10*time.Second)
	p.waitJS("the bucket map: 64 cells colored by primary, a legend of 3 nodes", `(() => {
		const cells = document.querySelectorAll('#bucket-grid .cell');
		return cells.length === 64 && [...cells].every(c => c.style.backgroundColor && c.querySelectorAll('.stripes i').length === 1) &&
			document.querySelectorAll('#legend .legend-item').length === 3;
	})()`, 10*time.Second)
	p.waitJS("the live feed connected", `document.getElementById('feed-status').textContent === 'live'`, 10*time.Second)
	t.Logf("dashboard up after %v", time.Since(start).Round(time.Millisecond))

	// A key written through the page: the feed, the key browser, the API.
	const key, value = "dash/room 1/café", "hello from the browser ✓"
	p.write(key, value, "text/plain; charset=utf-8")
	p.waitJS("the write in the live feed", fmt.Sprintf(`[...document.querySelectorAll('#feed li')].some(li =>
		li.dataset.type === 'put' && li.dataset.key === %s && li.querySelector('.val')?.textContent === %s)`, js(key), js(value)), 10*time.Second)
	p.waitJS("the key in the key browser, read back", fmt.Sprintf(`(() => {
		const entry = [...document.querySelectorAll('#keylist button.key')].find(b => b.dataset.key === %[1]s);
		return entry && document.querySelector('#crumbs [aria-current]')?.textContent === 'room 1/' &&
			document.querySelector('#view .open-key')?.textContent === %[1]s &&
			document.getElementById('value-text')?.textContent === %[2]s &&
			document.querySelector('#view .ctype')?.textContent === 'text/plain; charset=utf-8';
	})()`, js(key), js(value)), 10*time.Second)
	if r := n0.Do(http.MethodGet, "/v1/kv/"+escapeKey(key), nil); r.Status != http.StatusOK || string(r.Body) != value ||
		r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("the key written through the page reads back as %v (Content-Type %q)", r, r.Header.Get("Content-Type"))
	}
	// Edit with If-Match: a write over the version edited lands; one over
	// a version changed meanwhile is refused, and the page says why.
	const edited, changed = "edited in the page", "changed elsewhere"
	p.do("edit", 5*time.Second, chromedp.Click(chromedp.ID("v-edit")),
		chromedp.SetValue(chromedp.ID("w-value"), edited), chromedp.Click(chromedp.ID("w-put")))
	p.waitJS("the conditional write done and read back", fmt.Sprintf(`document.getElementById('w-status').className === 'status ok' &&
		document.getElementById('value-text')?.textContent === %s`, js(edited)), 10*time.Second)
	p.do("edit again", 5*time.Second, chromedp.Click(chromedp.ID("v-edit")))
	p.waitJS("If-Match chosen", `document.getElementById('w-cond').value === 'match'`, 5*time.Second)
	put(key, changed, "text/plain; charset=utf-8")
	p.do("write over a changed version", 5*time.Second,
		chromedp.SetValue(chromedp.ID("w-value"), "a stale edit"), chromedp.Click(chromedp.ID("w-put")))
	p.waitJS("the stale write refused", `document.getElementById('w-status').className === 'status bad' &&
		document.getElementById('w-status').textContent.includes('412')`, 10*time.Second)
	if r := n0.Do(http.MethodGet, "/v1/kv/"+escapeKey(key), nil); string(r.Body) != changed {
		t.Fatalf("after a refused If-Match write through the page: %v", r)
	}

	// Keys whose segments are dot segments would be resolved away by the
	// browser's URL parser: the page encodes them whole.
	if got := p.evalString(`[jumpkvDashboard.encKey('a/../b'), jumpkvDashboard.encKey('a b/c%/d')].join(' ')`); got != "a%2F..%2Fb a%20b/c%25/d" {
		t.Errorf("encKey: %q", got)
	}

	// The WebSocket drops: the page reconnects with &since=<last version>
	// and shows what changed after it.
	last := p.evalString(`jumpkvDashboard.feed.last`)
	newest := p.evalString(`document.querySelector('#feed li[data-version]').dataset.version`)
	if last == "" || last != newest {
		t.Fatalf("the feed's last version %q, its newest row's %q", last, newest)
	}
	before := watches.dropAll()
	p.waitJS("the feed reconnected after the drop", fmt.Sprintf(`[...document.querySelectorAll('#feed li.ev-system')].some(li =>
		li.textContent.includes('resuming after version ' + %s))`, js(last)), 10*time.Second)
	if q := watches.queriesFrom(before); !slices.ContainsFunc(q, func(q url.Values) bool { return q.Get("since") == last }) {
		t.Fatalf("no watch reconnected with since=%s: %v", last, q)
	}
	put("dash/after-reconnect", "still here", "text/plain")
	p.waitJS("a change after the reconnect in the feed", `[...document.querySelectorAll('#feed li')].some(li =>
		li.dataset.type === 'put' && li.dataset.key === 'dash/after-reconnect')`, 10*time.Second)

	// Folders from the top, and a binary value.
	p.do("go to all keys", 5*time.Second, chromedp.Click(chromedp.CSS(`#crumbs button[data-prefix=""]`)))
	p.waitJS("the top folders", `['big/', 'big2/', 'bin/', 'config/', 'dash/', 'sensors/'].every(f =>
		document.querySelector('#keylist button.folder[data-folder="' + f + '"]'))`, 10*time.Second)
	// The page ended inside big/: the listing skipped the rest of it.
	if lists := watches.lists(); !slices.ContainsFunc(lists, func(q url.Values) bool { return q.Get("prefix") == "" && q.Get("after") == "big/\xff" }) {
		t.Errorf("no listing skipped past the folder big/ (after=big/%%FF): %v", lists)
	}
	p.do("open dash/", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-folder="dash/"]`)))
	p.waitJS("dash/ listed", `document.querySelector('#keylist button.folder[data-folder="dash/room 1/"]') &&
		document.querySelector('#keylist button.key[data-key="dash/after-reconnect"]') &&
		!document.querySelector('#keylist button[data-folder="sensors/"]')`, 10*time.Second)
	p.do("go to all keys", 5*time.Second, chromedp.Click(chromedp.CSS(`#crumbs button[data-prefix=""]`)))
	p.do("open bin/", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-folder="bin/"]`)))
	p.do("open bin/blob", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-key="bin/blob"]`)))
	p.waitJS("the binary value as hex", `document.getElementById('value-hex')?.textContent.startsWith('000000  00 01 02 fe ff 6a 6b 76')`, 10*time.Second)

	// Delete through the page (the button asks twice).
	p.do("go to all keys", 5*time.Second, chromedp.Click(chromedp.CSS(`#crumbs button[data-prefix=""]`)))
	p.do("open dash/", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-folder="dash/"]`)))
	p.do("open dash/room 1/", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-folder="dash/room 1/"]`)))
	p.do("open the key", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-key="dash/room 1/café"]`)))
	p.waitJS("the key open", fmt.Sprintf(`document.getElementById('value-text')?.textContent === %s`, js(changed)), 10*time.Second)
	p.do("delete", 5*time.Second, chromedp.Click(chromedp.ID("v-delete")), chromedp.Click(chromedp.ID("v-delete")))
	p.waitJS("the delete done, in the feed, gone from the listing", fmt.Sprintf(`(() =>
		document.getElementById('w-status').textContent === 'deleted ' + %[1]s &&
		[...document.querySelectorAll('#feed li')].some(li => li.dataset.type === 'delete' && li.dataset.key === %[1]s) &&
		![...document.querySelectorAll('#keylist button.key')].some(b => b.dataset.key === %[1]s) &&
		document.querySelector('#view [data-status="404"]'))()`, js(key)), 10*time.Second)
	if r := n0.Do(http.MethodGet, "/v1/kv/"+escapeKey(key), nil); r.Status != http.StatusNotFound {
		t.Fatalf("after the delete through the page: %v", r)
	}

	// The leader dies: the page shows it dead within --dead-after plus 2s,
	// then the new leader, with no reload.
	killed := time.Now()
	c.Kill(leader.Index)
	p.waitJS("the killed leader shown dead", fmt.Sprintf(`document.querySelector('#nodes tr[data-id=%s]')?.dataset.state === 'dead'`,
		js(leaderID)), deadAfter+2*time.Second-time.Since(killed))
	t.Logf("the killed leader showed as dead %v after the kill (bound %v)", time.Since(killed).Round(time.Millisecond), deadAfter+2*time.Second)
	next := c.WaitLeader(15 * time.Second)
	p.waitJS("the new leader shown", fmt.Sprintf(`document.getElementById('sum-leader').dataset.id === %[1]s &&
		document.querySelector('#nodes tr[data-role=leader]')?.dataset.id === %[1]s`, js(idText(next.ID()))), 10*time.Second)
	t.Logf("the new leader showed %v after the kill", time.Since(killed).Round(time.Millisecond))
	p.waitJS("the dead node's buckets re-placed on the map", fmt.Sprintf(`(() => {
		const cells = [...document.querySelectorAll('#bucket-grid .cell')];
		return cells.length === 64 && !cells.some(c => c.dataset.reps.split(' ').includes(%s));
	})()`, js(leaderID)), 15*time.Second)
	p.write("dash/after-failover", "written after the failover", "text/plain")
	p.waitJS("the write after the failover in the feed", `[...document.querySelectorAll('#feed li')].some(li =>
		li.dataset.type === 'put' && li.dataset.key === 'dash/after-failover')`, 10*time.Second)

	path := p.screenshot("dashboard.png")
	t.Logf("screenshot: %s", path)
	p.checkErrors()
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// tab drives one browser tab.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string // uncaught exceptions and security (CSP) errors
}

// openBrowser starts headless Chromium for the test, with a deadline on
// the whole browser; it is stopped when the test ends.
func openBrowser(t *testing.T) *tab {
	t.Helper()
	opts := slices.Clone(chromedp.DefaultExecAllocatorOptions[:])
	opts = append(opts, chromedp.WindowSize(1440, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	budget, cancelBudget := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	p := &tab{t: t, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshot of the failure: %s", p.screenshot("dashboard-failed.png"))
		}
		cancelTab()
		cancelAlloc()
		cancelBudget()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("uncaught exception: %s %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Source == log.EntrySourceSecurity || ev.Entry.Source == log.EntrySourceJavascript && ev.Entry.Level == log.EntryLevelError {
				msg = fmt.Sprintf("%s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text)
			}
		}
		if msg != "" {
			p.mu.Lock()
			p.errors = append(p.errors, msg)
			p.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("listening to the page: %v", err)
	}
	return p
}

// do runs actions with a deadline.
func (p *tab) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\npage: %s", what, err, p.describe())
	}
}

// waitJS waits until the JavaScript expression is truthy, at most timeout.
func (p *tab) waitJS(what, expr string, timeout time.Duration) {
	p.t.Helper()
	if timeout <= 0 {
		p.t.Fatalf("no time left to wait for %s", what)
	}
	ctx, cancel := context.WithTimeout(p.ctx, timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.t.Fatalf("waiting up to %v for %s: %v\npage: %s", timeout.Round(time.Millisecond), what, err, p.describe())
	}
}

func (p *tab) evalString(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

// write puts a key through the page's form and waits for its success.
func (p *tab) write(key, value, contentType string) {
	p.t.Helper()
	p.do("fill in the write form", 5*time.Second,
		chromedp.SetValue(chromedp.ID("w-key"), key),
		chromedp.SetValue(chromedp.ID("w-ct"), contentType),
		chromedp.SetValue(chromedp.ID("w-value"), value),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('w-cond').value = ''`),
		chromedp.Click(chromedp.ID("w-put")))
	p.waitJS("the write of "+key+" acknowledged", fmt.Sprintf(`(() => {
		const s = document.getElementById('w-status');
		return s.classList.contains('ok') && s.textContent.startsWith('saved ' + %s + ' at version ');
	})()`, js(key)), 15*time.Second)
}

// describe summarizes the page for failure messages.
func (p *tab) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		conn: document.getElementById('conn')?.textContent,
		leader: document.getElementById('sum-leader')?.dataset.id,
		self: document.getElementById('sum-self')?.dataset.id,
		nodes: [...document.querySelectorAll('#nodes tbody tr')].map(r => [r.dataset.id, r.dataset.role, r.dataset.state].join(' ')),
		feedStatus: document.getElementById('feed-status')?.textContent,
		feed: [...document.querySelectorAll('#feed li')].slice(0, 6).map(li => li.innerText.replace(/\s+/g, ' ')),
		crumbs: document.getElementById('crumbs')?.innerText,
		keys: [...document.querySelectorAll('#keylist li')].slice(0, 20).map(li => li.innerText),
		listInfo: document.getElementById('list-info')?.textContent,
		view: document.getElementById('view')?.innerText.slice(0, 400),
		writeStatus: document.getElementById('w-status')?.textContent,
		loginStatus: document.getElementById('login-status')?.textContent,
		loginOpen: document.getElementById('login')?.open,
	}, null, 1)`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return s + fmt.Sprintf("\nerrors: %q", p.errors)
}

// screenshot saves the whole page as a PNG in the test's artifact
// directory and returns its path.
func (p *tab) screenshot(name string) string {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, fullPage)
	if err != nil {
		p.t.Errorf("screenshot: %v", err)
		return ""
	}
	path := filepath.Join(p.t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("screenshot: %v", err)
		return ""
	}
	return path
}

// fullPage captures the whole page as a PNG, from its top.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	if _, err := chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)(ctx, t); err != nil {
		return nil, err
	}
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	size := m.CSSContentSize
	yes := true
	r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: size.Width, Height: size.Height, Scale: 1},
		FromSurface:           &yes,
		CaptureBeyondViewport: &yes,
	})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// checkErrors fails the test if the page threw or broke its policy.
func (p *tab) checkErrors() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errors {
		p.t.Errorf("the page logged: %s", e)
	}
}

// watchTracker passes requests to the node's handler, keeps the watch
// WebSockets, so the test can drop them and see how the page reconnects,
// and notes the listings the page asks for.
type watchTracker struct {
	h http.Handler

	mu      sync.Mutex
	queries []url.Values // of the watch requests
	conns   []net.Conn   // of the watch WebSockets
	listQs  []url.Values // of the listings (GET /v1/kv)
}

func (w *watchTracker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/kv" {
		w.mu.Lock()
		w.listQs = append(w.listQs, r.URL.Query())
		w.mu.Unlock()
	}
	if r.URL.Path == "/v1/watch" {
		w.mu.Lock()
		w.queries = append(w.queries, r.URL.Query())
		w.mu.Unlock()
		rw = &hijackKeeper{ResponseWriter: rw, w: w}
	}
	w.h.ServeHTTP(rw, r)
}

// dropAll closes every watch connection so far and returns how many watch
// requests came before.
func (w *watchTracker) dropAll() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		_ = c.Close()
	}
	w.conns = nil
	return len(w.queries)
}

// lists returns the queries of the listings so far.
func (w *watchTracker) lists() []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.listQs)
}

// queriesFrom returns the queries of the watch requests from the i-th on.
func (w *watchTracker) queriesFrom(i int) []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.queries[i:])
}

type hijackKeeper struct {
	http.ResponseWriter
	w *watchTracker
}

func (h *hijackKeeper) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		h.w.mu.Lock()
		h.w.conns = append(h.w.conns, c)
		h.w.mu.Unlock()
	}
	return c, rw, err
}

func (h *hijackKeeper) Flush() { _ = http.NewResponseController(h.ResponseWriter).Flush() }

// escapeKey percent-encodes a key for a path, keeping its "/".
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func idText(id shard.NodeID) string { return strconv.FormatUint(uint64(id), 10) }

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
