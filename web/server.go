// Package web serves jumpkv's HTTP API with Gin: the key-value routes, the
// cluster and status views and the health checks. It talks to the node
// through Backend, so it can be tested with a fake.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/watch"
	"github.com/jumpkv/jumpkv/wire"
)

// Backend is what the HTTP layer needs of a node. Methods are called from
// request goroutines concurrently; errors wrap wire's sentinels.
type Backend interface {
	ID() shard.NodeID
	Leader() shard.NodeID
	Get(ctx context.Context, key string) (store.Entry, error)
	Write(ctx context.Context, op wire.WriteOp) (store.Version, error)
	List(ctx context.Context, prefix, after string, limit int) (keys []string, next string, err error)
	Cluster(ctx context.Context) (wire.ClusterInfo, error)
	Status() node.Status
	Ready() (bool, string)
	// Watch subscribes to changes under prefix (see node.Node.Watch);
	// Unwatch ends the subscription.
	Watch(prefix string, since *store.Version) (*watch.Subscription, error)
	Unwatch(s *watch.Subscription)
	// Placement returns the installed cluster state (nil before one).
	Placement() *wire.ClusterState
	// Metrics returns the registry served at /metrics (nil: no metrics).
	Metrics() *prometheus.Registry
	// RemoveMember takes a dead member out of the cluster for good (see
	// node.Node.RemoveMember).
	RemoveMember(ctx context.Context, id shard.NodeID) error
}

// Config sets the HTTP layer's limits.
type Config struct {
	// MaxValue is the largest request body accepted (413 past it).
	MaxValue int
	// MaxKey is the longest key accepted (414 past it).
	MaxKey int
	// Logger receives handler panics; nil discards.
	Logger *slog.Logger
	// AllowedOrigins are the browser origins, besides the node's own,
	// that may change this node or open a watch WebSocket ("*": any);
	// their hosts also count as names of this node (origin.go).
	AllowedOrigins []string
	// Hosts are names of this node (host or host:port) browsers may use
	// to reach it, besides IP literals, localhost and the machine's host
	// name (origin.go).
	Hosts []string
	// Auth, when set, requires credentials on every route but the health
	// checks and the dashboard's files (auth.go); nil trusts every client.
	Auth *auth.Guard
	// SessionTTL is how long a dashboard login lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// Files serves the keys that hold files (package files); nil: a file
	// layer over the backend with the defaults for MaxValue.
	Files *files.FS
}

// DefaultListLimit is the page size of a listing without ?limit.
const DefaultListLimit = 1000

func init() { gin.SetMode(gin.ReleaseMode) }

// New returns the HTTP handler of the API.
func New(b Backend, cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxKey == 0 {
		cfg.MaxKey = 1024
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	a := &api{b: b, cfg: cfg, origins: newOriginPolicy(cfg.AllowedOrigins, cfg.Hosts, cfg.Auth != nil), files: cfg.Files}
	if a.files == nil {
		a.files = newFiles(b, cfg.MaxValue)
	}
	a.upgrader = newUpgrader(a.origins)
	if cfg.Auth != nil {
		a.sessions = auth.NewSessions(cfg.Auth.Users(), cfg.SessionTTL)
	}
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.Use(a.recover, a.identify, rejectBadQuery)
	if reg := b.Metrics(); reg != nil {
		r.Use(newHTTPMetrics(reg))
	}
	r.Use(a.guardBrowsers, a.authenticate)
	if reg := b.Metrics(); reg != nil {
		r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	}
	r.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, ErrorBody{Error: "no such route: " + c.Request.URL.Path, Code: "not_found"})
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: c.Request.Method + " is not allowed on " + c.Request.URL.Path, Code: "bad_request"})
	})

	r.GET("/v1/kv", a.list)
	r.GET("/v1/kv/*key", a.get)
	r.HEAD("/v1/kv/*key", a.get)
	r.PUT("/v1/kv/*key", a.put)
	r.POST("/v1/kv/*key", a.post)
	r.DELETE("/v1/kv/*key", a.del)
	r.GET("/v1/cluster", a.cluster)
	r.DELETE("/v1/cluster/members/:id", a.removeMember)
	r.GET("/v1/placement", a.placement)
	r.GET("/v1/watch", a.watch)
	r.GET("/admin/status", a.status)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", a.ready)
	r.GET("/v1/openapi.yaml", serveOpenAPI)
	registerDashboard(r, a.session) // GET / and /ui/*: the dashboard (dashboard.go)
	r.POST("/ui/login", a.login)    // auth.go
	r.POST("/ui/logout", a.logout)
	return r
}

// readTimeout bounds the time to read a whole request, body included: a
// body that stalls past it answers 408.
const readTimeout = 30 * time.Second

// NewServer returns an http.Server for h with timeouts that keep slow or
// idle clients from holding resources.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

type api struct {
	b        Backend
	cfg      Config
	origins  *originPolicy
	upgrader *websocket.Upgrader
	sessions *auth.Sessions // nil without cfg.Auth
	files    *files.FS      // nil: the node serves no files

	idHeader, leaderHeader idHeader // X-Jumpkv-Node and X-Jumpkv-Leader values
}

// recover turns a handler panic into a logged 500; the node keeps serving.
func (a *api) recover(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.cfg.Logger.Error("handler panic", "method", c.Request.Method, "path", c.Request.URL.Path,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.AbortWithStatusJSON(http.StatusInternalServerError, ErrorBody{Error: "internal error", Code: "internal"})
		}
	}()
	c.Next()
}

// identify sets the headers every response carries.
func (a *api) identify(c *gin.Context) {
	// Canonical keys set directly, to values built once: this runs on every
	// request. (net/http only reads header values; sharing them is safe.)
	h := c.Writer.Header()
	h["X-Jumpkv-Node"] = a.idHeader.values(a.b.ID())
	h["X-Jumpkv-Leader"] = a.leaderHeader.values(a.b.Leader())
	c.Next()
}

// idHeader caches the header value of a node ID that rarely changes.
type idHeader struct{ last atomic.Pointer[idValues] }

type idValues struct {
	id     shard.NodeID
	values []string
}

// values returns id's header value, built only when id changed.
func (h *idHeader) values(id shard.NodeID) []string {
	if v := h.last.Load(); v != nil && v.id == id {
		return v.values
	}
	v := &idValues{id: id, values: []string{strconv.FormatUint(uint64(id), 10)}}
	h.last.Store(v)
	return v.values
}

func (a *api) cluster(c *gin.Context) {
	ci, err := a.b.Cluster(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, ci)
}

func (a *api) status(c *gin.Context) { c.JSON(http.StatusOK, a.b.Status()) }

// placementView is the bucket map served at /v1/placement (for the
// dashboard): each bucket's replicas, primary first.
type placementView struct {
	Epoch    uint64           `json:"epoch"`
	Replicas int              `json:"replicas"`
	Buckets  [][]shard.NodeID `json:"buckets"`
}

func (a *api) placement(c *gin.Context) {
	st := a.b.Placement()
	if st == nil {
		writeError(c, fmt.Errorf("%w: no placement installed yet", wire.ErrNoLeader))
		return
	}
	c.JSON(http.StatusOK, placementView{Epoch: st.Table.Epoch, Replicas: st.Replicas, Buckets: st.Table.Buckets})
}

// ready answers /readyz: 200 {"status":"ready"}; 200
// {"status":"read-only","reason":...} while the cluster serves reads but
// refuses writes (exactly half of the members reachable), or 503 then
// with ?writes=1, for checks that need writes; 503 with the reason while
// the node cannot serve.
func (a *api) ready(c *gin.Context) {
	ok, why := a.b.Ready()
	if !ok {
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, ErrorBody{Error: why, Code: "not_ready"})
		return
	}
	if a.b.Status().Mode == "read-only" {
		if w := c.Query("writes"); w != "" && w != "0" && w != "false" {
			c.Header("Retry-After", "1")
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, ErrorBody{Error: why, Code: wire.CodeOf(wire.ErrReadOnly)})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "read-only", "reason": why})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// removeMember answers DELETE /v1/cluster/members/{id}: 204 once the
// cluster no longer counts the dead member id. With --users it takes a
// readwrite user whose keys are not limited to a prefix.
func (a *api) removeMember(c *gin.Context) {
	if u := userOf(c); a.cfg.Auth != nil && (u.Role != auth.RoleReadWrite || u.Prefix != "") {
		writeError(c, fmt.Errorf("%w: removing a member takes a readwrite user whose keys are not limited to a prefix", wire.ErrForbidden))
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		badRequest(c, fmt.Sprintf("member ID %q: want a node ID (a number, as /v1/cluster lists)", c.Param("id")))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), removeTimeout)
	defer cancel()
	if err := a.b.RemoveMember(ctx, shard.NodeID(id)); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// removeTimeout bounds how long DELETE /v1/cluster/members/{id} waits for
// the new table to be committed.
const removeTimeout = 15 * time.Second
