package web_test

import (
	"testing"

	"github.com/jumpkv/jumpkv/internal/clustertest"
	"github.com/jumpkv/jumpkv/web"
)

// validateNodes routes every request to c's running nodes through the
// OpenAPI contract check (web.ValidateAPI): tests call it right after
// starting the cluster, before they use the nodes' handlers.
func validateNodes(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	for _, n := range c.Nodes() {
		n.HTTP = web.ValidateAPI(t, n.HTTP)
	}
}
