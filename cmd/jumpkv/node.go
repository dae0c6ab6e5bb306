package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jumpkv/jumpkv/auth"
	"github.com/jumpkv/jumpkv/ftp"
	"github.com/jumpkv/jumpkv/internal/gctune"
	"github.com/jumpkv/jumpkv/internal/ratelog"
	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/resp"
	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/web"
)

const nodeUsage = `Usage: jumpkv node [flags]

Runs one node of a jumpkv cluster. Every flag can also come from the
environment as JUMPKV_<NAME> (--dead-after is JUMPKV_DEAD_AFTER); a flag
beats the environment.

Without --join, --advertise, --http or --peer a node is a cluster of one
on 127.0.0.1:8080 (peer 127.0.0.1:7070), reachable from this machine only;
give any of them to serve other hosts (and see --users and --cluster-secret).

Examples:
  jumpkv node                                         # a cluster of one on 127.0.0.1:8080
  jumpkv node --http :8081 --peer :7071 --join 127.0.0.1:7070
  JUMPKV_JOIN=node:7070 jumpkv node                   # in a container, joining a compose service

Flags:
`

// nodeFlags are the flags of `jumpkv node`.
type nodeFlags struct {
	id            idFlag
	http          string
	peer          string
	redis         string
	advertise     string
	advertiseHTTP string
	name          string
	join          listFlag
	replicas      replicasFlag
	buckets       int
	deadAfter     time.Duration
	syncInterval  time.Duration
	maxValue      sizeFlag
	maxMemory     sizeFlag
	secret        string
	secretFile    string
	insecurePeers bool
	tlsCert       string
	tlsKey        string
	allowOrigin   listFlag
	users         string
	dataDir       string
	fsync         string
	pprof         string
	logFormat     string
	logLevel      string
	// FTP (package ftp): listen address, passive range, PASV host, file size.
	ftp             string
	ftpPassivePorts string
	ftpPublicHost   string
	maxFile         sizeFlag
}

func newNodeFlags(stderr io.Writer) (*flag.FlagSet, *nodeFlags) {
	f := &nodeFlags{maxValue: 1 << 20, maxFile: 1 << 30}
	fs := flag.NewFlagSet("jumpkv node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, nodeUsage)
		fs.PrintDefaults()
	}
	fs.Var(&f.id, "id", "node ID, unique in the cluster; the highest live ID leads; ordinal:NAME is one more than the number NAME ends in, for StatefulSet pods (ordinal:jumpkv-2 is 3) (default: derived from the advertised peer address)")
	fs.StringVar(&f.http, "http", ":8080", "client HTTP listen address")
	fs.StringVar(&f.peer, "peer", ":7070", "node-to-node TCP listen address")
	fs.StringVar(&f.redis, "redis", "", "Redis-protocol (RESP) listen address, e.g. :6379; empty = off")
	fs.StringVar(&f.advertise, "advertise", "", "host other nodes dial to reach this one, or a network (CIDR, e.g. 172.30.0.0/16) to take this host's address in (default: the --peer host when it names one, else the first non-loopback address)")
	fs.StringVar(&f.advertiseHTTP, "advertise-http", "", "host or host:port clients should use for this node's HTTP API, as /v1/cluster and the dashboard list it (default: the --http address when it names a host, else the --advertise host with the --http port)")
	fs.StringVar(&f.name, "name", "", "a name for people, shown next to the node ID (default: this host's name; node-<i> under jumpkv cluster)")
	fs.Var(&f.join, "join", "comma-separated peer addresses (host:port) to join; a DNS name means all its addresses")
	f.replicas = 0
	fs.Var(&f.replicas, "replicas", "copies of each bucket: a number, or auto = floor(n/2)+1 for n live members")
	fs.IntVar(&f.buckets, "buckets", 1024, "buckets keys are hashed into; fixed for the life of a cluster")
	fs.DurationVar(&f.deadAfter, "dead-after", 2*time.Second, "silence after which a node counts as dead and its buckets are re-replicated")
	fs.DurationVar(&f.syncInterval, "sync-interval", 5*time.Second, "period of anti-entropy between replicas")
	fs.Var(&f.maxMemory, "max-memory", "data a node may hold before writes that grow it are refused with 507 (e.g. 2GiB); 0: 90% of this process's cgroup memory limit (a container's, a systemd unit's MemoryMax) when there is one, else no limit")
	fs.Var(&f.maxValue, "max-value", "largest value accepted (e.g. 1MiB, 512KiB)")
	fs.StringVar(&f.secret, "cluster-secret", "", "shared secret every node of the cluster must hold: each peer connection opens with a mutual proof of it, and a node without it cannot join, vote or receive data (prefer JUMPKV_CLUSTER_SECRET: a flag shows in the process list)")
	fs.StringVar(&f.secretFile, "cluster-secret-file", "", "file holding the cluster secret (surrounding whitespace is ignored), e.g. a Docker or Kubernetes secret mounted as a file; instead of --cluster-secret")
	fs.BoolVar(&f.insecurePeers, "insecure-peers", false, "without --cluster-secret, accept peer connections from any address (by default only from loopback): anyone who reaches the peer port can then read every key and take the cluster over")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory where this node keeps its data durable (a log and snapshots); empty keeps it in memory only")
	fs.StringVar(&f.fsync, "fsync", "always", "with --data-dir: always (a write is acknowledged once on disk at every replica; group-committed), everysec or no (as Redis's appendfsync)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve the client API over HTTPS (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.Var(&f.allowOrigin, "allow-origin", "comma-separated browser origins (e.g. https://ops.example.com), besides the node's own, allowed to change keys and open watch WebSockets; their hosts also count as this node's names for browsers (see docs/security.md); * allows any")
	fs.StringVar(&f.users, "users", "", "users file: one name:bcrypt-hash:role[:prefix] per line (htpasswd -nbB output plus read or readwrite); every client must then authenticate; re-read on SIGHUP")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off by default, never expose it")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.ftp, "ftp", "", "FTP listen address (e.g. :2121): serve the keys as a file tree over FTP, and FTPS with --tls-cert; empty = off")
	fs.StringVar(&f.ftpPassivePorts, "ftp-passive-ports", "", "LO-HI port range for FTP passive data connections (e.g. 30000-30099); empty = any free port")
	fs.StringVar(&f.ftpPublicHost, "ftp-public-host", "", "address this node names in its PASV answers, for clients behind NAT (default: the address the client reached)")
	fs.Var(&f.maxFile, "max-file", "largest file accepted over FTP (e.g. 1GiB)")
	return fs, f
}

// runNode runs `jumpkv node` until ctx ends.
func runNode(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs, f := newNodeFlags(stderr)
	if err := f.parse(fs, args, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "jumpkv node: %v\n", err)
		return 2
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv node: %v\n", err)
		return 2
	}
	cfg, err := f.config(log)
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv node: %v\n", err)
		return 2
	}
	tlsCfg, err := f.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "jumpkv node: %v\n", err)
		return 2
	}
	switch {
	case f.secret == "" && f.insecurePeers:
		log.Warn("INSECURE: no --cluster-secret and --insecure-peers: any host that reaches the peer port " + f.peer +
			" can read every key and take this cluster over")
	case f.secret == "":
		log.Warn("no --cluster-secret: the peer port " + f.peer + " accepts only loopback connections (protected mode); " +
			"set the same JUMPKV_CLUSTER_SECRET on every node to run across hosts or containers")
	case len(f.secret) < minSecretLen:
		log.Warn("the cluster secret is short: use at least 16 random bytes", "length", len(f.secret))
	}
	if cgroup, _ := cgroupMemoryLimit(); !hasEnv(env, "GOMEMLIMIT") {
		if soft := goMemoryLimit(cgroup, int64(f.maxMemory)); soft > 0 {
			debug.SetMemoryLimit(soft)
		}
	}
	if w := openAPIWarning(f.http, f.users != ""); w != "" {
		fmt.Fprintf(stderr, "jumpkv node: WARNING: %s\n", w)
	}
	if !hasEnv(env, "GOGC") {
		// A node's heap is mostly its data: size the GC headroom to it,
		// unless the operator chose GOGC. Stopped (and GOGC restored)
		// before runNode returns.
		stop := startGCTune(ctx, log)
		defer stop()
	}
	opts := serveOptions{secret: []byte(f.secret), insecurePeers: f.insecurePeers, tls: tlsCfg, allowedOrigins: f.allowOrigin, usersFile: f.users, redis: f.redis,
		ftpAddr: f.ftp, ftpPublicHost: f.ftpPublicHost, maxFile: int64(f.maxFile)}
	if opts.ftpPassiveLow, opts.ftpPassiveHigh, err = ftp.ParsePortRange(f.ftpPassivePorts); err != nil {
		fmt.Fprintf(stderr, "jumpkv node: --ftp-passive-ports: %v\n", err)
		return 2
	}
	var users *auth.Users // nil without --users: SIGHUP then has nothing to reload
	if f.users != "" {
		if users, err = auth.Load(f.users, auth.DefaultConfig()); err != nil {
			fmt.Fprintf(stderr, "jumpkv node: --users: %v\n", err)
			return 2
		}
		if users.Len() == 0 {
			log.Warn("the --users file holds no user: every request but the health checks will be refused", "path", f.users)
		}
		opts.guard = auth.NewGuard(users, nil)
		opts.redisAuth = guardAuth{opts.guard}
	}
	stopReload := reloadOnHangup(f.users, users, log)
	defer stopReload()
	if f.pprof != "" {
		_, stop, err := servePprof(f.pprof, log)
		if err != nil {
			fmt.Fprintf(stderr, "jumpkv node: --pprof %s: %v\n", f.pprof, err)
			return 1
		}
		defer stop()
	}
	if err := serveNode(ctx, cfg, f.http, f.peer, log, opts); err != nil {
		log.Error("node failed", "err", err)
		return 1
	}
	return 0
}

// config turns the flags into a node configuration.
func (f *nodeFlags) config(log *slog.Logger) (node.Config, error) {
	_, peerPort, err := net.SplitHostPort(f.peer)
	if err != nil {
		return node.Config{}, fmt.Errorf("--peer %q: want host:port or :port", f.peer)
	}
	_, httpPort, err := net.SplitHostPort(f.http)
	if err != nil {
		return node.Config{}, fmt.Errorf("--http %q: want host:port or :port", f.http)
	}
	host, err := resolveAdvertise(f.advertise, f.peer)
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.DefaultConfig(net.JoinHostPort(host, peerPort))
	if cfg.HTTPAddr, err = advertisedHTTP(f.advertiseHTTP, f.http, host, httpPort); err != nil {
		return node.Config{}, err
	}
	cfg.Name = f.name
	if cfg.Name == "" {
		cfg.Name = defaultName()
	}
	cfg.ID = shard.NodeID(f.id)
	cfg.Join = f.join
	cfg.Replicas = int(f.replicas)
	cfg.Buckets = f.buckets
	cfg.DeadAfter = f.deadAfter
	cfg.SyncInterval = f.syncInterval
	cfg.MaxValue = int(f.maxValue)
	cfg.Logger = log
	cfg.DataDir = f.dataDir
	cfg.MaxMemory = int64(f.maxMemory)
	if limit, where := cgroupMemoryLimit(); limit > 0 {
		// The heap guard (node.Config.MaxHeap) keeps the kernel's OOM
		// killer away whatever --max-memory says: the Go heap holds more
		// than the data, and the collector needs room above it.
		cfg.MaxHeap = limit / 5 * 4
		if cfg.MaxMemory == 0 {
			cfg.MaxMemory = limit / 10 * 9
		}
		log.Info("memory limit from the container", "cgroup", where, "limit_bytes", limit, "max_memory", cfg.MaxMemory, "max_heap", cfg.MaxHeap)
	}
	if cfg.Fsync, err = wal.ParseFsyncMode(f.fsync); err != nil {
		return node.Config{}, fmt.Errorf("--fsync %q: want always, everysec or no", f.fsync)
	}
	return cfg, cfg.Validate()
}

// minSecretLen is the cluster secret length below which a node warns.
const minSecretLen = 16

// tlsConfig loads --tls-cert and --tls-key; nil when neither is set.
func (f *nodeFlags) tlsConfig() (*tls.Config, error) {
	switch {
	case f.tlsCert == "" && f.tlsKey == "":
		return nil, nil
	case f.tlsKey == "":
		return nil, errors.New("--tls-cert needs --tls-key (the certificate's private key); give both or neither")
	case f.tlsCert == "":
		return nil, errors.New("--tls-key needs --tls-cert (the certificate); give both or neither")
	}
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %v", f.tlsCert, f.tlsKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// resolveAdvertise picks the host other nodes dial. An empty --advertise
// means the --peer host when it names one (the one address the node
// listens on), else the first non-loopback IPv4 address of this host, else
// 127.0.0.1; a CIDR means this host's address in that network,
// which lets every container of a compose service share one setting when
// it sits on several networks.
func resolveAdvertise(advertise, peer string) (string, error) {
	addrs, _ := net.InterfaceAddrs()
	if _, network, err := net.ParseCIDR(advertise); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && network.Contains(ipn.IP) {
				return ipn.IP.String(), nil
			}
		}
		return "", fmt.Errorf("--advertise %s: this host has no address in that network", advertise)
	}
	if advertise != "" {
		return advertise, nil
	}
	if h, _, err := net.SplitHostPort(peer); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			return h, nil // --peer names the one address it listens on
		}
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	if h, _, err := net.SplitHostPort(peer); err == nil && h != "" {
		return h, nil
	}
	return "127.0.0.1", nil
}

// serveOptions are the optional security settings of serveNode.
type serveOptions struct {
	secret []byte // cluster secret; empty: peers are not authenticated
	// insecurePeers, without a secret, accepts peers from any address;
	// otherwise only loopback peers are (protected mode).
	insecurePeers bool
	tls           *tls.Config // nil: plain HTTP
	// allowedOrigins may change keys and open watch WebSockets besides
	// the node's own pages.
	allowedOrigins []string
	// guard checks client credentials (--users); nil trusts every client.
	// Every client front shares it.
	guard     *auth.Guard
	usersFile string
	// redis is the RESP listen address; empty: no Redis protocol.
	redis string
	// redisAuth, when set, requires AUTH on RESP connections.
	redisAuth resp.Authenticator
	// FTP: off when ftpAddr is empty (fileServing in files.go).
	ftpAddr                       string
	ftpPassiveLow, ftpPassiveHigh int
	ftpPublicHost                 string
	maxFile                       int64
}

// serveNode runs a node with its peer transport and HTTP server until ctx
// ends, then stops them in reverse order.
func serveNode(ctx context.Context, cfg node.Config, httpAddr, peerAddr string, log *slog.Logger, opts serveOptions) error {
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	tcfg := transport.DefaultTCPConfig()
	tcfg.Stamp = n.Stamp
	tcfg.MaxFrame = n.Config().MaxFrame()
	tcfg.Logger = log
	if len(opts.secret) > 0 {
		hs, err := transport.NewSecretHandshake(transport.AuthConfig{
			Secret:  opts.secret,
			Timeout: tcfg.DialTimeout,
			Name:    n.Config().PeerAddr,
			Logger:  log,
		})
		if err != nil {
			return err
		}
		tcfg.Handshake = hs
	} else if !opts.insecurePeers {
		tcfg.Handshake = loopbackPeersOnly(log)
	}
	tr, err := transport.ListenTCP(peerAddr, tcfg, n)
	if err != nil {
		return fmt.Errorf("peer listener: %w", err)
	}
	defer tr.Close()
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	ln = web.JSONRefusals(ln, n)                 // net/http's own refusals answer JSON too
	fsys, err := newFileLayer(n, cfg, opts, log) // files.go
	if err != nil {
		return err
	}
	redisSrv, redisLn, err := listenRedis(opts.redis, n, cfg, log, opts.redisAuth)
	if err != nil {
		ln.Close()
		return err
	}
	srv := web.NewServer(httpAddr, web.New(n, web.Config{MaxValue: cfg.MaxValue, MaxKey: n.Config().MaxKey, Logger: log,
		AllowedOrigins: opts.allowedOrigins, Hosts: []string{cfg.HTTPAddr}, Auth: opts.guard, Files: fsys}))
	scheme := "http"
	if opts.tls != nil {
		srv.TLSConfig = opts.tls
		scheme = "https"
	}
	log.Info("listening", "id", uint64(n.ID()), "name", cfg.Name, "http", ln.Addr().String(), "advertise_http", cfg.HTTPAddr, "scheme", scheme, "peer", tr.Addr(),
		"advertise", n.Config().PeerAddr, "peer_auth", len(opts.secret) > 0, "client_auth", opts.guard != nil)
	logClientAuth(log, opts.guard, opts.usersFile, ln.Addr())

	nodeCtx, stopNode := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- n.Run(nodeCtx, tr) }()
	stopFiles, err := serveFiles(nodeCtx, n, fsys, opts, log) // files.go: the collector, and FTP with --ftp
	if err != nil {
		stopNode()
		<-nodeDone
		return err
	}
	httpDone := make(chan error, 1)
	go func() {
		if opts.tls != nil {
			httpDone <- srv.ServeTLS(ln, "", "") // the certificate is in srv.TLSConfig
			return
		}
		httpDone <- srv.Serve(ln)
	}()
	redisDone := make(chan error, 1)
	if redisSrv != nil {
		log.Info("redis protocol listening", "redis", redisLn.Addr().String())
		go func() { redisDone <- redisSrv.Serve(redisLn) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-redisDone:
		runErr = fmt.Errorf("redis server: %w", err)
	case err := <-nodeDone:
		runErr = fmt.Errorf("node stopped: %v", err)
	}
	graceful := runErr == nil && gracefulStop(ctx)
	if graceful {
		log.Info("SIGTERM: handing buckets off while requests in flight finish (a second signal stops at once)")
	} else if runErr == nil {
		log.Info("shutting down without handing buckets off (SIGTERM hands them off)")
	}
	// The HTTP server stops taking connections at once and is given 5s
	// for the requests in flight; the handoff runs meanwhile, not after:
	// net/http waits out those 5s for any connection that has not sent a
	// request yet (a client's spare keep-alive dial, a slow client), which
	// would otherwise delay every handoff.
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	httpStopped := make(chan struct{})
	go func() {
		defer close(httpStopped)
		if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("http shutdown", "err", err)
		}
	}()
	redisStopped := make(chan struct{})
	go func() {
		defer close(redisStopped)
		if redisSrv == nil {
			return
		}
		// Like HTTP: no new connections; those that sent commands get
		// their answers, within the same 5s.
		if err := redisSrv.Shutdown(shutCtx); err != nil {
			log.Warn("redis shutdown", "err", err)
		}
	}()
	if graceful {
		leaveCtx, cancelLeave := context.WithTimeout(context.Background(), leaveTimeout)
		if err := n.Leave(leaveCtx); err != nil {
			log.Warn("could not hand buckets off", "err", err)
		}
		cancelLeave()
	}
	<-httpStopped
	<-redisStopped // before the node stops: its connections end their node calls
	stopFiles()
	stopNode()
	<-nodeDone
	return runErr
}

// leaveTimeout bounds the handoff of a node stopped with SIGTERM.
const leaveTimeout = 30 * time.Second

// newLogger builds the node's slog logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// hasEnv reports whether env sets name.
func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// startGCTune runs gctune until the returned stop is called; stop waits
// for it to end, which restores the GOGC it found.
func startGCTune(ctx context.Context, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		gctune.Run(ctx, gctune.Config{}, log)
	}()
	return func() {
		cancel()
		<-done
	}
}

// loopbackPeersOnly is the peer handshake of a node without a cluster
// secret (protected mode, after Redis's): it accepts connections from
// loopback addresses only, so that an outsider who reaches the peer port
// cannot read keys, vote or forge writes. Refusals are logged at most
// once a minute per address.
func loopbackPeersOnly(log *slog.Logger) func(net.Conn, bool) error {
	refusals := ratelog.New(log, time.Minute)
	return func(nc net.Conn, dialer bool) error {
		if dialer {
			return nil
		}
		host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
			return nil
		}
		refusals.Log("protected:"+host, slog.LevelWarn, "refusing a peer connection from beyond loopback: no --cluster-secret is set "+
			"(set the same JUMPKV_CLUSTER_SECRET on every node, or --insecure-peers)", "remote", nc.RemoteAddr().String())
		return errors.New("protected mode: peers must connect from loopback when no cluster secret is set")
	}
}

// version is this build's module version, as Go recorded it.
var version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}()

// listenRedis opens the RESP listener when addr is set (nil server
// otherwise).
func listenRedis(addr string, n *node.Node, cfg node.Config, log *slog.Logger, auth resp.Authenticator) (*resp.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	rcfg := resp.DefaultConfig()
	rcfg.MaxValue = cfg.MaxValue
	rcfg.MaxKey = n.Config().MaxKey
	rcfg.Logger = log
	rcfg.Auth = auth
	rcfg.Version = version
	srv, err := resp.New(n, rcfg)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("redis listener: %w", err)
	}
	return srv, ln, nil
}

// guardAuth lets the Redis front check AUTH against the users of
// --users, through the Guard every front shares (so failed attempts
// count against one per-client limit).
type guardAuth struct{ g *auth.Guard }

func (a guardAuth) Authenticate(client, name, password string) (resp.Principal, error) {
	u, err := a.g.Login(auth.ClientKey(client), name, password)
	var limited *auth.RateLimitError
	if errors.As(err, &limited) {
		return nil, &resp.RetryLater{After: limited.RetryAfter}
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}
