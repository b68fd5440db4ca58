package e2e

// End-to-end tests of plain HTTP capture over loopback TCP: Streamable HTTP and the legacy HTTP+SSE transport,
// between server-everything, the Inspector CLI and go-sdk peers (gopeer server-http, client-http). The servers run
// outside the monitored command, on a free 127.0.0.1 port; test/peers/README.md lists the wire messages asserted here.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// ---------------------------------------------------------------------------
// Servers.

// httpServer is an MCP server listening on 127.0.0.1, started by the test before the monitor.
type httpServer struct {
	url  string // what clients connect to: http://127.0.0.1:PORT/mcp or .../sse
	addr string // 127.0.0.1:PORT
	pid  int
	comm string
	// transport is the records' transport: "" for http, record.TransportHTTPS behind a TLS front.
	transport string
}

// loopbackPreload makes a Node program listen on 127.0.0.1 only: server-everything calls app.listen(PORT), which
// would bind every interface. It is loaded with node --import.
const loopbackPreload = `import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === "number" || typeof args[0] === "string") && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
`

// freeLoopbackPort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lineWriter collects a process's output and reports the first complete line that contains want (if want is
// not empty).
type lineWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	scanned int // bytes of buf already looked at, up to a newline
	want    string
	matched bool
	line    chan string // receives the matching line once
}

func newLineWriter(want string) *lineWriter {
	return &lineWriter{want: want, matched: want == "", line: make(chan string, 1)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for !w.matched {
		rest := w.buf.Bytes()[w.scanned:]
		n := bytes.IndexByte(rest, '\n')
		if n < 0 {
			break
		}
		w.scanned += n + 1
		if line := string(rest[:n]); strings.Contains(line, w.want) {
			w.matched = true
			w.line <- line
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// wait returns the first line containing want, failing the test after timeout (scaled under emulation: a node
// server took over 30 s to start in a 5.10 guest) or if the process exits first.
func (w *lineWriter) wait(t *testing.T, timeout time.Duration, exited <-chan struct{}, what string) string {
	t.Helper()
	timeout = scaled(timeout)
	select {
	case l := <-w.line:
		return l
	case <-exited:
		t.Fatalf("%s exited before printing %q:\n%s", what, w.want, w.String())
	case <-time.After(timeout):
		t.Fatalf("%s did not print %q within %v:\n%s", what, w.want, timeout, w.String())
	}
	return ""
}

// startProcess starts cmd, bounded by a 5-minute context, and stops it when the test ends: SIGINT, then SIGKILL
// after 5 s. The returned channel is closed when the process has exited.
func startProcess(t *testing.T, name string, args []string, env []string, stdout, stderr *lineWriter) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		defer cancel()
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s%s", filepath.Base(name), stdout.String(), stderr.String())
		}
	})
	return cmd, exited
}

// startServerEverythingHTTP starts server-everything in mode "streamableHttp" (POST/GET/DELETE /mcp) or "sse"
// (GET /sse, POST /message?sessionId=...) on a free 127.0.0.1 port, and returns once the port accepts connections.
func startServerEverythingHTTP(t *testing.T, mode string) httpServer {
	t.Helper()
	port := freeLoopbackPort(t)
	path := map[string]string{"streamableHttp": "/mcp", "sse": "/sse"}[mode]
	if path == "" {
		t.Fatalf("server-everything has no HTTP mode %q", mode)
	}
	preload := "--import=data:text/javascript;base64," + base64.StdEncoding.EncodeToString([]byte(loopbackPreload))
	args := []string{preload, testEnv.serverEverything[1], mode}
	// It prints "MCP Streamable HTTP Server listening on port N" or "Server is running on port N" to stderr.
	stdout, stderr := newLineWriter(""), newLineWriter("on port "+strconv.Itoa(port))
	cmd, exited := startProcess(t, "node", args, []string{"PORT=" + strconv.Itoa(port)}, stdout, stderr)
	stderr.wait(t, 30*time.Second, exited, "server-everything "+mode)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitAccepting(t, addr, exited)
	return httpServer{url: "http://" + addr + path, addr: addr, pid: cmd.Process.Pid, comm: "node"}
}

// waitAccepting waits until addr accepts TCP connections (before the monitor starts: the probe is not captured).
func waitAccepting(t *testing.T, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("server on %s exited: %v", addr, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s does not accept connections: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGopeerServerHTTP starts `BIN server-http -transport T -era E [extra flags]` on a free 127.0.0.1 port (with
// -tls: HTTPS).
func startGopeerServerHTTP(t *testing.T, bin, transport, era string, extra ...string) httpServer {
	t.Helper()
	stdout, stderr := newLineWriter("://"), newLineWriter("")
	args := append([]string{"server-http", "-transport", transport, "-era", era, "-lifetime", scaled(3 * time.Minute).String()}, extra...)
	cmd, exited := startProcess(t, bin, args, nil, stdout, stderr)
	line := strings.TrimSpace(stdout.wait(t, 30*time.Second, exited, "gopeer server-http"))
	u, err := url.Parse(line)
	if err != nil {
		t.Fatalf("server-http printed %q: %v", line, err)
	}
	srv := httpServer{url: line, addr: u.Host, pid: cmd.Process.Pid, comm: filepath.Base(bin)}
	if u.Scheme == "https" {
		srv.transport = record.TransportHTTPS
	}
	return srv
}

// ---------------------------------------------------------------------------
// Checks.

var redactedSessionID = regexp.MustCompile(`^redacted:[0-9a-f]{12}$`)

// ends returns the client and the server endpoint of a message record.
func ends(t *testing.T, i int, r record.Message) (client, server record.Endpoint) {
	t.Helper()
	switch r.Direction {
	case record.ClientToServer:
		return r.From, r.To
	case record.ServerToClient:
		return r.To, r.From
	}
	t.Errorf("record %d (%s %s): direction %q", i, r.Type, r.Method, r.Direction)
	return record.Endpoint{}, record.Endpoint{}
}

// checkClientEnd checks the client side of a record: a process of its own named clientComm, on a loopback port.
func checkClientEnd(t *testing.T, what string, c record.Endpoint, srv httpServer, clientComm string) {
	t.Helper()
	if c.Pid == 0 || c.Pid == srv.pid || c.Comm != clientComm || !strings.HasPrefix(c.Addr, "127.0.0.1:") || c.Addr == srv.addr {
		t.Errorf("%s: client end %+v, want a %s process on 127.0.0.1 (server %s pid %d)", what, c, clientComm, srv.addr, srv.pid)
	}
}

func checkServerEnd(t *testing.T, what string, s record.Endpoint, srv httpServer) {
	t.Helper()
	if want := (record.Endpoint{Pid: srv.pid, Comm: srv.comm, Addr: srv.addr}); s != want {
		t.Errorf("%s: server end %+v, want %+v", what, s, want)
	}
}

// checkHTTPBasics holds for every record of a capture over HTTP: both ends named with their pid, command and
// address; messages embedded verbatim and whole; responses paired with their requests; nothing lost.
func checkHTTPBasics(t *testing.T, res watchResult, srv httpServer, clientComm string) {
	t.Helper()
	if len(res.records) == 0 {
		t.Fatalf("no message records; stderr:\n%s", res.stderr)
	}
	transport := cmp.Or(srv.transport, record.TransportHTTP)
	for i, r := range res.records {
		what := fmt.Sprintf("record %d (%s %s id %s)", i, r.Type, r.Method, r.ID)
		if r.Transport != transport {
			t.Errorf("%s: transport %q", what, r.Transport)
		}
		if r.Truncated || r.LostBytes != 0 {
			t.Errorf("%s: truncated (%d bytes lost)", what, r.LostBytes)
		}
		if len(r.Message) != r.Size || !json.Valid(r.Message) {
			t.Errorf("%s: message of %d bytes (valid JSON: %v), size %d", what, len(r.Message), json.Valid(r.Message), r.Size)
		}
		if r.HTTP == nil {
			t.Errorf("%s: no http object", what)
		}
		client, server := ends(t, i, r)
		checkClientEnd(t, what, client, srv, clientComm)
		checkServerEnd(t, what, server, srv)
		if r.Type == record.TypeResponse && (r.Method == "" || r.LatencyMs == nil) {
			t.Errorf("%s: response not paired with its request (method %q, latency %s)", what, r.Method, latency(&r))
		}
		if r.Time.IsZero() || time.Since(r.Time) > time.Hour {
			t.Errorf("%s: implausible time %v", what, r.Time)
		}
	}
	for i, h := range res.http {
		what := fmt.Sprintf("http record %d (%s %s %s %d)", i, h.Event, h.HTTP.Method, h.HTTP.Path, h.HTTP.Status)
		if h.Transport != transport || h.Truncated || h.LostBytes != 0 {
			t.Errorf("%s: transport %q, truncated %v (%d bytes lost)", what, h.Transport, h.Truncated, h.LostBytes)
		}
		checkClientEnd(t, what, h.From, srv, clientComm)
		checkServerEnd(t, what, h.To, srv)
	}
	c := res.finalCounters(t)
	for _, k := range []string{"kernel_undelivered_bytes", "kernel_lost_records", "truncated"} {
		if c[k] != 0 {
			t.Errorf("counter %s = %d, want 0", k, c[k])
		}
	}
}

// exchange is the part of a kind "http" record the tests pin down.
type exchange struct {
	event       string
	method      string
	path        string
	status      int
	contentType string
	reqSize     int64
}

func exchangesOf(hs []record.HTTP) []exchange {
	var out []exchange
	for _, h := range hs {
		out = append(out, exchange{h.Event, h.HTTP.Method, h.HTTP.Path, h.HTTP.Status, h.HTTP.ContentType, h.RequestSize})
	}
	return out
}

// checkExchanges asserts that the kind "http" records are exactly want, in order.
func checkExchanges(t *testing.T, hs []record.HTTP, want []exchange) {
	t.Helper()
	got := exchangesOf(hs)
	if len(got) != len(want) {
		t.Errorf("%d http records, want %d:\n got  %+v\n want %+v", len(got), len(want), got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("http record %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
		if hs[i].Event == "exchange" && hs[i].LatencyMs == nil {
			t.Errorf("http record %d: no latency", i)
		}
	}
}

// findExchanges returns the kind "http" records matching method, path and status.
func findExchanges(hs []record.HTTP, method, path string, status int) []record.HTTP {
	var out []record.HTTP
	for _, h := range hs {
		if h.HTTP.Method == method && h.HTTP.Path == path && h.HTTP.Status == status {
			out = append(out, h)
		}
	}
	return out
}

// checkSessionIDs asserts the Mcp-Session-Id (or sessionId query parameter) of the given records: redacted, and the
// same on all of them.
func checkSessionIDs(t *testing.T, what string, recs []record.Message) string {
	t.Helper()
	var id string
	for i, r := range recs {
		if r.HTTP == nil {
			continue
		}
		s := r.HTTP.SessionID
		if !redactedSessionID.MatchString(s) {
			t.Errorf("%s record %d (%s %s): session_id %q, want redacted:<12 hex digits>", what, i, r.Type, r.Method, s)
			continue
		}
		if id == "" {
			id = s
		} else if s != id {
			t.Errorf("%s record %d (%s %s): session_id %q, want %q as on the others", what, i, r.Type, r.Method, s, id)
		}
	}
	return id
}

// checkHTTPInfo asserts the HTTP context of the messages of one direction.
func checkHTTPInfo(t *testing.T, dir string, recs []record.Message, method, path string, status int, contentType string) {
	t.Helper()
	for i, r := range recs {
		h := r.HTTP
		if h == nil {
			continue // reported by checkHTTPBasics
		}
		if h.Method != method || h.Path != path || h.Status != status || h.ContentType != contentType {
			t.Errorf("%s record %d (%s %s id %s): http %s %s status %d content type %q, want %s %s %d %q", dir, i, r.Type, r.Method,
				r.ID, h.Method, h.Path, h.Status, h.ContentType, method, path, status, contentType)
		}
	}
}

// checkBigEcho asserts that the echo request with the given id, whose message argument is big bytes long, and its
// response arrived whole.
func checkBigEcho(t *testing.T, c2s, s2c []record.Message, id string, big int) {
	t.Helper()
	req, resp := recordByID(c2s, "request", id), recordByID(s2c, "response", id)
	if req == nil || resp == nil {
		t.Errorf("%d-byte echo %s: request %s, response %s", big, id, sizeOf(req), sizeOf(resp))
		return
	}
	var call struct {
		Params struct {
			Arguments struct{ Message string } `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal(req.Message, &call); err != nil || len(call.Params.Arguments.Message) != big {
		t.Errorf("echo argument: %v, %d bytes", err, len(call.Params.Arguments.Message))
	}
	if req.Size < big || resp.Size < big || !bytes.Contains(resp.Message, []byte(call.Params.Arguments.Message)) {
		t.Errorf("%d-byte echo not whole: request %s, response %s", big, sizeOf(req), sizeOf(resp))
	}
}

// checkProgress asserts the progress notifications of the call with id callID: related to the call, ahead of its
// result, in the SSE stream of carrier (the call's POST on Streamable HTTP, the GET /sse of the legacy transport).
func checkProgress(t *testing.T, s2c []record.Message, callID, token, carrier string, n int, eventIDs bool) {
	t.Helper()
	var got int
	for _, r := range s2c {
		if r.Type == record.TypeResponse && string(r.ID) == callID {
			break
		}
		if r.Method != "notifications/progress" {
			continue
		}
		got++
		if string(r.RelatedID) != callID || string(r.ProgressToken) != token {
			t.Errorf("progress: related_id %s token %s, want %s and %s", r.RelatedID, r.ProgressToken, callID, token)
		}
		if h := r.HTTP; h == nil || h.Method != carrier || h.Status != 200 || h.ContentType != "text/event-stream" || (h.SSEEventID != "") != eventIDs {
			t.Errorf("progress: http %+v, want the 200 text/event-stream response of a %s (event ids: %v)", h, carrier, eventIDs)
		}
	}
	if got != n {
		t.Errorf("%d progress notifications before the result of %s, want %d:\n%s", got, callID, n, summary(s2c))
	}
	if r := recordByID(s2c, "response", callID); r == nil || r.LatencyMs == nil || *r.LatencyMs < 300 || *r.LatencyMs > 5000 {
		t.Errorf("response %s latency %s, want that of the slow call", callID, latency(r))
	}
}

// ---------------------------------------------------------------------------
// Tests.

// TestHTTPGoClientServerEverything drives server-everything over Streamable HTTP with gopeer client-http: the
// initialize handshake (202 for notifications/initialized), the standalone GET stream, a 1 MiB echo each way,
// progress on the SSE response of a tools/call, and the DELETE of the session.
func TestHTTPGoClientServerEverything(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	srv := startServerEverythingHTTP(t, "streamableHttp")
	res := watch(t, 90*time.Second, noDB, testEnv.gopeer, "client-http", srv.url)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, srv, "gopeer")
	c2s, s2c := byDirection(res.records)
	const big = 1 << 20
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "initialize", id: "1", size: 169},
		{typ: "notification", method: "notifications/initialized", size: 66},
		{typ: "request", method: "tools/list", id: "2", size: 46},
		{typ: "request", method: "tools/call", id: "3", size: 100, tool: "echo"},
		{typ: "request", method: "tools/call", id: "4", size: big + 98, tool: "echo"},
		{typ: "request", method: "tools/call", id: "5", size: 183, tool: "trigger-long-running-operation"},
	})
	progress := wire{typ: "notification", method: "notifications/progress", size: 124, related: "5"}
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "initialize", id: "1", size: 2018},
		// On the standalone GET stream, which the SDK opens before it sends notifications/initialized.
		{typ: "notification", method: "notifications/tools/list_changed", size: 61},
		{typ: "response", method: "tools/list", id: "2", size: 7697},
		{typ: "response", method: "tools/call", id: "3", size: 81, tool: "echo"},
		{typ: "response", method: "tools/call", id: "4", size: big + 79, tool: "echo"},
		progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: "5", size: 137, tool: "trigger-long-running-operation"},
	})
	checkHTTPInfo(t, "client to server", c2s, "POST", "/mcp", 0, "application/json")
	onGet, onPost := splitByHTTPMethod(s2c)
	checkHTTPInfo(t, "server to client on POST", onPost, "POST", "/mcp", 200, "text/event-stream")
	checkHTTPInfo(t, "server to client on GET", onGet, "GET", "/mcp", 200, "text/event-stream")
	if len(onGet) != 1 || onGet[0].Method != "notifications/tools/list_changed" {
		t.Errorf("GET stream carried %d messages, want the list_changed notification:\n%s", len(onGet), summary(onGet))
	}
	// The TS SDK numbers its SSE events (server-everything keeps them for resumption).
	for i, r := range s2c {
		if r.HTTP != nil && r.HTTP.SSEEventID == "" {
			t.Errorf("server to client record %d (%s %s): no sse_event_id", i, r.Type, r.Method)
		}
	}
	// The session: none on the initialize request, the Mcp-Session-Id from the initialize response on; the
	// MCP-Protocol-Version header on every request after initialize.
	if len(c2s) > 0 && c2s[0].HTTP != nil && c2s[0].HTTP.SessionID != "" {
		t.Errorf("initialize request carries session_id %q", c2s[0].HTTP.SessionID)
	}
	if len(c2s) > 1 {
		checkProtocolVersionHeader(t, c2s[1:], "2025-11-25")
		sid := checkSessionIDs(t, "session", append(append([]record.Message{}, c2s[1:]...), s2c...))
		for _, h := range res.http {
			if h.HTTP.SessionID != sid {
				t.Errorf("http record %s %s: session_id %q, want %q", h.HTTP.Method, h.HTTP.Path, h.HTTP.SessionID, sid)
			}
		}
	}
	if r := recordByID(s2c, "response", "1"); r == nil || r.ProtocolVersion != "2025-11-25" || r.Era != record.EraLegacy {
		t.Errorf("initialize response: %+v", r)
	}
	checkExchanges(t, res.http, []exchange{
		{event: "stream_open", method: "GET", path: "/mcp", status: 200, contentType: "text/event-stream", reqSize: 0},
		{event: "exchange", method: "POST", path: "/mcp", status: 202, reqSize: 66}, // notifications/initialized
		{event: "exchange", method: "DELETE", path: "/mcp", status: 200, reqSize: 0},
	})
	checkBigEcho(t, c2s, s2c, "4", 1<<20)
	checkProgress(t, s2c, "5", `"gopeer-http-progress"`, "POST", 4, true)
}

// splitByHTTPMethod splits records by the HTTP method of the request that carried (or opened the stream of) them.
func splitByHTTPMethod(recs []record.Message) (get, post []record.Message) {
	for _, r := range recs {
		if r.HTTP != nil && r.HTTP.Method == "GET" {
			get = append(get, r)
		} else {
			post = append(post, r)
		}
	}
	return get, post
}

// checkProtocolVersionHeader asserts the MCP-Protocol-Version header of client messages.
func checkProtocolVersionHeader(t *testing.T, c2s []record.Message, version string) {
	t.Helper()
	for i, r := range c2s {
		if r.HTTP != nil && r.HTTP.ProtocolVersion != version {
			t.Errorf("client to server record %d (%s %s): MCP-Protocol-Version %q, want %s", i, r.Type, r.Method, r.HTTP.ProtocolVersion, version)
		}
	}
}

// TestHTTPLegacySSEServerEverything drives server-everything's legacy HTTP+SSE transport with gopeer client-http:
// GET /sse opens the stream, every message is POSTed to /message?sessionId=... and answered 202, and the responses
// arrive over the GET stream, paired with their requests by id.
func TestHTTPLegacySSEServerEverything(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	srv := startServerEverythingHTTP(t, "sse")
	res := watch(t, 90*time.Second, noDB, testEnv.gopeer, "client-http", "-transport", "sse", srv.url)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, srv, "gopeer")
	c2s, s2c := byDirection(res.records)
	const big = 1 << 20
	want := []wire{
		{typ: "request", method: "initialize", id: "1", size: 169},
		{typ: "notification", method: "notifications/initialized", size: 66},
		{typ: "request", method: "tools/list", id: "2", size: 46},
		{typ: "request", method: "tools/call", id: "3", size: 100, tool: "echo"},
		{typ: "request", method: "tools/call", id: "4", size: big + 98, tool: "echo"},
		{typ: "request", method: "tools/call", id: "5", size: 183, tool: "trigger-long-running-operation"},
	}
	checkSequence(t, "client to server", c2s, want)
	progress := wire{typ: "notification", method: "notifications/progress", size: 124, related: "5"}
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "initialize", id: "1", size: 2018},
		// Sent while server-everything handles notifications/initialized, before it answers that POST.
		{typ: "notification", method: "notifications/tools/list_changed", size: 61},
		{typ: "response", method: "tools/list", id: "2", size: 7697},
		{typ: "response", method: "tools/call", id: "3", size: 81, tool: "echo"},
		{typ: "response", method: "tools/call", id: "4", size: big + 79, tool: "echo"},
		progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: "5", size: 137, tool: "trigger-long-running-operation"},
	})
	checkHTTPInfo(t, "client to server", c2s, "POST", "/message", 0, "application/json")
	checkHTTPInfo(t, "server to client", s2c, "GET", "/sse", 200, "text/event-stream")
	sid := checkSessionIDs(t, "client to server", c2s)
	for i, r := range s2c {
		// The GET has no sessionId parameter; its messages may carry the session the endpoint event named.
		if r.HTTP != nil && r.HTTP.SessionID != "" && r.HTTP.SessionID != sid {
			t.Errorf("server to client record %d: session_id %q, want %q or none", i, r.HTTP.SessionID, sid)
		}
	}
	wantHTTP := []exchange{{event: "stream_open", method: "GET", path: "/sse", status: 200, contentType: "text/event-stream", reqSize: 0}}
	for _, w := range want {
		wantHTTP = append(wantHTTP, exchange{event: "exchange", method: "POST", path: "/message", status: 202, contentType: "", reqSize: int64(w.size)})
	}
	checkExchanges(t, res.http, wantHTTP)
	for _, h := range res.http[min(1, len(res.http)):] {
		if h.HTTP.SessionID != sid {
			t.Errorf("POST /message: session_id %q, want %q", h.HTTP.SessionID, sid)
		}
	}
	checkBigEcho(t, c2s, s2c, "4", 1<<20)
	checkProgress(t, s2c, "5", `"gopeer-http-progress"`, "GET", 4, false)
}

// inspectorHTTP returns the Inspector CLI command that calls tool on url over transport ("http" or "sse").
func inspectorHTTP(url, transport string, args ...string) []string {
	cmd := append(append([]string{}, testEnv.inspector...), "--cli", url, "--transport", transport)
	return append(cmd, args...)
}

// TestHTTPInspectorServerEverything calls echo with the Inspector CLI over Streamable HTTP: two Node processes, the
// TS SDK on both ends, a standalone GET stream, a server-to-client request (roots/list) on it.
func TestHTTPInspectorServerEverything(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	srv := startServerEverythingHTTP(t, "streamableHttp")
	res := watch(t, 90*time.Second, noDB, inspectorHTTP(srv.url, "http", "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, srv, "node")
	c2s, s2c := byDirection(res.records)
	// The Inspector numbers its requests from 0: initialize first.
	init := recordByID(c2s, "request", "0")
	if init == nil || init.Method != "initialize" || init.HTTP == nil || init.HTTP.Method != "POST" || init.HTTP.Path != "/mcp" || init.HTTP.SessionID != "" {
		t.Fatalf("no initialize request with id 0 POSTed to /mcp without a session:\n%s", summary(res.records))
	}
	initResp := recordByID(s2c, "response", "0")
	if initResp == nil || initResp.Method != "initialize" || initResp.LatencyMs == nil || initResp.ProtocolVersion != "2025-11-25" ||
		initResp.HTTP == nil || initResp.HTTP.Status != 200 || initResp.HTTP.ContentType != "text/event-stream" {
		t.Fatalf("initialize response: %+v", initResp)
	}
	sid := initResp.HTTP.SessionID
	if !redactedSessionID.MatchString(sid) {
		t.Errorf("initialize response session_id %q, want redacted:<12 hex digits>", sid)
	}
	var initialized, call *record.Message
	for i := range c2s {
		r := &c2s[i]
		if r.Method == "initialize" {
			continue
		}
		if r.HTTP != nil && (r.HTTP.SessionID != sid || r.HTTP.Method != "POST" || r.HTTP.Path != "/mcp" || r.HTTP.ProtocolVersion != "2025-11-25") {
			t.Errorf("client to server %s %s: http %+v, want POST /mcp, session %s, MCP-Protocol-Version 2025-11-25", r.Type, r.Method, r.HTTP, sid)
		}
		switch {
		case r.Method == "notifications/initialized":
			initialized = r
		case r.Method == "tools/call" && r.Type == record.TypeRequest:
			call = r
		}
	}
	if initialized == nil {
		t.Fatalf("no notifications/initialized:\n%s", summary(res.records))
	}
	// Streamable HTTP answers a notification with 202 Accepted and no body: a kind "http" record.
	var accepted bool
	for _, h := range findExchanges(res.http, "POST", "/mcp", 202) {
		accepted = accepted || h.Event == "exchange" && h.RequestSize == int64(initialized.Size) && h.ResponseSize == 0 && h.HTTP.SessionID == sid
	}
	if !accepted {
		t.Errorf("no 202 exchange of %d bytes for notifications/initialized: %+v", initialized.Size, exchangesOf(res.http))
	}
	// The standalone GET stream opens without JSON-RPC.
	var opened bool
	for _, h := range findExchanges(res.http, "GET", "/mcp", 200) {
		opened = opened || h.Event == "stream_open" && h.HTTP.ContentType == "text/event-stream" && h.HTTP.SessionID == sid
	}
	if !opened {
		t.Errorf("no stream_open record of the GET /mcp stream: %+v", exchangesOf(res.http))
	}
	if call == nil || call.Tool != "echo" || !strings.Contains(string(call.Message), `"message":"hi"`) {
		t.Fatalf("no tools/call echo request with message hi:\n%s", summary(res.records))
	}
	result := recordByID(s2c, "response", string(call.ID))
	if result == nil || result.Method != "tools/call" || result.Tool != "echo" || result.LatencyMs == nil || !strings.Contains(string(result.Message), "Echo: hi") {
		t.Fatalf("tools/call response not paired:\n%s", summary(res.records))
	}
	if h := result.HTTP; h == nil || h.Method != "POST" || h.Path != "/mcp" || h.Status != 200 || h.ContentType != "text/event-stream" || h.SessionID != sid || h.SSEEventID == "" {
		t.Errorf("tools/call response http %+v", h)
	}
}

// TestHTTPInspectorProgress calls trigger-long-running-operation with a progress token through the Inspector CLI:
// the four progress notifications and the result are events of the SSE response to the call's POST.
func TestHTTPInspectorProgress(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	srv := startServerEverythingHTTP(t, "streamableHttp")
	res := watch(t, 90*time.Second, noDB, inspectorHTTP(srv.url, "http", "--method", "tools/call", "--tool-name", "trigger-long-running-operation",
		"--tool-arg", "duration=1", "--tool-arg", "steps=4", "--tool-metadata", "progressToken=p1")...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, srv, "node")
	c2s, s2c := byDirection(res.records)
	var call *record.Message
	for i := range c2s {
		if c2s[i].Type == record.TypeRequest && c2s[i].Tool == "trigger-long-running-operation" {
			call = &c2s[i]
		}
	}
	if call == nil || string(call.ProgressToken) != `"p1"` {
		t.Fatalf("no tools/call trigger-long-running-operation with progress token p1:\n%s", summary(res.records))
	}
	var onPost []record.Message // what the SSE response of the call's POST carried, in order
	for _, r := range s2c {
		if r.Method == "notifications/progress" || string(r.ID) == string(call.ID) {
			onPost = append(onPost, r)
		}
	}
	progress := wire{typ: "notification", method: "notifications/progress", size: 106, related: string(call.ID)}
	checkSequence(t, "progress and result", onPost, []wire{progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: string(call.ID), size: 137, tool: "trigger-long-running-operation"}})
	checkProgress(t, s2c, string(call.ID), `"p1"`, "POST", 4, true)
	if r := recordByID(s2c, "response", string(call.ID)); r != nil && (r.LatencyMs == nil || *r.LatencyMs < 900) {
		t.Errorf("the 1 s operation answered in %s", latency(r))
	}
}

// TestHTTPInspectorLegacySSE calls echo with the Inspector CLI over server-everything's legacy HTTP+SSE transport.
func TestHTTPInspectorLegacySSE(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	srv := startServerEverythingHTTP(t, "sse")
	res := watch(t, 90*time.Second, noDB, inspectorHTTP(srv.url, "sse", "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkHTTPBasics(t, res, srv, "node")
	c2s, s2c := byDirection(res.records)
	checkHTTPInfo(t, "client to server", c2s, "POST", "/message", 0, "application/json")
	checkHTTPInfo(t, "server to client", s2c, "GET", "/sse", 200, "text/event-stream")
	sid := checkSessionIDs(t, "client to server", c2s)
	if len(res.http) == 0 || res.http[0].Event != "stream_open" || res.http[0].HTTP.Method != "GET" || res.http[0].HTTP.Path != "/sse" ||
		res.http[0].HTTP.Status != 200 || res.http[0].HTTP.ContentType != "text/event-stream" {
		t.Fatalf("the first http record is not the stream_open of GET /sse: %+v", exchangesOf(res.http))
	}
	var call *record.Message
	for i := range c2s {
		if c2s[i].Type == record.TypeRequest && c2s[i].Method == "tools/call" {
			call = &c2s[i]
		}
	}
	if call == nil || call.Tool != "echo" {
		t.Fatalf("no tools/call echo:\n%s", summary(res.records))
	}
	// Every message the client POSTs is answered 202, with the session in the query. The Inspector POSTs some
	// concurrently (its roots/list answer), so bodies and messages are compared as sets of sizes. It exits as soon
	// as the echo result arrives on the GET stream, often before the 202 of the call's own POST: that exchange may
	// be reported unanswered.
	var postSizes, msgSizes []int64
	for _, h := range res.http {
		if h.HTTP.Method != "POST" {
			continue
		}
		postSizes = append(postSizes, h.RequestSize)
		answered := h.Event == "exchange" && h.HTTP.Status == 202
		lastCall := h.Event == "unanswered" && h.RequestSize == int64(call.Size)
		if h.HTTP.Path != "/message" || h.HTTP.SessionID != sid || !answered && !lastCall {
			t.Errorf("POST %s: %s, status %d, session %q; want a 202 exchange of session %q", h.HTTP.Path, h.Event, h.HTTP.Status,
				h.HTTP.SessionID, sid)
		}
	}
	for _, r := range c2s {
		msgSizes = append(msgSizes, int64(r.Size))
	}
	slices.Sort(postSizes)
	slices.Sort(msgSizes)
	if !slices.Equal(postSizes, msgSizes) {
		t.Errorf("POST /message bodies of %v bytes, client messages of %v", postSizes, msgSizes)
	}
	if r := recordByID(s2c, "response", string(call.ID)); r == nil || r.Method != "tools/call" || r.Tool != "echo" || r.LatencyMs == nil ||
		!strings.Contains(string(r.Message), "Echo: hi") {
		t.Errorf("tools/call response over the GET stream not paired:\n%s", summary(res.records))
	}
	if r := recordByID(s2c, "response", "0"); r == nil || r.Method != "initialize" || r.LatencyMs == nil {
		t.Errorf("initialize response over the GET stream not paired:\n%s", summary(res.records))
	}
}

// TestHTTPGoSDKBothEras runs go-sdk client and server (gopeer client-http, server-http) over Streamable HTTP in
// both eras (legacy: a stateful session; 2026-07-28: stateless, server/discover, Mcp-Method and Mcp-Name headers)
// and over the legacy HTTP+SSE transport.
func TestHTTPGoSDKBothEras(t *testing.T) {
	requireBPF(t)
	for _, tc := range []struct{ transport, era string }{
		{"streamable", "legacy"},
		{"streamable", "modern"},
		{"sse", "legacy"},
	} {
		t.Run(tc.transport+"-"+tc.era, func(t *testing.T) {
			srv := startGopeerServerHTTP(t, testEnv.gopeer, tc.transport, tc.era)
			// What the kernel delivered, to tell a loss from a parser's mistake: the 5.10 guest of the kernel matrix
			// twice reported the standalone GET stream of streamable-legacy unanswered, which the client cannot
			// have seen (the SDK waits for the GET's response headers before it sends notifications/initialized).
			events := filepath.Join(t.TempDir(), "events.log")
			out := filepath.Join(t.TempDir(), "out.jsonl")
			res := watchTo(t, out, 60*time.Second, append([]string{"--debug-events", events}, noDB...),
				testEnv.gopeer, "client-http", "-transport", tc.transport, "-era", tc.era, srv.url)
			if res.exitCode != 0 {
				t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
			}
			checkGoSDKSession(t, res, srv, "gopeer", tc.transport, tc.era, "HTTP/1.1", 1<<20)
			if t.Failed() {
				t.Logf("log:\n%s\nkernel records:\n%s", res.stderr, eventsDiagnosis(events))
				keepArtifact(t, events)
				keepArtifact(t, out)
			}
		})
	}
}

// goSDKSession is what gopeer client-http sends and receives in one era, with its default 1 MiB echo.
func goSDKSession(era string, big int) (c2s, s2c []wire) {
	progress := wire{typ: "notification", method: "notifications/progress", size: 145, related: "5"}
	if era == "modern" {
		return []wire{
				{typ: "request", method: "server/discover", id: "1", size: 262},
				{typ: "request", method: "tools/list", id: "2", size: 257},
				{typ: "request", method: "tools/call", id: "3", size: 300, tool: "echo"},
				{typ: "request", method: "tools/call", id: "4", size: big + 298, tool: "echo"},
				{typ: "request", method: "tools/call", id: "5", size: 343, tool: "slow"},
			}, []wire{
				{typ: "response", method: "server/discover", id: "1", size: 271},
				{typ: "response", method: "tools/list", id: "2", size: 1330},
				{typ: "response", method: "tools/call", id: "3", size: 204, tool: "echo"},
				{typ: "response", method: "tools/call", id: "4", size: big + 202, tool: "echo"},
				progress, progress, progress, progress,
				{typ: "response", method: "tools/call", id: "5", size: 251, tool: "slow"},
			}
	}
	return []wire{
			{typ: "request", method: "initialize", id: "1", size: 169},
			{typ: "notification", method: "notifications/initialized", size: 66},
			{typ: "request", method: "tools/list", id: "2", size: 46},
			{typ: "request", method: "tools/call", id: "3", size: 100, tool: "echo"},
			{typ: "request", method: "tools/call", id: "4", size: big + 98, tool: "echo"},
			{typ: "request", method: "tools/call", id: "5", size: 153, tool: "slow"},
		}, []wire{
			{typ: "response", method: "initialize", id: "1", size: 177},
			{typ: "response", method: "tools/list", id: "2", size: 1207},
			{typ: "response", method: "tools/call", id: "3", size: 81, tool: "echo"},
			{typ: "response", method: "tools/call", id: "4", size: big + 79, tool: "echo"},
			progress, progress, progress, progress,
			{typ: "response", method: "tools/call", id: "5", size: 128, tool: "slow"},
		}
}

// checkGoSDKSession checks the records of one gopeer client-http session with gopeer server-http: every message in
// order, the big echo whole, progress over the POST's SSE response (or the legacy GET stream), the HTTP details of
// the transport and era, and proto (HTTP/1.1, or HTTP/2 for Go over TLS) on every record.
func checkGoSDKSession(t *testing.T, res watchResult, srv httpServer, clientComm, transport, era, proto string, big int) {
	t.Helper()
	checkHTTPBasics(t, res, srv, clientComm)
	wantC2S, wantS2C := goSDKSession(era, big)
	c2s, s2c := byDirection(res.records)
	checkSequence(t, "client to server", c2s, wantC2S)
	checkSequence(t, "server to client", s2c, wantS2C)
	checkBigEcho(t, c2s, s2c, "4", big)
	carrier := "POST"
	if transport == "sse" {
		carrier = "GET"
	}
	checkProgress(t, s2c, "5", `"gopeer-http-progress"`, carrier, 4, false)
	for _, r := range res.records {
		if r.HTTP != nil && r.HTTP.Proto != proto {
			t.Errorf("%s %s id %s: proto %q, want %q", r.Type, r.Method, r.ID, r.HTTP.Proto, proto)
		}
	}
	for _, h := range res.http {
		if h.HTTP.Proto != proto {
			t.Errorf("http %s %s %s: proto %q, want %q", h.Event, h.HTTP.Method, h.HTTP.Path, h.HTTP.Proto, proto)
		}
	}
	switch {
	case transport == "sse":
		checkHTTPInfo(t, "client to server", c2s, "POST", "/sse", 0, "application/json")
		checkHTTPInfo(t, "server to client", s2c, "GET", "/sse", 200, "text/event-stream")
		sid := checkSessionIDs(t, "client to server", c2s) // the go-sdk names it ?sessionid=
		want := []exchange{{event: "stream_open", method: "GET", path: "/sse", status: 200, contentType: "text/event-stream", reqSize: 0}}
		for _, w := range wantC2S {
			want = append(want, exchange{event: "exchange", method: "POST", path: "/sse", status: 202, reqSize: int64(w.size)})
		}
		checkExchanges(t, res.http, want)
		for _, h := range res.http[min(1, len(res.http)):] {
			if h.HTTP.SessionID != sid {
				t.Errorf("POST /sse: session_id %q, want %q", h.HTTP.SessionID, sid)
			}
		}
	case era == "legacy":
		checkHTTPInfo(t, "client to server", c2s, "POST", "/mcp", 0, "application/json")
		checkHTTPInfo(t, "server to client", s2c, "POST", "/mcp", 200, "text/event-stream")
		if len(c2s) > 1 {
			checkProtocolVersionHeader(t, c2s[1:], "2025-11-25")
			checkSessionIDs(t, "session", append(append([]record.Message{}, c2s[1:]...), s2c...))
		}
		checkExchanges(t, res.http, []exchange{
			// The standalone stream: the go-sdk server sends nothing on it here.
			{event: "stream_open", method: "GET", path: "/mcp", status: 200, contentType: "text/event-stream", reqSize: 0},
			{event: "exchange", method: "POST", path: "/mcp", status: 202, reqSize: 66}, // notifications/initialized
			{event: "exchange", method: "DELETE", path: "/mcp", status: 204, reqSize: 0},
		})
	default: // modern: stateless, no session, the standard headers
		checkHTTPInfo(t, "client to server", c2s, "POST", "/mcp", 0, "application/json")
		checkHTTPInfo(t, "server to client", s2c, "POST", "/mcp", 200, "text/event-stream")
		for _, r := range res.records {
			if r.Era != record.EraModern || r.ProtocolVersion != "2026-07-28" {
				t.Errorf("%s %s: era %q version %q, want modern 2026-07-28", r.Type, r.Method, r.Era, r.ProtocolVersion)
			}
			if r.HTTP == nil {
				continue
			}
			if r.HTTP.SessionID != "" {
				t.Errorf("%s %s: session_id %q on a stateless server", r.Type, r.Method, r.HTTP.SessionID)
			}
			if r.Type == record.TypeRequest && (r.HTTP.MCPMethod != r.Method || r.HTTP.MCPName != r.Tool || r.HTTP.ProtocolVersion != "2026-07-28") {
				t.Errorf("request %s %s: Mcp-Method %q, Mcp-Name %q, MCP-Protocol-Version %q", r.Method, r.ID, r.HTTP.MCPMethod,
					r.HTTP.MCPName, r.HTTP.ProtocolVersion)
			}
		}
		checkExchanges(t, res.http, nil)
	}
}

// resumeClient sends SIGUSR1 to a client waiting for it (client-http -wait-signal), waits for its successful exit,
// stops the background monitor and returns what it wrote to out.
func resumeClient(t *testing.T, client *exec.Cmd, exited <-chan struct{}, clientErr *lineWriter, mon *background, out string) watchResult {
	t.Helper()
	if err := client.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(scaled(60 * time.Second)):
		t.Fatalf("client did not finish within 60 s:\n%s", clientErr.String())
	}
	if code := client.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("client exit status %d:\n%s", code, clientErr.String())
	}
	mon.interrupt(t)
	res := readJSONL(t, out)
	res.stderr = strings.Join(mon.log, "\n")
	return res
}

// TestHTTPPeersStartedBeforeMonitor starts a go-sdk server and a client that connects and initializes, and only
// then the monitor (`watch --pid SERVER --comm CLIENT`, as in a second terminal): the rest of the session, on
// keep-alive connections opened before the monitor, is captured with both processes named.
func TestHTTPPeersStartedBeforeMonitor(t *testing.T) {
	requireBPF(t)
	res, srv := peersStartedBeforeMonitor(t)
	checkHTTPBasics(t, res, srv, "mcps-hcli")
	c2s, s2c := byDirection(res.records)
	checkLaterSession(t, c2s, s2c)
	checkHTTPInfo(t, "client to server", c2s, "POST", "/mcp", 0, "application/json")
	checkHTTPInfo(t, "server to client", s2c, "POST", "/mcp", 200, "text/event-stream")
	checkSessionIDs(t, "session", res.records)
	checkProtocolVersionHeader(t, c2s, "2025-11-25")
	checkProgress(t, s2c, "5", `"gopeer-http-progress"`, "POST", 4, false)
	checkExchanges(t, res.http, []exchange{{event: "exchange", method: "DELETE", path: "/mcp", status: 204, reqSize: 0}})
}

// TestHTTPSPeersStartedBeforeMonitor is the same over HTTPS, where Go's client and server speak HTTP/2: the kernel
// takes the connection up at its first frame after the probes (no preface to see), roles come from the first HEADERS
// frame, and the parser decodes what HPACK allows without the table built before capture (:method POST and
// :status 200, from the static table; not the path or the session id, which the client's encoder indexed earlier).
func TestHTTPSPeersStartedBeforeMonitor(t *testing.T) {
	requireBPF(t)
	res, srv := peersStartedBeforeMonitor(t, "-tls")
	// The standalone GET stream, opened before the monitor, ends with the session: an exchange whose start (method,
	// status) capture never saw, so it says it began before capture (and is not whole), with no bytes lost.
	var before []record.HTTP
	res.http = slices.DeleteFunc(res.http, func(h record.HTTP) bool {
		if h.BeganBeforeCapture && h.HTTP.Method == "" && h.Truncated && h.LostBytes == 0 {
			before = append(before, h)
			return true
		}
		return false
	})
	if len(before) != 1 {
		t.Errorf("%d exchanges begun before the monitor reported, want the GET stream's: %+v", len(before), before)
	}
	checkHTTPBasics(t, res, srv, "mcps-hcli")
	c2s, s2c := byDirection(res.records)
	checkLaterSession(t, c2s, s2c)
	for i, r := range res.records {
		if h := r.HTTP; h == nil || h.Proto != "HTTP/2" || h.Method != "POST" {
			t.Errorf("record %d (%s %s): http %+v, want an HTTP/2 POST", i, r.Type, r.Method, h)
		}
	}
	if c := res.finalCounters(t); c["http_set_aside"] != 0 {
		t.Errorf("counters %v: want no connection set aside", c)
	}
	checkExchanges(t, res.http, []exchange{{event: "exchange", method: "DELETE", status: 204}})
}

// TestHTTPSJoinedMidFrame: the monitor starts while a client has written half of an HTTP/2 DATA frame (gopeer
// client-h2-midframe, frames of its own over crypto/tls), so the first plaintext it sees of the client's writes starts
// mid-frame, and the first of its reads is a WINDOW_UPDATE's 4-byte payload (Go's framer reads header and payload
// apart). A TLS direction is judged again at its next plaintexts (TLS_JUDGE_TRIES), and taken up once the other
// direction is MCP: the next request and its answer are captured whole from the client's side too, both ends named.
// (The cut request is not; its answer is reported, unpaired. The server's read of the frame's second half was
// blocked when the probes came: its result is missed.) Before, both of the client's directions were set aside for
// good at their first plaintext, and the records named no client.
func TestHTTPSJoinedMidFrame(t *testing.T) {
	requireBPF(t)
	res, srv, clientPid := peersBeforeMonitor(t, "mcps-msrv", "mcps-mcli", []string{"-tls"}, []string{"client-h2-midframe", "-timeout", scaled(2 * time.Minute).String()})

	c2s, s2c := byDirection(res.records)
	method := func(recs []record.Message, m string) []record.Message {
		return slices.DeleteFunc(slices.Clone(recs), func(r record.Message) bool { return r.Method != m })
	}
	checkSequence(t, "client to server", method(c2s, "tools/list"), []wire{{typ: "request", method: "tools/list", id: "3", size: 46}})
	answers := method(s2c, "tools/list")
	if len(answers) != 1 || answers[0].Type != record.TypeResponse || string(answers[0].ID) != "3" || answers[0].LatencyMs == nil {
		t.Errorf("tools/list answers %s, want the response to id 3, paired", summary(answers))
	}
	for i, r := range append(method(c2s, "tools/list"), answers...) {
		what := fmt.Sprintf("tools/list %s", r.Type)
		if r.Transport != record.TransportHTTPS || r.Truncated || r.LostBytes != 0 || len(r.Message) != r.Size {
			t.Errorf("%s: transport %s, truncated %v (lost %d), %d of %d bytes", what, r.Transport, r.Truncated, r.LostBytes, len(r.Message), r.Size)
		}
		c, s := ends(t, i, r)
		if c.Pid != clientPid || s.Pid != srv.pid {
			t.Errorf("%s: client %+v, server %+v; want pids %d and %d", what, c, s, clientPid, srv.pid)
		}
	}
	var echoed bool
	for _, r := range res.records { // its direction is not known: the request it answers was not seen
		echoed = echoed || r.Type == record.TypeResponse && string(r.ID) == "2" && strings.Contains(string(r.Message), "Echo: midframe")
	}
	if !echoed {
		t.Errorf("the answer to the cut tools/call (id 2) was not reported; records:\n%s", summary(res.records))
	}
}

// peersStartedBeforeMonitor runs the go-sdk session of the two tests above with the monitor started after
// initialize; serverFlags go to the server (-tls).
func peersStartedBeforeMonitor(t *testing.T, serverFlags ...string) (watchResult, httpServer) {
	res, srv, _ := peersBeforeMonitor(t, "mcps-hsrv", "mcps-hcli", serverFlags, []string{"client-http", "-wait-signal", "-timeout", scaled(2 * time.Minute).String()})
	return res, srv
}

// peersBeforeMonitor starts a gopeer server-http (serverFlags) and a gopeer client (clientArgs, then the server's
// URL) under names of their own, so that both ends are told apart by command and nothing else on the host matches
// --comm; once the client logs "waiting for SIGUSR1", it starts `watch --pid SERVER --comm CLIENT` (as in a second
// terminal), resumes the client and returns what the monitor wrote and the client's pid. The kernel's records and
// the JSONL are kept if the test fails.
func peersBeforeMonitor(t *testing.T, serverName, clientName string, serverFlags, clientArgs []string) (watchResult, httpServer, int) {
	dir := t.TempDir()
	b, err := os.ReadFile(testEnv.gopeer)
	if err != nil {
		t.Fatal(err)
	}
	serverBin, clientBin := filepath.Join(dir, serverName), filepath.Join(dir, clientName)
	for _, p := range []string{serverBin, clientBin} {
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv := startGopeerServerHTTP(t, serverBin, "streamable", "legacy", serverFlags...)
	clientOut, clientErr := newLineWriter(""), newLineWriter("waiting for SIGUSR1")
	client, clientExited := startProcess(t, clientBin, append(slices.Clone(clientArgs), srv.url), nil, clientOut, clientErr)
	clientErr.wait(t, 30*time.Second, clientExited, "gopeer "+clientArgs[0])

	out := filepath.Join(t.TempDir(), "out.jsonl")
	events := filepath.Join(t.TempDir(), "events.log") // what the kernel delivered, kept if the test fails
	mon := startBackground(t, "watch", "--no-db", "--debug-events", events, "--pid", strconv.Itoa(srv.pid), "--comm", clientName, "-o", out)
	t.Cleanup(func() {
		if t.Failed() { // the kernel's records, and the monitor's, whose last stats record holds its counters
			keepArtifact(t, events)
			keepArtifact(t, out)
		}
	})
	return resumeClient(t, client, clientExited, clientErr, mon, out), srv, client.Process.Pid
}

// checkLaterSession checks the records of the session after initialize.
func checkLaterSession(t *testing.T, c2s, s2c []record.Message) {
	t.Helper()
	const big = 1 << 20
	// initialize, notifications/initialized and the opening of the standalone GET stream went before the monitor
	// started.
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "tools/list", id: "2", size: 46},
		{typ: "request", method: "tools/call", id: "3", size: 100, tool: "echo"},
		{typ: "request", method: "tools/call", id: "4", size: big + 98, tool: "echo"},
		{typ: "request", method: "tools/call", id: "5", size: 153, tool: "slow"},
	})
	progress := wire{typ: "notification", method: "notifications/progress", size: 145, related: "5"}
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "tools/list", id: "2", size: 1207},
		{typ: "response", method: "tools/call", id: "3", size: 81, tool: "echo"},
		{typ: "response", method: "tools/call", id: "4", size: big + 79, tool: "echo"},
		progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: "5", size: 128, tool: "slow"},
	})
	checkBigEcho(t, c2s, s2c, "4", 1<<20)
}
