package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key as PEM files in dir, and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "jumpkv test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// runCmd runs a jumpkv command in-process and returns its exit code and
// output.
func runCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, env, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestNodeTLSFlagErrors checks that --tls-cert and --tls-key go together
// and that unusable files are named, before anything starts.
func TestNodeTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	base := []string{"node", "--http", "127.0.0.1:0", "--peer", "127.0.0.1:0", "--advertise", "127.0.0.1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", cert}, "--tls-cert needs --tls-key"},
		{"key without cert", []string{"--tls-key", key}, "--tls-key needs --tls-cert"},
		{"missing file", []string{"--tls-cert", missing, "--tls-key", key}, missing},
		{"swapped", []string{"--tls-cert", key, "--tls-key", cert}, "--tls-cert"},
	} {
		code, _, stderr := runCmd(t, nil, append(base, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, stderr, tc.want)
		}
	}
	// The environment works as for every flag.
	code, _, stderr := runCmd(t, []string{"JUMPKV_TLS_KEY=" + key}, base...)
	if code != 2 || !strings.Contains(stderr, "--tls-key needs --tls-cert") {
		t.Errorf("JUMPKV_TLS_KEY alone: exit %d, %q", code, stderr)
	}
}

// TestClientTLSFlagErrors checks the client's --insecure and --cacert
// mistakes, which are usage errors (exit 2) named in the message.
func TestClientTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cert, _ := selfSigned(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"health", "--insecure", "--cacert", cert}, "give one of them"},
		{[]string{"health", "--cacert", filepath.Join(dir, "missing.pem")}, "--cacert"},
		{[]string{"get", "--cacert", notPEM, "k"}, "no PEM certificate"},
	} {
		code, _, stderr := runCmd(t, nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// Defaults are unchanged: plain HTTP, no flag needed.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer plain.Close()
	if code, _, stderr := runCmd(t, nil, "health", "--addr", plain.URL); code != 0 {
		t.Errorf("health over plain HTTP: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, nil, "health", "--addr", strings.TrimPrefix(plain.URL, "http://")); code != 0 {
		t.Errorf("health over plain HTTP without a scheme: exit %d, %q", code, stderr)
	}
}

// TestProcessTLSClientAPI runs a node serving HTTPS with a self-signed
// certificate and talks to it with the client commands: verified with
// --cacert, unverified with --insecure, refused without either, and from
// the environment as a container health check would.
func TestProcessTLSClientAPI(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	ports := freePorts(t, 2)
	httpAddr, peerAddr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	p := startProc(t, binary(t), httpAddr, "node", "--http", httpAddr, "--peer", peerAddr, "--advertise", "127.0.0.1",
		"--buckets", "64", "--tls-cert", cert, "--tls-key", key)
	base := "https://" + httpAddr

	caPEM, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	verified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := verified.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTPS node is not ready after 30s: %v\n%s", err, p.out)
		}
		time.Sleep(100 * time.Millisecond) // polling a real process
	}
	// Plain HTTP to the HTTPS port is not served.
	if st, _, b := request(t, "GET", "http://"+httpAddr+"/healthz", nil); st == 200 {
		t.Errorf("plain HTTP to the HTTPS port answered 200: %s", b)
	}

	if code, _, stderr := runCmd(t, nil, "health", "--addr", base, "--cacert", cert); code != 0 {
		t.Fatalf("health --cacert: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, nil, "health", "--addr", base, "--insecure"); code != 0 {
		t.Fatalf("health --insecure: exit %d, %q", code, stderr)
	}
	code, _, stderr := runCmd(t, nil, "health", "--addr", base)
	if code != 1 || !strings.Contains(stderr, "certificate") || !strings.Contains(stderr, "--cacert") || !strings.Contains(stderr, "--insecure") {
		t.Fatalf("health without --cacert or --insecure: exit %d, %q; want 1 and a hint", code, stderr)
	}
	if code, _, _ := runCmd(t, nil, "health", "--addr", "http://"+httpAddr); code != 1 {
		t.Fatalf("health over plain HTTP to the HTTPS port: exit %d, want 1", code)
	}
	// The container health check takes its settings from the environment.
	env := []string{"JUMPKV_ADDR=" + base, "JUMPKV_CACERT=" + cert}
	if code, _, stderr := runCmd(t, env, "health"); code != 0 {
		t.Fatalf("health from JUMPKV_ADDR and JUMPKV_CACERT: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, []string{"JUMPKV_ADDR=" + base, "JUMPKV_INSECURE=true"}, "health"); code != 0 {
		t.Fatalf("health from JUMPKV_INSECURE: exit %d, %q", code, stderr)
	}

	// A round of client commands over HTTPS.
	if code, out, stderr := runCmd(t, env, "put", "tls/greeting", "hello over tls"); code != 0 || !strings.Contains(out, "ok, version") {
		t.Fatalf("put: exit %d, %q %q", code, out, stderr)
	}
	if code, out, stderr := runCmd(t, env, "get", "tls/greeting"); code != 0 || out != "hello over tls" {
		t.Fatalf("get: exit %d, %q %q", code, out, stderr)
	}
	if code, out, stderr := runCmd(t, env, "ls", "tls/"); code != 0 || out != "tls/greeting\n" {
		t.Fatalf("ls: exit %d, %q %q", code, out, stderr)
	}
	if code, _, stderr := runCmd(t, env, "del", "tls/greeting"); code != 0 {
		t.Fatalf("del: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCmd(t, env, "get", "tls/greeting"); code != 1 {
		t.Fatalf("get after del: exit %d, want 1", code)
	}
	if !strings.Contains(p.out.String(), "scheme=https") {
		t.Errorf("the node does not log that it serves HTTPS:\n%s", p.out)
	}
}
