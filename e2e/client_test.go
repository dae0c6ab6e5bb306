//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterView is GET /v1/cluster.
type clusterView struct {
	Leader   uint64     `json:"leader"`
	Term     uint64     `json:"term"`
	Epoch    uint64     `json:"epoch"`
	Replicas int        `json:"replicas"`
	Buckets  int        `json:"buckets"`
	Nodes    []nodeView `json:"nodes"`
}

type nodeView struct {
	ID             uint64 `json:"id"`
	Peer           string `json:"peer"`
	State          string `json:"state"`
	Role           string `json:"role"`
	BucketsPrimary int    `json:"buckets_primary"`
	BucketsBackup  int    `json:"buckets_backup"`
}

// statusView is GET /admin/status.
type statusView struct {
	ID     uint64 `json:"id"`
	Leader uint64 `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	Keys   int    `json:"keys"`
	InSync bool   `json:"in_sync"`
}

// base returns the URL of the node at port on 127.0.0.1, or at addr when
// it is a host:port (a container's own address).
func base(port string) string {
	if strings.Contains(port, ":") {
		return "http://" + port
	}
	return "http://127.0.0.1:" + port
}

func keyURL(port, key string) string { return base(port) + "/v1/kv/" + url.PathEscape(key) }

// getJSON decodes a 200 answer of GET path into v.
func (s *stack) getJSON(port, path string, v any) error {
	resp, err := s.http.Get(base(port) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// put writes key=value through the node at port and returns the status.
func (s *stack) put(port, key, value string) (int, error) {
	req, err := http.NewRequest(http.MethodPut, keyURL(port, key), strings.NewReader(value))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// get reads key through the node at port.
func (s *stack) get(port, key string) (int, string, error) {
	resp, err := s.http.Get(keyURL(port, key))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// retryable reports whether an answer may change by itself: the node is
// unreachable, has no leader, or the outcome was unknown.
func retryable(code int, err error) bool {
	return err != nil || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout ||
		code == http.StatusBadGateway
}

// forEach runs f on every key with a few workers; f gets the port of a
// node to use, spread over ports.
func forEach(keys []string, ports []string, f func(port, key string)) {
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				f(ports[i%len(ports)], keys[i])
			}
		})
	}
	wg.Wait()
}

// writeKeys writes every key of kv through the given nodes. A write that
// fails in a way that may pass (503, 504, connection refused) is retried,
// on the next node, until timeout; any other answer fails the test.
func (s *stack) writeKeys(t *testing.T, ports []string, kv map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var mu sync.Mutex
	var errs []string
	forEach(sortedKeys(kv), ports, func(port, key string) {
		for attempt := 0; ; attempt++ {
			p := ports[(slices.Index(ports, port)+attempt)%len(ports)]
			code, err := s.put(p, key, kv[key])
			if code == http.StatusOK {
				return
			}
			if !retryable(code, err) || time.Now().After(deadline) {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("PUT %s via :%s: %d %v", key, p, code, err))
				mu.Unlock()
				return
			}
			time.Sleep(100 * time.Millisecond) // back off before the retry
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d writes failed, e.g.:\n%s", len(errs), len(kv), strings.Join(errs[:min(10, len(errs))], "\n"))
	}
}

// checkKeys reads every key of kv through the given nodes and fails the
// test unless each has its value. Unavailability (503, 504, unreachable)
// is retried until timeout; a missing key or a wrong value fails at once.
func (s *stack) checkKeys(t *testing.T, ports []string, kv map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var mu sync.Mutex
	var errs []string
	forEach(sortedKeys(kv), ports, func(port, key string) {
		for attempt := 0; ; attempt++ {
			p := ports[(slices.Index(ports, port)+attempt)%len(ports)]
			code, body, err := s.get(p, key)
			if code == http.StatusOK && body == kv[key] {
				return
			}
			if !retryable(code, err) || time.Now().After(deadline) {
				if code == http.StatusOK {
					err = fmt.Errorf("value %q, want %q", body, kv[key])
				}
				mu.Lock()
				errs = append(errs, fmt.Sprintf("GET %s via :%s: %d %v %s", key, p, code, err, strings.TrimSpace(body)))
				mu.Unlock()
				return
			}
			time.Sleep(100 * time.Millisecond) // back off before the retry
		}
	})
	if len(errs) > 0 {
		slices.Sort(errs)
		t.Fatalf("%d of %d keys not readable with their value, e.g.:\n%s", len(errs), len(kv), strings.Join(errs[:min(10, len(errs))], "\n"))
	}
}

func sortedKeys(kv map[string]string) []string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// waitFor polls cond until it holds and returns how long that took, or
// fails the test with cond's last reason once timeout has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: still not after %v: %s", what, timeout, why)
		}
		<-tick.C
	}
}
