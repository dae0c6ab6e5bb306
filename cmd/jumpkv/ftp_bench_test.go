package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFTPThroughput measures, in one run and alternating, an upload
// and a download of one file through jumpkv's FTP (three node processes,
// the upload to one node, the download from another) against curl PUT and
// GET of the same bytes to a single-process HTTP server that keeps the
// body in memory (the fairest baseline: jumpkv's bench baseline caps
// values at 1 MiB). It reports MB/s of each and the ratios, and the peak
// RSS of each node. Run:
//
//	JUMPKV_FTP_BENCH_MB=256 go test -run '^$' -bench FTPThroughput -benchtime 1x ./cmd/jumpkv
func BenchmarkFTPThroughput(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("curl is not installed")
	}
	mb, _ := strconv.Atoi(os.Getenv("JUMPKV_FTP_BENCH_MB"))
	if mb <= 0 {
		mb = 256
	}
	rounds := 3
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, int64(mb)<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()

	nodes := ftpBenchNodes(b, 3)
	base := startBaseline(b)
	var ftpUp, ftpDown, httpUp, httpDown []float64
	mbps := func(d time.Duration) float64 { return float64(mb) * (1 << 20) / 1e6 / d.Seconds() }
	timed := func(args ...string) time.Duration {
		start := time.Now()
		if out, err := exec.Command("curl", append([]string{"-sS", "--fail"}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	for r := range rounds {
		name := fmt.Sprintf("bench/r%d.bin", r)
		httpUp = append(httpUp, mbps(timed("-T", src, "http://"+base+"/v1/kv/"+name)))
		ftpUp = append(ftpUp, mbps(timed("--ftp-create-dirs", "-T", src, "ftp://"+nodes[0].ftp+"/"+name)))
		httpDown = append(httpDown, mbps(timed("-o", "/dev/null", "http://"+base+"/v1/kv/"+name)))
		ftpDown = append(ftpDown, mbps(timed("-o", "/dev/null", "ftp://"+nodes[1].ftp+"/"+name)))
	}
	med := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2]
	}
	b.ReportMetric(med(ftpUp), "ftp-up-MB/s")
	b.ReportMetric(med(httpUp), "baseline-put-MB/s")
	b.ReportMetric(med(ftpDown), "ftp-down-MB/s")
	b.ReportMetric(med(httpDown), "baseline-get-MB/s")
	b.Logf("%d MiB, %d rounds, medians: FTP upload %.0f MB/s vs baseline PUT %.0f MB/s (ratio %.2f); FTP download %.0f MB/s vs baseline GET %.0f MB/s (ratio %.2f)",
		mb, rounds, med(ftpUp), med(httpUp), med(ftpUp)/med(httpUp), med(ftpDown), med(httpDown), med(ftpDown)/med(httpDown))
	b.Logf("rounds: ftp up %.0f, put %.0f, ftp down %.0f, get %.0f", ftpUp, httpUp, ftpDown, httpDown)
	for i, n := range nodes {
		b.Logf("node %d: peak RSS %d MiB, RSS now %d MiB", i+1, procKB(b, n.cmd.Process.Pid, "VmHWM")>>10, procKB(b, n.cmd.Process.Pid, "VmRSS")>>10)
	}
}

// BenchmarkFTPUploadRSS uploads one large file (JUMPKV_FTP_BENCH_MB, 500
// by default) through FTP to one of three node processes and reports each
// node's peak RSS against the bytes it holds of the file (2 copies of
// each chunk on 3 nodes: 2/3 of the file each, on average). Run:
//
//	JUMPKV_FTP_BENCH_MB=500 go test -run '^$' -bench FTPUploadRSS -benchtime 1x ./cmd/jumpkv
func BenchmarkFTPUploadRSS(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("curl is not installed")
	}
	mb, _ := strconv.Atoi(os.Getenv("JUMPKV_FTP_BENCH_MB"))
	if mb <= 0 {
		mb = 500
	}
	nodes := ftpBenchNodes(b, 3)
	before := make([]int64, len(nodes))
	for i, n := range nodes {
		before[i] = procKB(b, n.cmd.Process.Pid, "VmRSS")
	}
	// Stream the bytes from curl's stdin: no file on either side.
	cmd := exec.Command("curl", "-sS", "--fail", "-T", "-", "ftp://"+nodes[0].ftp+"/big.bin")
	w, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := io.CopyN(w, rand.Reader, int64(mb)<<20); err != nil {
		b.Fatal(err)
	}
	w.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Logf("%d MiB uploaded over FTP in %v (%.0f MB/s)", mb, took.Round(time.Millisecond), float64(mb)*(1<<20)/1e6/took.Seconds())
	for i, n := range nodes {
		hwm := procKB(b, n.cmd.Process.Pid, "VmHWM")
		held := heldBytes(b, n.http)
		b.Logf("node %d: RSS before %d MiB, peak %d MiB, now %d MiB; it holds %d MiB of keys and values (its copies of the file's chunks): peak - held = %d MiB",
			i+1, before[i]>>10, hwm>>10, procKB(b, n.cmd.Process.Pid, "VmRSS")>>10, held>>20, hwm>>10-held>>20)
		b.ReportMetric(float64(hwm>>10), fmt.Sprintf("node%d-peak-MiB", i+1))
		b.ReportMetric(float64(hwm>>10-held>>20), fmt.Sprintf("node%d-overhead-MiB", i+1))
	}
}

// benchNode is a node process of a benchmark.
type benchNode struct {
	cmd       *exec.Cmd
	http, ftp string
}

func ftpBenchNodes(b *testing.B, n int) []*benchNode {
	b.Helper()
	dir := b.TempDir()
	exe := filepath.Join(dir, "jumpkv")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var ports []int
	var lns []net.Listener
	for range 3 * n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		ln.Close()
	}
	var join []string
	for i := range n {
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	var nodes []*benchNode
	for i := range n {
		nd := &benchNode{http: "127.0.0.1:" + strconv.Itoa(ports[i]), ftp: "127.0.0.1:" + strconv.Itoa(ports[2*n+i])}
		nd.cmd = exec.Command(exe, "node", "--http", nd.http, "--peer", join[i], "--advertise", "127.0.0.1",
			"--join", strings.Join(join, ","), "--ftp", nd.ftp, "--log-level", "warn")
		nodes = append(nodes, nd)
	}
	return startBenchNodes(b, nodes)
}

func startBenchNodes(b *testing.B, nodes []*benchNode) []*benchNode {
	b.Helper()
	for _, nd := range nodes {
		nd.cmd.Stderr = os.Stderr
		if err := nd.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = nd.cmd.Process.Kill(); _ = nd.cmd.Wait() })
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		for {
			resp, err := http.Get("http://" + nd.http + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("node %s not ready", nd.http)
			}
			time.Sleep(100 * time.Millisecond) // polling processes that start
		}
	}
	return nodes
}

// startBaseline serves PUT and GET of whole bodies kept in memory.
func startBaseline(b *testing.B) string {
	b.Helper()
	var mu sync.Mutex
	m := map[string][]byte{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			mu.Lock()
			m[r.URL.Path] = body
			mu.Unlock()
		case http.MethodGet:
			mu.Lock()
			v, ok := m[r.URL.Path]
			mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(v)))
			_, _ = w.Write(v)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func procKB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// heldBytes reads a node's jumpkv_bytes gauge: the key and value bytes it
// holds.
func heldBytes(b *testing.B, httpAddr string) int64 {
	b.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "jumpkv_bytes "); ok {
			f, _ := strconv.ParseFloat(rest, 64)
			return int64(f)
		}
	}
	b.Fatal("no jumpkv_bytes in /metrics")
	return 0
}
