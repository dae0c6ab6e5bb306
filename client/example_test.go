package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

// The examples run against an in-process cluster of three nodes whose URLs
// are in nodes (see main_test.go); against a real one, list its nodes:
// client.New([]string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"}).

func ExampleNew() {
	c, err := client.New(nodes, client.WithTimeout(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(len(c.Endpoints()), "endpoints")
	// Output: 3 endpoints
}

func ExampleClient_Put() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Put(ctx, "examples/put/greeting", []byte("hello"), client.ContentType("text/plain")); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, "examples/put/greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%s)\n", v.Data, v.ContentType)
	// Output: hello (text/plain)
}

func ExampleClient_Get() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Get(ctx, "examples/get/never-written")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output: true
}

// Optimistic concurrency: read, change, and write back only if nobody wrote
// in between; on ErrPrecondition, read again and retry.
func ExampleIfMatch() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	key := "examples/ifmatch/counter"
	if _, err := c.Put(ctx, key, []byte("1")); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	// Another writer changes the key meanwhile.
	if _, err := c.Put(ctx, key, []byte("5")); err != nil {
		log.Fatal(err)
	}
	_, err = c.Put(ctx, key, []byte("2"), client.IfMatch(v.Version))
	fmt.Println("stale write refused:", errors.Is(err, client.ErrPrecondition))

	v, _ = c.Get(ctx, key)
	_, err = c.Put(ctx, key, []byte("6"), client.IfMatch(v.Version))
	fmt.Println("fresh write:", err)
	// Output:
	// stale write refused: true
	// fresh write: <nil>
}

func ExampleClient_Create() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Create(ctx, "examples/create/lock", []byte("owner-1"))
	fmt.Println("first:", err)
	_, err = c.Create(ctx, "examples/create/lock", []byte("owner-2"))
	fmt.Println("second exists:", errors.Is(err, client.ErrExists))
	// Output:
	// first: <nil>
	// second exists: true
}

func ExampleClient_Append() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, line := range []string{"a\n", "b\n"} {
		_, err := c.Append(ctx, "examples/append/log", []byte(line))
		if errors.Is(err, client.ErrUnknownOutcome) {
			// Never resent by the client: appending again could
			// duplicate the line. Read the log to decide.
			log.Fatal(err)
		} else if err != nil {
			log.Fatal(err)
		}
	}
	v, _ := c.Get(ctx, "examples/append/log")
	fmt.Printf("%q\n", v.Data)
	// Output: "a\nb\n"
}

func ExampleClient_Delete() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, _ = c.Put(ctx, "examples/delete/tmp", []byte("x"))
	fmt.Println(c.Delete(ctx, "examples/delete/tmp"))
	err = c.Delete(ctx, "examples/delete/tmp")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// <nil>
	// true
}

func ExampleClient_List() {
	ctx := context.Background()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, room := range []string{"kitchen", "attic", "cellar"} {
		if _, err := c.Put(ctx, "examples/list/"+room+"/temp", []byte("20")); err != nil {
			log.Fatal(err)
		}
	}
	// Every key under the prefix, in byte order, a page of 2 per request.
	for key, err := range c.List(ctx, "examples/list/", client.PageSize(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(key)
	}
	// Output:
	// examples/list/attic/temp
	// examples/list/cellar/temp
	// examples/list/kitchen/temp
}

func ExampleClient_Watch() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A writer, once the watch is open: every change acknowledged from
	// then on is delivered.
	open := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-open:
		case <-ctx.Done():
			return
		}
		_, _ = c.Put(ctx, "examples/watch/door", []byte("open"))
		_ = c.Delete(ctx, "examples/watch/door")
	}()
	defer func() { <-done }()
	var once sync.Once
	onConnect := client.OnConnect(func(string) { once.Do(func() { close(open) }) })
	seen := 0
	for ev, err := range c.Watch(ctx, "examples/watch/", "", onConnect) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.Type == client.EventReset {
			continue // re-read what you mirror; nothing here
		}
		fmt.Println(ev.Type, ev.Key, string(ev.Value))
		if seen++; seen == 2 {
			break // closes the watch
		}
	}
	// Output:
	// put examples/watch/door open
	// delete examples/watch/door
}

func ExampleClient_Cluster() {
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ci, err := c.Cluster(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	alive := 0
	for _, n := range ci.Nodes {
		if n.State == "alive" {
			alive++
		}
	}
	fmt.Println(alive, "nodes alive,", ci.Replicas, "copies of each key, leader known:", ci.Leader != 0)
	// Output: 3 nodes alive, 2 copies of each key, leader known: true
}

// Errors carry the server's words; errors.Is tells them apart.
func ExampleError() {
	c, err := client.New(nodes)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Put(context.Background(), "examples/error/k", []byte("v"), client.IfMatch("999.1"))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, errors.Is(err, client.ErrPrecondition))
	}
	// Output: 412 precondition_failed true
}
