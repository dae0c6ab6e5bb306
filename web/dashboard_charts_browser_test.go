//go:build browser

package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestDashboardChartsInBrowser drives the dashboard's live charts in
// headless Chromium: the five charts of the serving node and a keys chart
// per node exist, and they move when writes arrive: requests per second
// above zero, a p99 latency, the keys and bytes of the serving node
// growing, and the per-node keys charts with them. Every request the page
// makes is checked against openapi.yaml on the way.
//
//	go test -race -tags browser -run DashboardCharts ./web
func TestDashboardChartsInBrowser(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.WaitLeader(20 * time.Second)
	validateNodes(t, c)
	n0 := c.Node(0)
	srv := httptest.NewServer(n0.HTTP)
	t.Cleanup(srv.Close)

	p := openBrowser(t)
	p.do("open the dashboard", 20*time.Second, chromedp.Navigate(srv.URL+"/"))
	p.waitJS("the charts of this node and one keys chart per node", `(() =>
		document.querySelectorAll('#charts-self figure.chart svg.spark path.line').length === 5 &&
		['reqs', 'p99', 'keys', 'bytes', 'mem'].every(s => document.querySelector('#charts-self figure[data-series="' + s + '"]')) &&
		document.querySelectorAll('#charts-nodes figure[data-node] svg.spark').length === 3)()`, 10*time.Second)
	p.waitJS("two scrapes of /metrics", `jumpkvDashboard.charts.polls >= 2 && jumpkvDashboard.charts.self.mem.at(-1) > 0`, 10*time.Second)
	keysBefore := p.evalString(`String(jumpkvDashboard.charts.self.keys.at(-1))`)
	pathBefore := p.evalString(`document.querySelector('#charts-self figure[data-series="keys"] path').getAttribute('d')`)

	// Writes through the serving node, spread over a few seconds so that
	// several scrapes see them.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		if r := n0.Do(http.MethodPut, fmt.Sprintf("/v1/kv/charts/k%03d", i), []byte("some value to hold")); r.Status != http.StatusOK {
			t.Fatalf("put: %v", r)
		}
		if i%50 == 49 {
			polls := p.evalString(`String(jumpkvDashboard.charts.polls)`)
			p.waitJS("the next scrape", `jumpkvDashboard.charts.polls > `+polls, 5*time.Second)
		}
	}
	p.waitJS("requests per second and a p99 latency charted", `(() => {
		const s = jumpkvDashboard.charts.self;
		return Math.max(...s.reqs) > 1 && s.p99.some(v => v > 0) &&
			Number(document.querySelector('#charts-self figure[data-series="reqs"]').dataset.points) >= 2;
	})()`, 10*time.Second)
	p.waitJS("the serving node's keys and bytes grown", fmt.Sprintf(`(() => {
		const s = jumpkvDashboard.charts.self;
		return s.keys.at(-1) >= %s + 150 && // node 0 holds about 2/3 of the keys (2 copies on 3 nodes)
			s.bytes.at(-1) > s.bytes.find(v => v != null);
	})()`, keysBefore), 10*time.Second)
	self := strconv.FormatUint(uint64(n0.ID()), 10)
	p.waitJS("the per-node keys charts grown", `(() => {
		const nodes = [...jumpkvDashboard.charts.nodes.values()];
		const total = nodes.reduce((sum, n) => sum + (n.keys.at(-1) || 0), 0);
		return nodes.length === 3 && total >= 400 * 2 && nodes.every(n => n.keys.length >= 2);
	})()`, 15*time.Second)
	if d := p.evalString(`document.querySelector('#charts-self figure[data-series="keys"] path').getAttribute('d')`); d == pathBefore || d == "" {
		t.Fatalf("the keys chart did not move: %q", d)
	}
	if got := p.evalString(`document.querySelector('#charts-nodes figure[data-node="` + self + `"] .now').textContent`); got == "–" || got == "" {
		t.Fatalf("the serving node's keys chart shows %q", got)
	}
	if got := p.evalString(`document.querySelector('#charts-self figure[data-series="p99"] .now').textContent + ' ' +
		document.querySelector('#charts-self figure[data-series="bytes"] .now').textContent`); got == "" {
		t.Fatalf("no current values shown")
	}
	t.Logf("screenshot: %s", p.screenshot("dashboard-charts.png"))
	p.checkErrors()
}
