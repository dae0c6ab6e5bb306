package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// ftpNode is a node process with FTP.
type ftpNode struct {
	*proc
	ftp string // host:port
}

// startFTPCluster starts n node processes with --ftp.
func startFTPCluster(t *testing.T, n int, extra ...string) []*ftpNode {
	t.Helper()
	bin := binary(t)
	ports := freePorts(t, 3*n)
	var join []string
	for i := range n {
		join = append(join, "127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	var nodes []*ftpNode
	var procs []*proc
	for i := range n {
		httpAddr := "127.0.0.1:" + strconv.Itoa(ports[i])
		ftpAddr := "127.0.0.1:" + strconv.Itoa(ports[2*n+i])
		args := append([]string{"node", "--http", httpAddr, "--peer", join[i], "--advertise", "127.0.0.1",
			"--join", strings.Join(join, ","), "--dead-after", "1s", "--buckets", "128", "--ftp", ftpAddr}, extra...)
		p := startProc(t, bin, httpAddr, args...)
		procs = append(procs, p)
		nodes = append(nodes, &ftpNode{proc: p, ftp: ftpAddr})
	}
	waitCluster(t, procs, 30*time.Second)
	return nodes
}

func writeRandom(t *testing.T, path string, n int) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, int64(n)); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (apt-get install %s): skipping this real-client test", name, name)
	}
}

// pyDownload fetches path from an FTP server with Python's ftplib.
const pyDownload = `
import ftplib, sys
host, port, path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
f = ftplib.FTP(); f.connect(host, port, timeout=60); f.login()
folder, name = path.rsplit("/", 1)
f.cwd(folder)
sizes = {n: int(facts["size"]) for n, facts in f.mlsd() if facts["type"] == "file"}
with open(out, "wb") as w:
    f.retrbinary("RETR " + name, w.write)
print(sizes[name], " ".join(sorted(sizes)))
f.quit()
`

// TestFTPAcrossThreeProcesses uploads with curl to one node, lists and
// downloads with ftplib from another, reads over HTTP from the third, and
// checks the bytes, at the sizes around --max-value and a large one; a
// watcher on the third node sees each upload as a file event.
func TestFTPAcrossThreeProcesses(t *testing.T) {
	needTool(t, "curl")
	needTool(t, "python3")
	nodes := startFTPCluster(t, 3)
	dir := t.TempDir()

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+nodes[2].http+"/v1/watch?prefix=up/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	const maxValue = 1 << 20
	sizes := []int{0, 1, maxValue, maxValue + 1, 64 << 20}
	var names []string
	for _, n := range sizes {
		name := fmt.Sprintf("f%d.bin", n)
		names = append(names, name)
		src := filepath.Join(dir, name)
		sum := writeRandom(t, src, n)
		runTool(t, "curl", "-sS", "--ftp-create-dirs", "-T", src, "ftp://"+nodes[0].ftp+"/up/"+name)

		host, port, _ := net.SplitHostPort(nodes[1].ftp)
		got := filepath.Join(dir, name+".ftplib")
		out := runTool(t, "python3", "-c", pyDownload, host, port, "/up/"+name, got)
		if fileSum(t, got) != sum || !strings.HasPrefix(out, strconv.Itoa(n)+" ") {
			t.Fatalf("%d bytes: ftplib from node 2 read different bytes or size (%s)", n, out)
		}
		st, h, body := httpGet(t, "http://"+nodes[2].http+"/v1/kv/up/"+name)
		if st != 200 || sha256.Sum256(body) != sum || h.Get("X-Jumpkv-File") != "true" {
			t.Fatalf("%d bytes: HTTP from node 3: %d, %d bytes", n, st, len(body))
		}
		// The watcher on node 3 sees the upload done on node 1.
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var ev map[string]any
			if err := ws.ReadJSON(&ev); err != nil {
				t.Fatalf("%d bytes: watch: %v", n, err)
			}
			if ev["type"] == "reset" || strings.HasSuffix(fmt.Sprint(ev["key"]), "/") {
				continue // a folder's marker (curl's MKD)
			}
			if ev["type"] != "put" || ev["key"] != "up/"+name || ev["file"] != true || ev["size"] != float64(n) || ev["value"] != nil {
				t.Fatalf("%d bytes: watch event %v", n, ev)
			}
			break
		}
	}
	// Every front lists the same names with the same sizes.
	st, _, b := request(t, "GET", "http://"+nodes[1].http+"/v1/kv?prefix=up/&detail=true", nil)
	var lr struct {
		Keys    []string `json:"keys"`
		Entries []struct {
			Key  string `json:"key"`
			Size int    `json:"size"`
			File bool   `json:"file"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(b, &lr); err != nil || st != 200 || len(lr.Entries) != len(sizes)+1 {
		t.Fatalf("HTTP listing: %d %s", st, b)
	}
	for _, e := range lr.Entries {
		if e.Key == "up/" {
			continue // the folder curl made with MKD
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(e.Key, "up/f"), ".bin"))
		if !e.File || e.Size != n {
			t.Fatalf("HTTP listing entry %+v", e)
		}
	}
	list := runTool(t, "curl", "-sS", "--list-only", "ftp://"+nodes[2].ftp+"/up/")
	if got := strings.Fields(list); strings.Join(got, ",") != "f0.bin,f1.bin,f1048576.bin,f1048577.bin,f67108864.bin" {
		t.Fatalf("curl NLST on node 3: %q", got)
	}

	// curl --append, -C - (resume), -Q (rename) on other nodes.
	small := filepath.Join(dir, "tail")
	if err := os.WriteFile(small, []byte("TAIL"), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, "curl", "-sS", "--append", "-T", small, "ftp://"+nodes[1].ftp+"/up/f1048577.bin")
	full := filepath.Join(dir, "f1048577.bin")
	want, _ := os.ReadFile(full)
	want = append(want, "TAIL"...)
	part := filepath.Join(dir, "resumed")
	if err := os.WriteFile(part, want[:700000], 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, "curl", "-sS", "-C", "-", "-o", part, "ftp://"+nodes[2].ftp+"/up/f1048577.bin")
	if got, _ := os.ReadFile(part); !bytes.Equal(got, want) {
		t.Fatalf("resumed download: %d bytes, want %d", len(got), len(want))
	}
	runTool(t, "curl", "-sS", "-Q", "-RNFR /up/f1.bin", "-Q", "-RNTO /up/renamed.bin", "ftp://"+nodes[0].ftp+"/up/")
	if st, _, _ := request(t, "GET", "http://"+nodes[1].http+"/v1/kv/up/f1.bin", nil); st != 404 {
		t.Fatalf("renamed file still at its old name: %d", st)
	}
	if st, _, b := request(t, "HEAD", "http://"+nodes[1].http+"/v1/kv/up/renamed.bin", nil); st != 200 {
		t.Fatalf("renamed file: %d %s", st, b)
	}
	runTool(t, "curl", "-sS", "-Q", "-DELE /up/renamed.bin", "ftp://"+nodes[2].ftp+"/up/")
	if st, _, _ := request(t, "GET", "http://"+nodes[0].http+"/v1/kv/up/renamed.bin", nil); st != 404 {
		t.Fatalf("deleted file: %d", st)
	}

	// lftp, where installed: put, ls, get, mv, rm on the tree.
	if _, err := exec.LookPath("lftp"); err == nil {
		sum := writeRandom(t, filepath.Join(dir, "l.bin"), 3<<20+5)
		script := fmt.Sprintf("set net:max-retries 1; set net:timeout 20; set ftp:ssl-allow no; mkdir -p lf; cd lf; put %s -o l.bin; cls -l; get l.bin -o %s; mv l.bin m.bin; cls; bye",
			filepath.Join(dir, "l.bin"), filepath.Join(dir, "l.got"))
		out := runTool(t, "lftp", "-u", "anonymous,x", "-e", script, "ftp://"+nodes[1].ftp)
		if fileSum(t, filepath.Join(dir, "l.got")) != sum || !strings.Contains(out, "3145733") || !strings.Contains(out, "m.bin") {
			t.Fatalf("lftp session:\n%s", out)
		}
	} else {
		t.Log("lftp is not installed: its part skipped")
	}
}

func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	c := *httpClient
	c.Timeout = time.Minute
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// rawFTP is a minimal FTP client for transfers a test interrupts.
type rawFTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialFTP(t *testing.T, addr string) *rawFTP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := &rawFTP{t: t, c: c, r: bufio.NewReader(c)}
	f.reply("220")
	f.cmd("USER anonymous", "331")
	f.cmd("PASS x", "230")
	return f
}

func (f *rawFTP) reply(want string) string {
	f.t.Helper()
	_ = f.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := f.r.ReadString('\n')
		if err != nil {
			f.t.Fatalf("reading a reply: %v", err)
		}
		if len(line) >= 4 && line[3] == ' ' {
			if !strings.HasPrefix(line, want) {
				f.t.Fatalf("reply %q, want %s", line, want)
			}
			return line
		}
	}
}

func (f *rawFTP) cmd(line, want string) string {
	f.t.Helper()
	fmt.Fprintf(f.c, "%s\r\n", line)
	return f.reply(want)
}

// data opens a passive data connection for the next transfer command.
func (f *rawFTP) data() net.Conn {
	f.t.Helper()
	r := f.cmd("EPSV", "229")
	m := regexp.MustCompile(`\|\|\|(\d+)\|`).FindStringSubmatch(r)
	if m == nil {
		f.t.Fatalf("EPSV reply %q", r)
	}
	host, _, _ := net.SplitHostPort(f.c.RemoteAddr().String())
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, m[1]), 5*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	return dc
}

// TestFTPNodeKilledMidTransfer SIGKILLs the node serving an upload and
// then the node serving a download: the client gets an error, the
// interrupted upload leaves no file, and stored files still download from
// the others. Four nodes keep 3 copies of each bucket (replicas auto), so
// with two of them killed every key stays readable (G4: exactly half down).
func TestFTPNodeKilledMidTransfer(t *testing.T) {
	nodes := startFTPCluster(t, 4)
	data := make([]byte, 48<<20)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)

	// A whole file first, through node 1.
	up := dialFTP(t, nodes[0].ftp)
	dc := up.data()
	fmt.Fprintf(up.c, "STOR kept.bin\r\n")
	up.reply("150")
	if _, err := dc.Write(data); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	up.reply("226")

	// Node 2 dies in the middle of an upload.
	victim := dialFTP(t, nodes[1].ftp)
	dc = victim.data()
	fmt.Fprintf(victim.c, "STOR lost.bin\r\n")
	victim.reply("150")
	if _, err := dc.Write(data[:20<<20]); err != nil {
		t.Fatal(err)
	}
	_ = nodes[1].cmd.Process.Signal(syscall.SIGKILL)
	_ = nodes[1].wait()
	_ = dc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, werr := dc.Write(data[20<<20:])
	_ = victim.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, rerr := victim.r.ReadString('\n')
	if werr == nil && rerr == nil && strings.HasPrefix(line, "226") {
		t.Fatal("the upload to a killed node was acknowledged")
	}
	// Node 3 dies in the middle of a download.
	down := dialFTP(t, nodes[2].ftp)
	dc = down.data()
	fmt.Fprintf(down.c, "RETR kept.bin\r\n")
	down.reply("150")
	if _, err := io.ReadFull(dc, make([]byte, 5<<20)); err != nil {
		t.Fatal(err)
	}
	_ = nodes[2].cmd.Process.Signal(syscall.SIGKILL)
	_ = nodes[2].wait()
	_ = dc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := io.Copy(io.Discard, dc); int64(n)+5<<20 >= int64(len(data)) {
		t.Fatal("the download from a killed node completed")
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _, b := request(t, "GET", "http://"+nodes[0].http+"/v1/kv/lost.bin", nil)
		if st == 404 {
			break
		}
		if st == 200 && sha256.Sum256(b) == sum {
			t.Fatal("the interrupted upload completed (it was killed at 20 of 48 MiB)")
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost.bin: %d %s", st, b)
		}
		time.Sleep(200 * time.Millisecond) // polling processes recovering from a failover
	}
	for _, n := range []*ftpNode{nodes[0], nodes[3]} {
		var got []byte
		deadline := time.Now().Add(60 * time.Second)
		for {
			c := *httpClient
			c.Timeout = time.Minute
			resp, err := c.Get("http://" + n.http + "/v1/kv/kept.bin")
			if err == nil {
				got, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("kept.bin from %s: %v", n.http, err)
			}
			time.Sleep(200 * time.Millisecond) // polling processes recovering from a failover
		}
		if sha256.Sum256(got) != sum {
			t.Fatalf("kept.bin from %s: different bytes", n.http)
		}
		f := dialFTP(t, n.ftp)
		dc := f.data()
		fmt.Fprintf(f.c, "RETR kept.bin\r\n")
		f.reply("150")
		h := sha256.New()
		_, err := io.Copy(h, dc)
		dc.Close()
		f.reply("226")
		if err != nil || !bytes.Equal(h.Sum(nil), sum[:]) {
			t.Fatalf("FTP download of kept.bin from %s after the deaths: %v", n.ftp, err)
		}
	}
}

// TestFTPSProcessWithCurl runs a node with --tls-cert and --ftp: curl
// uploads and downloads over explicit FTPS (AUTH TLS, PROT P) and the
// bytes read back over HTTPS are the same; a plain login is still served
// (TLS is offered, not forced).
func TestFTPSProcessWithCurl(t *testing.T) {
	needTool(t, "curl")
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	ports := freePorts(t, 3)
	httpAddr, peerAddr, ftpAddr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1]), "127.0.0.1:"+strconv.Itoa(ports[2])
	startProc(t, binary(t), httpAddr, "node", "--http", httpAddr, "--peer", peerAddr, "--advertise", "127.0.0.1",
		"--buckets", "64", "--tls-cert", cert, "--tls-key", key, "--ftp", ftpAddr)
	src := filepath.Join(dir, "secret.bin")
	sum := writeRandom(t, src, 3<<20+9)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("curl", "-sS", "--ssl-reqd", "-k", "-T", src, "ftp://"+ftpAddr+"/tls/secret.bin", "--ftp-create-dirs").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FTPS upload: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond) // the node is still electing itself
	}
	got := filepath.Join(dir, "got.bin")
	runTool(t, "curl", "-sS", "--ssl-reqd", "-k", "-o", got, "ftp://"+ftpAddr+"/tls/secret.bin")
	if fileSum(t, got) != sum {
		t.Fatal("FTPS download: different bytes")
	}
	viaHTTPS := filepath.Join(dir, "https.bin")
	runTool(t, "curl", "-sS", "-k", "-o", viaHTTPS, "https://"+httpAddr+"/v1/kv/tls/secret.bin")
	if fileSum(t, viaHTTPS) != sum {
		t.Fatal("HTTPS read of the FTPS upload: different bytes")
	}
	if out := runTool(t, "curl", "-sS", "--list-only", "ftp://"+ftpAddr+"/tls/"); strings.TrimSpace(out) != "secret.bin" {
		t.Fatalf("plain FTP listing: %q", out)
	}
}
