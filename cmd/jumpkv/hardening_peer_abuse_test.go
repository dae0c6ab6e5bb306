package main

import (
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jumpkv/jumpkv/wire"
)

// abuse is what one hostile connection to a peer port sends.
type abuse struct {
	name string
	data []byte
	// hold keeps the connection open, silent, until the end of the test
	// (a frame that never completes); otherwise the sender half-closes it
	// and waits for the node to close it.
	hold bool
}

func peerAbuses() []abuse {
	garbage := make([]byte, 1024)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range garbage {
		garbage[i] = byte(r.UintN(256))
	}
	garbage[0] = 0x7f // a length far over any frame limit
	hello, err := wire.Encode(&wire.Hello{Self: wire.Member{ID: 9, Peer: "10.0.0.9:7070"}, Buckets: 128})
	if err != nil {
		panic(err)
	}
	frame := wire.AppendFrame(nil, wire.Header{Type: wire.TypeHello, ID: 1, From: 9, Term: 1}, hello)
	// A frame that claims 2,000,000 bytes (within the node's limit) and
	// stops after its header and 1 KB: the node must not set 2 MB aside.
	stalled := wire.AppendFrame(nil, wire.Header{Type: wire.TypeReplicate, ID: 2, From: 9, Term: 1}, make([]byte, 1024))
	bin.BigEndian.PutUint32(stalled, 2_000_000)
	return []abuse{
		{name: "garbage", data: garbage},
		{name: "truncated frame, then EOF", data: frame[:len(frame)/2]},
		{name: "truncated frame, held open", data: stalled, hold: true},
		{name: "length 0xFFFFFFFF", data: []byte{0xff, 0xff, 0xff, 0xff, wire.ProtocolVersion, byte(wire.TypeHello)}},
		{name: "msgpack dd ff ff ff ff", data: wire.AppendFrame(nil, wire.Header{Type: wire.TypeHello, ID: 3, From: 9, Term: 1},
			[]byte{0xdd, 0xff, 0xff, 0xff, 0xff})},
	}
}

// TestProcessPeerPortAbuse sends 200 connections of each kind of hostile
// bytes to the leader's peer port while a client keeps writing through a
// follower (whose writes travel to the leader over the peer protocol): the
// leader keeps serving HTTP and peers, and its RSS grows by under 50 MB
// (measured while the held-open connections are still open).
func TestProcessPeerPortAbuse(t *testing.T) {
	const perKind = 200
	c := startProcCluster(t, 3, "--dead-after", "1s", "--buckets", "128")
	l := c.settled(60 * time.Second)
	f := (l + 1) % 3
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("abuse-%d", i)
	}
	writeUntilAll(t, c.http[f], keys, "before", 10*time.Second)
	target := c.procs[l]
	pid := target.cmd.Process.Pid
	rssBefore := rssKB(t, pid)

	// A client writing through the follower all along.
	stop := make(chan struct{})
	var writes, retries atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			key := keys[i%len(keys)]
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, _, b := request(t, "PUT", "http://"+c.http[f]+"/v1/kv/"+key, []byte("during"))
				if st == 200 {
					break
				}
				if time.Now().After(deadline) {
					writerDone <- fmt.Errorf("PUT %s during the abuse: %d %s for 5s", key, st, b)
					return
				}
				retries.Add(1)
				time.Sleep(20 * time.Millisecond) // retrying a real process
			}
			writes.Add(1)
		}
	}()

	var (
		mu   sync.Mutex
		held []net.Conn
	)
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	var failures atomic.Int64
	var firstErr atomic.Value
	jobs := make(chan abuse)
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for a := range jobs {
				nc, err := abuseConn(c.join[l], a)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", a.name, err))
					continue
				}
				if nc != nil {
					mu.Lock()
					held = append(held, nc)
					mu.Unlock()
				}
			}
		})
	}
	kinds := peerAbuses()
	for i := range perKind * len(kinds) {
		jobs <- kinds[i%len(kinds)]
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d hostile connections were not closed by the node as they should be; first: %v", n, firstErr.Load())
	}

	// The leader still serves HTTP, quickly, and the cluster's peer traffic.
	for _, p := range c.running() {
		begin := time.Now()
		if st, _, b := request(t, "GET", "http://"+p.http+"/healthz", nil); st != 200 || time.Since(begin) > time.Second {
			t.Fatalf("%s /healthz after the abuse: %d %s in %v", p.http, st, b, time.Since(begin))
		}
	}
	rssHeld := rssKB(t, pid)
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	writeUntilAll(t, c.http[l], keys, "after", 10*time.Second)
	writeUntilAll(t, c.http[f], keys, "after-via-follower", 10*time.Second)
	for _, p := range c.running() {
		readsBack(t, p.http, keys, "after-via-follower")
	}
	rssHeld = max(rssHeld, rssKB(t, pid)) // the held connections are still open
	if got := c.leader(); got != l {
		t.Errorf("leadership moved from node %d to %d during the abuse", l, got)
	}
	if err := target.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the attacked node is gone: %v", err)
	}

	mu.Lock()
	for _, nc := range held {
		nc.Close()
	}
	held = nil
	mu.Unlock()
	growthMB := float64(rssHeld-rssBefore) / 1024
	t.Logf("%d hostile connections (%d of each of %d kinds, %d held open) in %v; %d writes through a follower meanwhile (%d retries); leader RSS %d KB before, %d KB with the held connections open (growth %.1f MB), %d KB after closing them",
		perKind*len(kinds), perKind, len(kinds), perKind, took.Round(time.Millisecond), writes.Load(), retries.Load(),
		rssBefore, rssHeld, growthMB, rssKB(t, pid))
	if growthMB >= 50 {
		t.Errorf("the leader's RSS grew by %.1f MB under the abuse; want under 50 MB", growthMB)
	}
	if n := linesWith(target.out.String(), "closing connection after malformed frame"); n < perKind*(len(kinds)-1) {
		t.Errorf("the leader logged %d malformed-frame closes for %d malformed connections", n, perKind*(len(kinds)-1))
	}
}

// abuseConn opens a connection to addr and sends a.data. A held connection
// is returned open; any other is half-closed and read until the node closes
// it (within 10s), and nil is returned. The node must never answer.
func abuseConn(addr string, a abuse) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(a.data); err != nil {
		nc.Close()
		return nil, err
	}
	if a.hold {
		return nc, nil
	}
	defer nc.Close()
	nc.(*net.TCPConn).CloseWrite()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, nc)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errors.New("the node did not close the connection within 10s")
	case n != 0:
		return nil, fmt.Errorf("the node answered %d bytes", n)
	}
	return nil, nil
}
