package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// The dashboard (GET /) is a static page, embedded in the binary: plain
// HTML, CSS and JavaScript with no build step. Its script talks to the same
// node's API (/v1/cluster, /v1/placement, /v1/watch, /v1/kv) and loads
// nothing from anywhere else; the Content-Security-Policy below holds the
// browser to that.

//go:embed dashboard
var dashboardFiles embed.FS

// dashboardCSP allows the page to load only its own files and to connect
// only to its own node ('self' covers the same-origin WebSocket).
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardFile is one embedded file, ready to serve.
type dashboardFile struct {
	body        []byte
	contentType string
	etag        string
}

// dashboardAssets holds the embedded files by name relative to dashboard/
// ("index.html", "app.js").
var dashboardAssets = loadDashboard()

func loadDashboard() map[string]dashboardFile {
	out := map[string]dashboardFile{}
	err := fs.WalkDir(dashboardFiles, "dashboard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dashboardFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "dashboard/")] = dashboardFile{
			body:        body,
			contentType: dashboardContentType(p),
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("web: reading the embedded dashboard: " + err.Error())
	}
	return out
}

// dashboardContentType names the type of an embedded file by its extension
// (fixed here rather than from the host's MIME tables).
func dashboardContentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// registerDashboard serves the dashboard page at / and its files under
// /ui/, and GET /ui/session with session (it shares the /ui/ wildcard).
func registerDashboard(r gin.IRoutes, session gin.HandlerFunc) {
	page := func(c *gin.Context) { serveDashboardFile(c, "index.html") }
	file := func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "session" {
			session(c)
			return
		}
		if name == "index.html" {
			name = "" // the page itself lives at /
		}
		serveDashboardFile(c, name)
	}
	r.GET("/", page)
	r.HEAD("/", page)
	r.GET("/ui/*file", file)
	r.HEAD("/ui/*file", file)
}

func serveDashboardFile(c *gin.Context, name string) {
	f, ok := dashboardAssets[name]
	if !ok {
		c.AbortWithStatusJSON(http.StatusNotFound, ErrorBody{Error: "no such dashboard file: " + c.Request.URL.Path, Code: "not_found"})
		return
	}
	h := c.Writer.Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache") // revalidate, so an upgraded node serves its own page
	h.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || strings.Contains(inm, f.etag)) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, f.contentType, f.body)
}
