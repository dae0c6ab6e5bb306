package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/jumpkv/jumpkv/files"
	"github.com/jumpkv/jumpkv/ftp"
	"github.com/jumpkv/jumpkv/node"
)

// newFileLayer returns the node's file layer (package files), shared by
// the HTTP API and FTP.
func newFileLayer(n *node.Node, cfg node.Config, opts serveOptions, log *slog.Logger) (*files.FS, error) {
	fcfg := files.DefaultConfig(cfg.MaxValue)
	if opts.maxFile > 0 {
		fcfg.MaxFile = opts.maxFile
	}
	fcfg.Logger = log
	fsys, err := files.New(n, fcfg)
	if err != nil {
		return nil, fmt.Errorf("--max-value/--max-file: %w", err)
	}
	return fsys, nil
}

// serveFiles runs the collector of unnamed chunks (it works only while
// this node leads) and, with --ftp, the FTP server. The returned stop
// ends both and waits for them.
func serveFiles(ctx context.Context, n *node.Node, fsys *files.FS, opts serveOptions, log *slog.Logger) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { fsys.RunCollector(ctx, func() bool { return n.Leader() == n.ID() }) })
	var srv *ftp.Server
	if opts.ftpAddr != "" {
		cfg := ftp.DefaultConfig(fsys)
		cfg.Guard, cfg.TLS, cfg.Logger = opts.guard, opts.tls, log
		cfg.PassiveLow, cfg.PassiveHigh, cfg.PublicHost = opts.ftpPassiveLow, opts.ftpPassiveHigh, opts.ftpPublicHost
		srv, err = ftp.New(cfg)
		if err == nil {
			var ln net.Listener
			if ln, err = net.Listen("tcp", opts.ftpAddr); err == nil {
				log.Info("ftp listening", "addr", ln.Addr().String(), "ftps", opts.tls != nil, "passive_ports",
					fmt.Sprintf("%d-%d", opts.ftpPassiveLow, opts.ftpPassiveHigh), "max_file", fsys.Config().MaxFile)
				wg.Go(func() {
					if err := srv.Serve(ln); err != nil {
						log.Error("ftp server stopped", "err", err)
					}
				})
			}
		}
		if err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("--ftp %s: %w", opts.ftpAddr, err)
		}
	}
	return func() {
		if srv != nil {
			_ = srv.Close()
		}
		cancel()
		wg.Wait()
	}, nil
}
