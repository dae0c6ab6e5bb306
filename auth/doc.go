// Package auth checks the credentials of jumpkv's clients, for every front
// (HTTP, the watch WebSocket, RESP AUTH, FTP login): it holds the users of
// a users file (--users), verifies a name and password, and says whether a
// user's role and key prefix allow a request. It knows nothing of HTTP or
// any other protocol; each front maps the errors below to its own form.
//
// The calls a front makes:
//
//	users, err := auth.Load(path, auth.DefaultConfig())     // once; users.Reload(path) on SIGHUP
//	guard := auth.NewGuard(users, auth.NewLimiter(auth.DefaultLimiterConfig()))
//
//	u, err := guard.Login(auth.ClientKey(conn.RemoteAddr().String()), name, password)
//	// err: ErrBadCredentials (wire.ErrUnauthorized), or a *RateLimitError
//	// (wire.ErrRateLimited, with RetryAfter) after too many failures from
//	// that client
//	if !u.Allows(key, write) { /* wire.ErrForbidden */ }
//	prefix, ok := u.Scope(requestedPrefix)                  // listings and watches
//
// Users.Authenticate is the same check without the rate limit. Share one
// Guard between the fronts of a process, so a client's failures count
// against one budget whichever door it knocks on.
//
// # The users file
//
// One user per line, `name:bcrypt-hash:role[:prefix]`, where name:hash is
// what `htpasswd -nbB name password` prints ($2y$, $2a$ and $2b$ hashes),
// role is `read` or `readwrite`, and the optional prefix limits the keys
// the user may touch (the rest of the line, colons included). Blank lines
// and lines starting with # are ignored. A bad line is an error that names
// its line number, never the hash.
//
// # Costs
//
// A wrong password costs one bcrypt comparison at the user's cost; an
// unknown name costs one comparison against a dummy hash at the highest
// cost in the file, so the two take the same time when every user has the
// same cost (htpasswd's default). Successful verifications are cached (see
// Config) so that clients sending credentials with every request pay
// bcrypt once per CacheTTL, not per request.
package auth
