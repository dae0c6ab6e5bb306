package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/wire"
)

// Browsers. A page on another site can make a visitor's browser send
// requests to a node, and one that rebinds its own DNS name to the node's
// address can even read the answers, as the browser thinks them
// same-origin. Requests from non-browser clients (no Origin, no
// Sec-Fetch-Site) are not affected by anything here. For browser requests
// to the API (not the health checks or the dashboard's static files):
//
//   - DNS rebinding. Without --users, the Host must be a name of this
//     node: an IP literal, localhost (or *.localhost), the machine's host
//     name, the host of --advertise, or the host of an origin given to
//     --allow-origin. A rebinding page reaches the node under the
//     attacker's name, which is none of these. With --users, every request
//     must authenticate, and a browser holds neither a session cookie nor
//     Basic credentials for the attacker's name: no Host check is needed.
//   - CSRF. A state-changing request (anything but GET, HEAD, OPTIONS)
//     must come from an allowed origin: the node's own (Origin's host:port
//     is the Host), one given to --allow-origin, or any with
//     --allow-origin '*'. One that says Sec-Fetch-Site: cross-site or
//     same-site without an Origin is refused too.
//   - The watch WebSocket follows the same two rules (its handshake is a
//     GET, but a WebSocket is not bound by the same-origin policy, so its
//     Origin is checked like a write's).

// originPolicy decides which browser requests are accepted.
type originPolicy struct {
	any     bool            // --allow-origin '*'
	origins map[string]bool // allowed origins, lower case
	hosts   map[string]bool // this node's names, lower case, without port
	authOn  bool            // --users: credentials are required
}

// newOriginPolicy builds the policy from --allow-origin and the node's
// names (hosts may hold host:port; the port is ignored).
func newOriginPolicy(allowed, hosts []string, authOn bool) *originPolicy {
	p := &originPolicy{origins: map[string]bool{}, hosts: map[string]bool{}, authOn: authOn}
	addHost := func(h string) {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		if h = strings.ToLower(strings.Trim(h, "[]")); h != "" {
			p.hosts[h] = true
		}
	}
	for _, o := range allowed {
		if o == "*" {
			p.any = true
			continue
		}
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		p.origins[o] = true
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			addHost(u.Host)
		}
	}
	for _, h := range hosts {
		addHost(h)
	}
	if name, err := os.Hostname(); err == nil {
		addHost(name)
		if short, _, ok := strings.Cut(name, "."); ok {
			addHost(short)
		}
	}
	return p
}

// knownHost reports whether a Host header names this node.
func (p *originPolicy) knownHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.Trim(h, "[]"))
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || p.hosts[h]
}

// originAllowed reports whether a browser page of origin may act on this
// node through r.
func (p *originPolicy) originAllowed(r *http.Request, origin string) bool {
	if p.any || p.origins[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// fromBrowser reports whether r carries the headers only browsers send.
func fromBrowser(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return r.Header.Get("Origin") != "" || (site != "" && site != "none")
}

// check returns why a browser request must be refused (a wire.ErrForbidden),
// or nil. unsafe marks a request that changes state or opens a watch.
func (p *originPolicy) check(r *http.Request, unsafe bool) error {
	if !fromBrowser(r) {
		return nil
	}
	if !p.authOn && !p.knownHost(r.Host) {
		return fmt.Errorf("%w: a browser reached this node as %q, which is not one of its names (DNS rebinding?): "+
			"use its IP address or localhost, name the host with --allow-origin, or require credentials with --users",
			wire.ErrForbidden, r.Host)
	}
	if !unsafe {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			return fmt.Errorf("%w: a %s request from another site (Sec-Fetch-Site: %s) may not change this node",
				wire.ErrForbidden, r.Method, site)
		}
		return nil
	}
	if !p.originAllowed(r, origin) {
		return fmt.Errorf("%w: pages from origin %q may not change or watch this node (start it with --allow-origin to allow them)",
			wire.ErrForbidden, origin)
	}
	return nil
}

// safeMethod reports whether a method changes nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// guardBrowsers is the middleware applying the policy to every route but
// the health checks and the dashboard's static files.
func (a *api) guardBrowsers(c *gin.Context) {
	r := c.Request
	if openRoute(r) && safeMethod(r.Method) {
		c.Next()
		return
	}
	if err := a.origins.check(r, !safeMethod(r.Method)); err != nil {
		writeError(c, err)
		return
	}
	c.Next()
}
