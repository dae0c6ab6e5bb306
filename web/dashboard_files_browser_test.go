//go:build browser

package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/internal/clustertest"
)

// TestDashboardFilesInBrowser uploads a file (as FTP does, through the file
// layer) while the dashboard watches: the live feed shows it as a file with
// its size, the key browser lists it with its size and a download link
// that serves the file's bytes, and opening it shows the file rather than
// reading it into the page.
func TestDashboardFilesInBrowser(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.WaitLeader(20 * time.Second)
	c.WaitFor(20*time.Second, "a ready cluster", c.AllReady)
	n0 := c.Node(0)
	srv := httptest.NewServer(n0.HTTP)
	t.Cleanup(srv.Close)
	if r := n0.Do(http.MethodPut, "/v1/kv/docs/note.txt", []byte("a value")); r.Status != http.StatusOK {
		t.Fatal(r)
	}

	p := openBrowser(t)
	p.do("open the dashboard", 20*time.Second, chromedp.Navigate(srv.URL+"/"))
	p.waitJS("the live feed connected", `document.getElementById('feed-status').textContent === 'live'`, 10*time.Second)

	fs, err := files.New(c.Node(1).Node, files.DefaultConfig(n0.Config().MaxValue))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2<<20+123)
	_, _ = rand.Read(data)
	if _, err := fs.Put(context.Background(), "docs/report.bin", bytes.NewReader(data), files.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p.waitJS("the upload in the live feed as a file", `[...document.querySelectorAll('#feed li')].some(li =>
		li.dataset.type === 'put' && li.dataset.key === 'docs/report.bin' && li.querySelector('.val')?.textContent === 'file, 2.0 MiB')`, 10*time.Second)

	p.waitJS("the folder docs/", `!!document.querySelector('#keylist button[data-folder="docs/"]')`, 10*time.Second)
	p.do("open docs/", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-folder="docs/"]`)))
	p.waitJS("the file listed with its size and a download link, the value with its size", `(() => {
		const li = document.querySelector('#keylist button[data-key="docs/report.bin"]')?.parentElement;
		const v = document.querySelector('#keylist button[data-key="docs/note.txt"]')?.parentElement;
		return li && li.classList.contains('file') && li.querySelector('.size')?.textContent === '2.0 MiB' &&
			li.querySelector('a.download')?.getAttribute('href') === '/v1/kv/docs/report.bin' &&
			v && v.querySelector('.size')?.textContent === '7 B' && !v.querySelector('a.download');
	})()`, 10*time.Second)
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const r = await fetch(document.querySelector('#keylist a.download').href);
		const b = new Uint8Array(await r.arrayBuffer());
		return r.status + ' ' + b.length + ' ' + b[0] + ' ' + b[b.length - 1];
	})()`, func(ep *runtime.EvaluateParams) { yes := true; ep.AwaitPromise = &yes }))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("200 %d %d %d", len(data), data[0], data[len(data)-1]); got != want {
		t.Fatalf("the download link served %q, want %q", got, want)
	}
	p.do("open the file", 5*time.Second, chromedp.Click(chromedp.CSS(`#keylist button[data-key="docs/report.bin"]`)))
	p.waitJS("the file's view: size and a download link, not its bytes", `document.querySelector('#view .fsize')?.textContent.startsWith('2.0 MiB') &&
		document.getElementById('v-download')?.getAttribute('href') === '/v1/kv/docs/report.bin' &&
		!document.getElementById('value-hex') && document.getElementById('v-edit').disabled`, 10*time.Second)
	t.Logf("screenshot: %s", p.screenshot("dashboard-files.png"))
	p.checkErrors()
}
