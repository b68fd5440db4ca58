package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// startTLSFront serves HTTPS on a free 127.0.0.1 port, in this process, with a certificate made for the test, and
// forwards every request to backend (plain HTTP). Streamed responses are flushed as they come. The front's end of the
// connection is this process; its TLS is Go's crypto/tls, which the OpenSSL probes do not see, so only the client's
// library delivers the plaintext.
func startTLSFront(t *testing.T, backend httpServer) httpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(backend.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.FlushInterval = -1
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"http/1.1"},
	}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	return httpServer{url: "https://" + addr + target.Path, addr: addr, pid: os.Getpid(),
		comm: strings.TrimSpace(string(comm)), transport: record.TransportHTTPS}
}

// pythonClient is a Streamable HTTP client on Python's standard library (urllib and ssl, OpenSSL's libssl.so.3):
// initialize, notifications/initialized, then echo of a message of argv[2] bytes. (json.dumps writes ", " and ": ",
// hence the sizes the test expects.)
const pythonClient = `import json, ssl, sys, urllib.request
url, size = sys.argv[1], int(sys.argv[2])
ctx = ssl._create_unverified_context()
def post(body, sid=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if sid:
        h["Mcp-Session-Id"] = sid
        h["Mcp-Protocol-Version"] = "2025-11-25"
    r = urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(), headers=h), context=ctx, timeout=60)
    return r.headers.get("Mcp-Session-Id"), r.read()
sid, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "py", "version": "1"}}})
post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
_, body = post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "x" * size}}}, sid)
assert b"Echo: " in body, body[:200]
`

// requirePython finds python3, failing in CI when it is missing.
func requirePython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is needed for the HTTPS client over libssl")
		}
		t.Skip("python3 not found")
	}
	return py
}

// TestHTTPSPythonClient runs a Python client (OpenSSL's libssl.so.3) against server-everything behind a TLS front:
// the plaintext comes from the uprobes on libssl, joined to the client's TCP socket, and the records are those of
// plain HTTP with transport "https", a 1 MiB echo included.
func TestHTTPSPythonClient(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	py := requirePython(t)
	front := startTLSFront(t, startServerEverythingHTTP(t, "streamableHttp"))
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pythonClient), 0o644); err != nil {
		t.Fatal(err)
	}
	const big = 1 << 20
	res := watch(t, 90*time.Second, noDB, py, script, front.url, "1048576")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if !strings.Contains(res.stderr, "HTTPS plaintext from") || !strings.Contains(res.stderr, "libssl.so") {
		t.Errorf("the log does not say libssl was probed:\n%s", res.stderr)
	}
	checkHTTPBasics(t, res, front, "python3")
	c2s, s2c := byDirection(res.records)
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "initialize", id: "1", size: 162},
		{typ: "notification", method: "notifications/initialized", size: 57},
		{typ: "request", method: "tools/call", id: "2", size: big + 109, tool: "echo"},
	})
	if len(s2c) != 2 || s2c[0].Method != "initialize" || s2c[1].Tool != "echo" || s2c[1].Size < big {
		t.Fatalf("server to client:\n%s", summary(s2c))
	}
	if !strings.Contains(string(s2c[1].Message), strings.Repeat("x", big)) {
		t.Error("the 1 MiB echo did not arrive whole")
	}
	checkExchanges(t, res.http, []exchange{{event: "exchange", method: "POST", path: "/mcp", status: 202, reqSize: 57}})
	if c := res.finalCounters(t); c["http_orphan_bytes"] != 0 {
		t.Errorf("%d bytes of TLS plaintext were not joined to their connection", c["http_orphan_bytes"])
	}
}

// nodeClient is a Streamable HTTP client on Node.js's fetch (undici over node's own TLS: the OpenSSL linked into the
// node binary, with memory BIOs): initialize, then echo of a message of argv[3] bytes.
const nodeClient = `process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
const [url, size] = [process.argv[2], Number(process.argv[3])];
const h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"};
let r = await fetch(url, {method: "POST", headers: h, body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "initialize", params: {protocolVersion: "2025-11-25", capabilities: {}, clientInfo: {name: "node", version: "1"}}})});
const sid = r.headers.get("mcp-session-id");
await r.text();
r = await fetch(url, {method: "POST", headers: {...h, "Mcp-Session-Id": sid}, body: JSON.stringify({jsonrpc: "2.0", id: 2, method: "tools/call", params: {name: "echo", arguments: {message: "x".repeat(size)}}})});
const body = await r.text();
if (!body.includes("Echo: ")) { console.error(body.slice(0, 200)); process.exit(1); }
`

// TestHTTPSNodeClient runs a Node.js fetch client against server-everything behind a TLS front. Node links OpenSSL
// into its binary and moves ciphertext through memory BIOs, so the SSL object is joined to its socket by the
// ciphertext write that follows each SSL_write.
func TestHTTPSNodeClient(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	front := startTLSFront(t, startServerEverythingHTTP(t, "streamableHttp"))
	script := filepath.Join(t.TempDir(), "client.mjs")
	if err := os.WriteFile(script, []byte(nodeClient), 0o644); err != nil {
		t.Fatal(err)
	}
	const big = 1 << 20
	res := watch(t, 90*time.Second, noDB, "node", script, front.url, "1048576")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, front, "node")
	c2s, s2c := byDirection(res.records)
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "initialize", id: "1", size: 149},
		{typ: "request", method: "tools/call", id: "2", size: big + 98, tool: "echo"},
	})
	if len(s2c) != 2 || s2c[0].Method != "initialize" || s2c[1].Tool != "echo" || s2c[1].Size < big {
		t.Fatalf("server to client:\n%s", summary(s2c))
	}
	if !strings.Contains(string(s2c[1].Message), strings.Repeat("x", big)) {
		t.Error("the 1 MiB echo did not arrive whole")
	}
	if c := res.finalCounters(t); c["http_orphan_bytes"] != 0 {
		t.Errorf("%d bytes of TLS plaintext were not joined to their connection", c["http_orphan_bytes"])
	}
}
