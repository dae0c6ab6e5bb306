package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// openAPIYAML is the OpenAPI 3 description of the HTTP API (openapi.yaml),
// embedded in the binary and served at GET /v1/openapi.yaml. The package's
// tests validate every request and answer of its API tests against it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIETag is the entity tag of the embedded description.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIYAML)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// serveOpenAPI answers GET /v1/openapi.yaml with the embedded description.
func serveOpenAPI(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if inm := c.GetHeader("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || strings.Contains(inm, openAPIETag)) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/yaml", openAPIYAML)
}
