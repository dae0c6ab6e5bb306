package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNewServerLimits checks that the server's limits are set and sane:
// slow headers and bodies are cut off, idle keep-alive connections close,
// headers are bounded, and none is so tight that a legitimate request
// (a 1024-byte key percent-encoded, a MaxValue body) fails.
func TestNewServerLimits(t *testing.T) {
	s := NewServer(":0", http.NotFoundHandler())
	switch {
	case s.ReadHeaderTimeout <= 0 || s.ReadHeaderTimeout > 10*time.Second:
		t.Errorf("ReadHeaderTimeout %v: want set, at most 10s (slow headers pin a goroutine each)", s.ReadHeaderTimeout)
	case s.ReadTimeout < s.ReadHeaderTimeout || s.ReadTimeout > time.Minute:
		t.Errorf("ReadTimeout %v: want at least ReadHeaderTimeout and at most a minute", s.ReadTimeout)
	case s.ReadTimeout < 10*time.Second:
		t.Errorf("ReadTimeout %v: too short for a 1 MiB body on a slow link", s.ReadTimeout)
	case s.IdleTimeout <= 0 || s.IdleTimeout > 5*time.Minute:
		t.Errorf("IdleTimeout %v: want set, at most 5 minutes", s.IdleTimeout)
	case s.MaxHeaderBytes < 16<<10 || s.MaxHeaderBytes > 1<<20:
		t.Errorf("MaxHeaderBytes %d: want room for a percent-encoded 1024-byte key (3 KB) and at most 1 MiB", s.MaxHeaderBytes)
	case s.WriteTimeout != 0 && s.WriteTimeout < time.Minute:
		t.Errorf("WriteTimeout %v would cut long answers and watches short", s.WriteTimeout)
	}
}

// TestSlowHeadersDoNotStarveRequests opens 1,000 connections that trickle
// a request header a byte at a time: normal requests still answer within
// a second, the server holds one goroutine per slow connection and a
// bounded heap, and it closes them all once ReadHeaderTimeout passes.
func TestSlowHeadersDoNotStarveRequests(t *testing.T) {
	const slow = 1000
	srv := NewServer("", New(&fake{}, Config{MaxValue: 1 << 20}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, time.Since(start), err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, time.Since(start), err
	}
	if st, _, err := get("/healthz"); st != 200 {
		t.Fatalf("before: %d %v", st, err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range slow {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("slow connection %d: %v", len(conns), err)
		}
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: jumpkv\r\nX-Slow: ")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	opened := time.Now()
	// One goroutine trickles a byte to every slow connection every 100ms
	// until the test ends; writes to connections the server closed fail
	// and are ignored.
	stop := make(chan struct{})
	var trickler sync.WaitGroup
	defer func() { close(stop); trickler.Wait() }()
	trickler.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write([]byte("a"))
			}
		}
	})

	// Normal requests answer within a second while the slow ones trickle.
	var worst time.Duration
	for i := range 20 {
		path := "/healthz"
		if i%2 == 1 {
			path = "/v1/kv/some/key"
		}
		st, took, err := get(path)
		if err != nil || st != 200 || took > time.Second {
			t.Fatalf("GET %s among %d slow connections: %d %v after %v", path, slow, st, err, took)
		}
		worst = max(worst, took)
	}
	peak := runtime.NumGoroutine()
	var during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&during)
	heapGrowth := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d slow connections: 20 requests answered in at most %v; goroutines %d -> %d; heap in use grew %d KB",
		slow, worst.Round(time.Millisecond), goroutines, peak, heapGrowth>>10)
	if peak > goroutines+slow+50 {
		t.Errorf("%d goroutines for %d slow connections (from %d): want about one each", peak, slow, goroutines)
	}
	if heapGrowth > 64<<20 {
		t.Errorf("heap in use grew by %d MB for %d slow connections", heapGrowth>>20, slow)
	}

	// Once ReadHeaderTimeout has passed, the server has dropped them all,
	// although they kept sending.
	limit := srv.ReadHeaderTimeout + 10*time.Second
	for runtime.NumGoroutine() > goroutines+10 {
		if time.Since(opened) > limit {
			t.Fatalf("%d goroutines %v after the slow connections opened (from %d): the server did not drop them",
				runtime.NumGoroutine(), time.Since(opened).Round(time.Millisecond), goroutines)
		}
		time.Sleep(50 * time.Millisecond) // polling the goroutine count
	}
	dropped := time.Since(opened)
	if dropped < srv.ReadHeaderTimeout-time.Second {
		t.Errorf("slow connections dropped after %v, before ReadHeaderTimeout %v", dropped, srv.ReadHeaderTimeout)
	}
	closed := 0
	buf := make([]byte, 512)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) || n > 0 && strings.HasPrefix(string(buf[:n]), "HTTP/1.1 408") {
			closed++
		}
	}
	t.Logf("the server dropped the slow connections %v after they opened; %d of %d seen closed", dropped.Round(time.Millisecond), closed, slow)
	if closed != slow {
		t.Errorf("%d of %d slow connections still open", slow-closed, slow)
	}
	if st, took, err := get("/healthz"); st != 200 || took > time.Second {
		t.Fatalf("after: %d %v after %v", st, err, took)
	}
}
