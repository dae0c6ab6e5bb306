package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/wire"
)

// Authentication (--users). With Config.Auth set, every route needs
// credentials except the open ones (openRoute): the health checks, the
// dashboard's files, its login, logout and session routes, and the API
// description. A request authenticates with one of:
//
//	Authorization: Basic base64(name:password)
//	Authorization: Bearer name:password
//	Cookie: jumpkv_session=...   (set by POST /ui/login)
//
// A missing or wrong credential is a 401 with WWW-Authenticate; a user
// whose role or prefix does not allow the request, a 403; a client whose
// failed logins used up its budget, a 429 with Retry-After (auth.Guard).
// Passwords are never logged: nothing here logs a header or a form.

// sessionCookie is the dashboard's session cookie.
const sessionCookie = "jumpkv_session"

// DefaultSessionTTL is how long a dashboard login lasts.
const DefaultSessionTTL = 12 * time.Hour

// dashboardHeader marks the dashboard's own requests: their 401s carry a
// challenge browsers do not answer with a password dialog of their own,
// so the page can show its login form instead.
const dashboardHeader = "X-Jumpkv-Dashboard"

// userKey is where the authenticated user sits in a request's context.
const userKey = "jumpkv.user"

// openRoute reports whether r's route is served without credentials.
func openRoute(r *http.Request) bool {
	p := r.URL.Path
	return p == "/healthz" || p == "/readyz" || p == "/" || strings.HasPrefix(p, "/ui/") || p == "/v1/openapi.yaml"
}

// authenticate is the middleware that requires credentials when users are
// configured, and records the user for the handlers.
func (a *api) authenticate(c *gin.Context) {
	if a.cfg.Auth == nil || openRoute(c.Request) {
		c.Next()
		return
	}
	u, err := a.credentials(c.Request)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Set(userKey, u)
	c.Next()
}

// credentials returns the user r authenticates as.
func (a *api) credentials(r *http.Request) (*auth.User, error) {
	client := auth.ClientKey(r.RemoteAddr)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		switch {
		case strings.EqualFold(scheme, "Basic"):
			name, password, ok := r.BasicAuth()
			if !ok {
				return nil, fmt.Errorf("%w: malformed Basic credentials (want base64 of name:password)", wire.ErrUnauthorized)
			}
			return a.cfg.Auth.Login(client, name, password)
		case strings.EqualFold(scheme, "Bearer"):
			name, password, ok := strings.Cut(strings.TrimSpace(rest), ":")
			if !ok {
				return nil, fmt.Errorf("%w: Bearer takes <name>:<password>", wire.ErrUnauthorized)
			}
			return a.cfg.Auth.Login(client, name, password)
		}
		return nil, fmt.Errorf("%w: unsupported Authorization scheme %q: use Basic, or Bearer <name>:<password>",
			wire.ErrUnauthorized, scheme)
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		u, err := a.sessions.Verify(ck.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: the session has expired or ended: log in again", wire.ErrUnauthorized)
		}
		return u, nil
	}
	return nil, fmt.Errorf("%w: send Authorization: Basic, or Bearer <name>:<password> (or log in on the dashboard)",
		auth.ErrNoCredentials)
}

// userOf returns the request's user; nil when authentication is off.
func userOf(c *gin.Context) *auth.User {
	if v, ok := c.Get(userKey); ok {
		return v.(*auth.User)
	}
	return nil
}

// allow answers 403 and returns false unless the request's user may read
// (or write) key. Without --users everything is allowed.
func (a *api) allow(c *gin.Context, key string, write bool) bool {
	u := userOf(c)
	if a.cfg.Auth == nil || u.Allows(key, write) {
		return true
	}
	switch {
	case write && u.Role != auth.RoleReadWrite:
		writeError(c, fmt.Errorf("%w: user %q has the %s role and may not write", wire.ErrForbidden, u.Name, u.Role))
	default:
		writeError(c, fmt.Errorf("%w: user %q may only touch keys under %q", wire.ErrForbidden, u.Name, u.Prefix))
	}
	return false
}

// scope narrows a listing or watch prefix to the user's keys, or answers
// 403 and returns false when the two share none.
func (a *api) scope(c *gin.Context, prefix string) (string, bool) {
	u := userOf(c)
	if a.cfg.Auth == nil {
		return prefix, true
	}
	p, ok := u.Scope(prefix)
	if !ok {
		writeError(c, fmt.Errorf("%w: user %q may only read keys under %q", wire.ErrForbidden, u.Name, u.Prefix))
	}
	return p, ok
}

// sessionView is the JSON of /ui/login and /ui/session.
type sessionView struct {
	// Auth says whether the node requires credentials.
	Auth bool      `json:"auth"`
	User *userView `json:"user"`
}

type userView struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Prefix string `json:"prefix,omitempty"`
}

func viewOf(u *auth.User) *userView {
	if u == nil {
		return nil
	}
	return &userView{Name: u.Name, Role: u.Role.String(), Prefix: u.Prefix}
}

// maxLoginForm bounds the body of POST /ui/login.
const maxLoginForm = 8 << 10

// login serves POST /ui/login (form fields name and password): on success
// it sets the session cookie and answers the user.
func (a *api) login(c *gin.Context) {
	if a.cfg.Auth == nil {
		badRequest(c, "this node runs without --users: there is nothing to log in to")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxLoginForm)
	if err := c.Request.ParseForm(); err != nil {
		badRequest(c, "POST /ui/login takes a form with name and password (at most 8 KiB)")
		return
	}
	name, password := c.Request.PostForm.Get("name"), c.Request.PostForm.Get("password")
	if name == "" {
		badRequest(c, "POST /ui/login takes a form with name and password")
		return
	}
	u, err := a.cfg.Auth.Login(auth.ClientKey(c.Request.RemoteAddr), name, password)
	if err != nil {
		writeError(c, err)
		return
	}
	token, expires := a.sessions.Issue(u)
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
	c.JSON(http.StatusOK, sessionView{Auth: true, User: viewOf(u)})
}

// logout serves POST /ui/logout: it clears the session cookie.
func (a *api) logout(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
	c.Status(http.StatusNoContent)
}

// session serves GET /ui/session: whether the node requires credentials
// and who the session cookie belongs to (null without a valid one). It
// never answers 401, so the dashboard can ask before it shows anything.
func (a *api) session(c *gin.Context) {
	v := sessionView{Auth: a.cfg.Auth != nil}
	if v.Auth {
		if ck, err := c.Request.Cookie(sessionCookie); err == nil {
			if u, err := a.sessions.Verify(ck.Value); err == nil {
				v.User = viewOf(u)
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}
