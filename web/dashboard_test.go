package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardServed checks the dashboard's HTTP side without a browser:
// GET / is the HTML page, every file the page references is served from
// /ui/ with its type, and the embedded files reference nothing outside the
// node (the browser test, built with -tags browser, drives the page itself).
func TestDashboardServed(t *testing.T) {
	h := New(&fake{}, Config{MaxValue: 1 << 20})
	h = ValidateAPI(t, h)

	rec := serve(h, http.MethodGet, "/", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /: Content-Type %q, want text/html", ct)
	}
	page := rec.Body.String()
	if !strings.Contains(strings.ToLower(page), "<!doctype html>") || !strings.Contains(page, "<title>jumpkv</title>") {
		t.Fatalf("GET / is not the dashboard page:\n%.300s", page)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q does not confine the page to its node", csp)
	}
	if rec.Header().Get("X-Jumpkv-Node") == "" {
		t.Errorf("GET / lacks X-Jumpkv-Node")
	}
	if rec := serve(h, http.MethodHead, "/", ""); rec.Code != http.StatusOK {
		t.Errorf("HEAD /: %d", rec.Code)
	}
	etag := rec.Header().Get("ETag")
	if rec := serve(h, http.MethodGet, "/", "", "If-None-Match", etag); etag == "" || rec.Code != http.StatusNotModified {
		t.Errorf("GET / with If-None-Match %s: %d, want 304", etag, rec.Code)
	}

	// Every src/href of the page is a data: URL or a file under /ui/ that
	// loads with the right type; the script and the stylesheet are among them.
	wantType := map[string]string{".js": "text/javascript", ".css": "text/css"}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	loaded := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "data:") {
			continue
		}
		if ref == "/v1/openapi.yaml" { // the link to the API's description
			if rec := serve(h, http.MethodGet, ref, ""); rec.Code != http.StatusOK {
				t.Errorf("the page links to %s, which answers %d", ref, rec.Code)
			}
			continue
		}
		if !strings.HasPrefix(ref, "/ui/") {
			t.Errorf("the page references %q, not a file under /ui/", ref)
			continue
		}
		rec := serve(h, http.MethodGet, ref, "")
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", ref, rec.Code, rec.Body.Len())
			continue
		}
		for ext, want := range wantType {
			if ct := rec.Header().Get("Content-Type"); strings.HasSuffix(ref, ext) && !strings.HasPrefix(ct, want) {
				t.Errorf("GET %s: Content-Type %q, want %s", ref, ct, want)
			}
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s lacks X-Content-Type-Options: nosniff", ref)
		}
		loaded[ref] = true
	}
	for _, want := range []string{"/ui/app.js", "/ui/style.css"} {
		if !loaded[want] {
			t.Errorf("the page does not load %s (references: %v)", want, refs)
		}
	}

	// Files that are not there are JSON 404s, like every other error.
	for _, path := range []string{"/ui/nope.js", "/ui/", "/ui/../server.go", "/ui/index.html"} {
		rec := serve(h, http.MethodGet, path, "")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("GET %s: %d %s, want a JSON 404", path, rec.Code, rec.Body)
		}
	}
	if rec := serve(h, http.MethodPost, "/", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}

	// Nothing in the embedded files points outside the node.
	files := 0
	err := fs.WalkDir(dashboardFiles, "dashboard", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := dashboardFiles.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ToLower(string(b))
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", `src="//`, `href="//`} {
			if i := strings.Index(text, bad); i >= 0 {
				t.Errorf("%s references something outside the node: %q at byte %d", path, bad, i)
			}
		}
		if name := strings.TrimPrefix(path, "dashboard/"); name != "index.html" {
			if rec := serve(h, http.MethodGet, "/ui/"+name, ""); rec.Code != http.StatusOK || rec.Body.String() != string(b) {
				t.Errorf("GET /ui/%s: %d, not the embedded file", name, rec.Code)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("%d embedded dashboard files, want index.html, app.js and style.css at least", files)
	}
}
