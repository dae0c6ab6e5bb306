//go:build browser

package web_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/node"
)

// TestDashboardNamesAndStableColors opens the dashboards of two nodes of
// one cluster: each lists the nodes by their --name next to their ID, shows
// the term as a time, and gives every node the same color as the other
// page does. (A page once took the first color for the node serving it, so
// every node was blue on its own dashboard.)
func TestDashboardNamesAndStableColors(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, DeadAfter: 2 * time.Second, Configure: func(i int, cfg *node.Config) {
		cfg.Name = fmt.Sprintf("box-%d", i)
	}})
	c.WaitLeader(20 * time.Second)
	p := openBrowser(t)
	var pages []map[string][2]string // node ID -> [name, color]
	for i := range 2 {
		srv := httptest.NewServer(c.Node(i).HTTP)
		t.Cleanup(srv.Close)
		p.do("open node "+fmt.Sprint(i)+"'s dashboard", 20*time.Second, chromedp.Navigate(srv.URL+"/"))
		p.waitJS("3 nodes with their names, the term as a time", `(() => {
			const rows = [...document.querySelectorAll('#nodes tbody tr[data-id]')];
			return rows.length === 3 && rows.every(r => /^box-[0-2]$/.test(r.querySelector('.name')?.textContent || '')) &&
				document.getElementById('sum-term').textContent.startsWith('since ');
		})()`, 10*time.Second)
		var seen map[string][2]string
		raw := p.evalString(`JSON.stringify(Object.fromEntries([...document.querySelectorAll('#nodes tbody tr[data-id]')].map(r =>
			[r.dataset.id, [r.querySelector('.name').textContent, r.querySelector('.swatch').style.backgroundColor]])))`)
		if err := json.Unmarshal([]byte(raw), &seen); err != nil {
			t.Fatalf("page %d: %v (%s)", i, err, raw)
		}
		colors := map[string]bool{}
		for id, nc := range seen {
			if nc[1] == "" || colors[nc[1]] {
				t.Fatalf("page %d: node %s has color %q, empty or shared: %v", i, id, nc[1], seen)
			}
			colors[nc[1]] = true
		}
		pages = append(pages, seen)
	}
	for id, nc := range pages[0] {
		if pages[1][id] != nc {
			t.Fatalf("node %s is %v on node 0's dashboard and %v on node 1's", id, nc, pages[1][id])
		}
	}
	t.Logf("names and colors: %v", pages[0])
	p.checkErrors()
}
