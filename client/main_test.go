package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/node"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/web"
)

// nodes lists the HTTP endpoints of the in-process cluster the examples
// run against (TestMain starts it).
var nodes []string

func TestMain(m *testing.M) {
	stop, err := startExampleCluster(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the example cluster:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// startExampleCluster runs n nodes in this process on the in-memory peer
// network, each serving its HTTP API on a loopback port, and waits until
// every node is ready. It sets nodes; stop stops it all.
func startExampleCluster(n int) (stop func(), err error) {
	network := transport.NewNetwork(1)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		servers []*http.Server
		peers   []string
	)
	stop = func() {
		for _, s := range servers {
			_ = s.Close()
		}
		cancel()
		wg.Wait()
	}
	for i := range n {
		peers = append(peers, fmt.Sprintf("10.9.0.%d:7070", i+1))
	}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, err
		}
		cfg := node.DefaultConfig(peers[i])
		cfg.HTTPAddr = ln.Addr().String()
		cfg.Join = peers
		cfg.Buckets = 64
		cfg.Resolve = func(host string) ([]string, error) { return []string{host}, nil }
		nd, err := node.New(cfg)
		if err != nil {
			ln.Close()
			stop()
			return nil, err
		}
		tr, err := network.Listen(peers[i], nd.Stamp, nd)
		if err != nil {
			ln.Close()
			stop()
			return nil, err
		}
		wg.Go(func() { _ = nd.Run(ctx, tr) })
		srv := web.NewServer("", web.New(nd, web.Config{MaxValue: cfg.MaxValue, MaxKey: cfg.MaxKey}))
		servers = append(servers, srv)
		wg.Go(func() { _ = srv.Serve(ln) })
		nodes = append(nodes, "http://"+ln.Addr().String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, ep := range nodes {
		for !ready(ep) {
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("%s not ready after 30s", ep)
			}
			time.Sleep(20 * time.Millisecond) // polling /readyz
		}
	}
	return stop, nil
}

// ready reports whether the node at ep answers /readyz with 200.
func ready(ep string) bool {
	resp, err := http.Get(ep + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
