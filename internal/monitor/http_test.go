package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// A loopback connection between a client (pid 10, socket 1) and a server (pid 20, socket 2).
var (
	clientAddr = netip.MustParseAddrPort("127.0.0.1:45000")
	serverAddr = netip.MustParseAddrPort("127.0.0.1:3001")
)

const clientSock, serverSock = 1, 2

// tcpPeer is one socket's view: what it sends and receives, at increasing offsets.
type tcpPeer struct {
	ino      uint64
	pid      int
	comm     string
	sent     uint64
	received uint64
}

func tcpConnEvent(p *tcpPeer, kind uint8, local, remote netip.AddrPort, t uint64) *capture.Event {
	e := &capture.Event{Kind: capture.KindTCP, Stream: stream.Key{Kind: kind, Ino: p.ino}, Gen: 1, Time: t, Pid: p.pid,
		Conn: capture.Conn{Local: local, Remote: remote}}
	copy(e.Comm[:], p.comm)
	return e
}

func (p *tcpPeer) send(t uint64, s string) *capture.Event {
	e := data(stream.Key{Kind: stream.KindTCPTx, Ino: p.ino}, p.pid, p.comm, p.sent, t, s)
	p.sent += uint64(len(s))
	return e
}

func (p *tcpPeer) receive(t uint64, s string) *capture.Event {
	e := data(stream.Key{Kind: stream.KindTCPRx, Ino: p.ino}, p.pid, p.comm, p.received, t, s)
	p.received += uint64(len(s))
	return e
}

// exchange feeds one request and its response as the kernel reports them on loopback: each byte once at the
// sender's socket and once at the receiver's.
type loopback struct {
	m      *Monitor
	c, s   *tcpPeer
	t      uint64
	joined bool
}

func newLoopback(m *Monitor) *loopback {
	return &loopback{m: m, c: &tcpPeer{ino: clientSock, pid: client, comm: "node"}, s: &tcpPeer{ino: serverSock, pid: server, comm: "srv"}, t: 1_000_000}
}

func (l *loopback) request(s string) {
	l.t += 1000
	if !l.joined {
		l.m.Handle(tcpConnEvent(l.c, stream.KindTCPTx, clientAddr, serverAddr, l.t))
	}
	l.m.Handle(l.c.send(l.t, s))
	if !l.joined {
		l.m.Handle(tcpConnEvent(l.s, stream.KindTCPRx, serverAddr, clientAddr, l.t+1))
		l.joined = true
	}
	l.m.Handle(l.s.receive(l.t+2, s))
}

func (l *loopback) response(s string) {
	l.t += 1000
	l.m.Handle(l.s.send(l.t, s))
	l.m.Handle(l.c.receive(l.t+2, s))
}

func post(path, sid, body string) string {
	h := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nContent-Type: application/json\r\n" +
		"Accept: application/json, text/event-stream\r\nAuthorization: Bearer s3cret\r\n"
	if sid != "" {
		h += "Mcp-Session-Id: " + sid + "\r\nMcp-Protocol-Version: 2025-11-25\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

func jsonResponse(sid, body string) string {
	h := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	if sid != "" {
		h += "Mcp-Session-Id: " + sid + "\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// TestStreamableHTTPSession follows a Streamable HTTP session on loopback: initialize with a JSON response that
// announces the session, a notification answered 202, a tool call answered over SSE with a progress notification,
// a GET refused with 405; each byte reported twice.
func TestStreamableHTTPSession(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	l := newLoopback(m)
	const sid = "3f9a-secret-session"
	l.request(post("/mcp", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
	l.response(jsonResponse(sid, `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}`))
	l.request(post("/mcp", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	l.response("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
	l.request(post("/mcp", sid, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"progressToken":7}}}`))
	l.response("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: " + sid + "\r\nTransfer-Encoding: chunked\r\n\r\n")
	l.response(chunk("id: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":7,\"progress\":1}}\n\n"))
	l.response(chunk("id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]}}\n\n") + "0\r\n\r\n")
	l.request("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nAccept: text/event-stream\r\nMcp-Session-Id: " + sid + "\r\n\r\n")
	l.response("HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nMethod Not Allowed")
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTCPTx, Ino: clientSock}, Gen: 1, Time: l.t + 100, Pid: client})
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTCPTx, Ino: serverSock}, Gen: 1, Time: l.t + 200, Pid: server})
	m.tick(l.t + 100_000_000)

	var got []string
	for _, r := range sink.msgs {
		got = append(got, fmt.Sprintf("%s %s %s id=%s %s→%s session=%s status=%d", r.Type, r.Method, r.Tool, r.ID,
			r.From.Comm, r.To.Comm, r.Session, r.HTTP.Status))
	}
	fp := "http:127.0.0.1:3001/" + m.sessionRef(sid)
	want := []string{
		"request initialize  id=0 node→srv session=http:conn:127.0.0.1:45000-127.0.0.1:3001 status=0",
		"response initialize  id=0 srv→node session=" + fp + " status=200",
		"notification notifications/initialized  id= node→srv session=" + fp + " status=0",
		"request tools/call echo id=1 node→srv session=" + fp + " status=0",
		"notification notifications/progress  id= srv→node session=" + fp + " status=200",
		"response tools/call echo id=1 srv→node session=" + fp + " status=200",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range sink.msgs {
		if r.Transport != record.TransportHTTP || r.From.Addr == "" || r.To.Addr == "" || r.HTTP.Path != "/mcp" {
			t.Errorf("record %+v lacks its transport, addresses or path", r)
		}
		if r.Type == "response" && r.LatencyMs == nil {
			t.Errorf("response %s id %s not paired", r.Method, r.ID)
		}
	}
	if r := sink.msgs[3]; r.Era != record.EraLegacy || r.ProtocolVersion != "2025-11-25" {
		t.Errorf("the session keyed by its id did not learn the initialize exchange's version: era %q version %q", r.Era, r.ProtocolVersion)
	}
	if r := sink.msgs[4]; r.HTTP.ContentType != "text/event-stream" || r.HTTP.SSEEventID != "e1" || string(r.RelatedID) != "1" {
		t.Errorf("progress over SSE: %+v %+v", r, r.HTTP)
	}
	if r := sink.msgs[1]; r.From.Pid != server || r.To.Pid != client || r.From.Addr != serverAddr.String() || r.To.Addr != clientAddr.String() {
		t.Errorf("initialize response from %+v to %+v", r.From, r.To)
	}

	if len(sink.https) != 2 {
		t.Fatalf("http records %+v, want the 202 and the 405", sink.https)
	}
	accepted, refused := sink.https[0], sink.https[1]
	if accepted.Event != "exchange" || accepted.HTTP.Status != 202 || accepted.HTTP.Method != "POST" || accepted.LatencyMs == nil ||
		accepted.HTTP.SessionID != m.sessionRef(sid) || accepted.From.Pid != client || accepted.To.Pid != server {
		t.Errorf("202 record %+v", accepted)
	}
	if refused.HTTP.Status != 405 || refused.HTTP.Method != "GET" || refused.ResponseBody != "Method Not Allowed" {
		t.Errorf("405 record %+v", refused)
	}
	for _, h := range accepted.RequestHeaders {
		if (h.Name == "Authorization" || h.Name == "Mcp-Session-Id") && h.Value != "[redacted]" {
			t.Errorf("header %s written out: %q", h.Name, h.Value)
		}
	}
	raw, _ := json.Marshal([]any{sink.msgs, sink.https})
	if strings.Contains(string(raw), sid) || strings.Contains(string(raw), "s3cret") {
		t.Error("a secret reached the records")
	}
	c := m.Counters()
	if c["http_duplicate_bytes"] == 0 || c["http_connections"] != 1 || c["http_exchanges"] != 2 || c["http_lost_bytes"] != 0 {
		t.Errorf("counters %v", c)
	}
	if len(ctl.forgotten) != 8 {
		t.Errorf("the kernel was told to forget %v, want the TCP and TLS streams of both sockets", ctl.forgotten)
	}
}

// TestLegacySSESession follows the legacy HTTP+SSE transport: a GET stream announces the endpoint, POSTs to it
// are answered 202, and the responses come over the GET stream, correlated through the sessionId.
func TestLegacySSESession(t *testing.T) {
	m, sink, _ := newTestMonitor()
	get := newLoopback(m)
	postConn := newLoopback(m)
	postConn.c.ino, postConn.s.ino = 3, 4
	postConn.t = 5_000_000
	get.request("GET /sse HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nAccept: text/event-stream\r\n\r\n")
	get.response("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	get.response("event: endpoint\ndata: /message?sessionId=abc123\n\n")

	other := netip.MustParseAddrPort("127.0.0.1:45002")
	postConn.m.Handle(tcpConnEvent(postConn.c, stream.KindTCPTx, other, serverAddr, 5_000_000))
	postConn.m.Handle(tcpConnEvent(postConn.s, stream.KindTCPRx, serverAddr, other, 5_000_001))
	postConn.joined = true
	postConn.request(post("/message?sessionId=abc123", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}`))
	postConn.response("HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\n\r\nAccepted")
	get.t = postConn.t
	get.response("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2024-11-05\"}}\n\n")
	m.tick(get.t + 100_000_000)

	if len(sink.msgs) != 2 {
		t.Fatalf("records %+v", sink.msgs)
	}
	req, resp := sink.msgs[0], sink.msgs[1]
	fp := "http:127.0.0.1:3001/" + m.sessionRef("abc123")
	if req.Session != fp || resp.Session != fp || resp.LatencyMs == nil || resp.Method != "initialize" {
		t.Errorf("request %+v\nresponse %+v", req, resp)
	}
	if resp.HTTP.Path != "/sse" || resp.HTTP.SessionID == "" || req.HTTP.Path != "/message" {
		t.Errorf("http contexts %+v, %+v", req.HTTP, resp.HTTP)
	}
	if len(sink.https) != 2 || sink.https[0].Event != "stream_open" || sink.https[0].HTTP.Path != "/sse" ||
		sink.https[1].HTTP.Status != 202 || sink.https[1].ResponseBody != "Accepted" {
		t.Errorf("http records %+v", sink.https)
	}
}

// TestHTTPRemoteServerAndReorder: only the client's socket is local, its received bytes are the only copy of the
// responses, and the response chunk reaches user space before the request chunk; records still come in order.
func TestHTTPRemoteServerAndReorder(t *testing.T) {
	m, sink, _ := newTestMonitor()
	remote := netip.MustParseAddrPort("203.0.113.7:443")
	c := &tcpPeer{ino: 9, pid: client, comm: "agent"}
	m.Handle(tcpConnEvent(c, stream.KindTCPTx, clientAddr, remote, 1000))
	req := post("/mcp", "", `{"jsonrpc":"2.0","id":5,"method":"ping"}`)
	reqEv := c.send(2000, req)
	respEv := c.receive(3000, jsonResponse("", `{"jsonrpc":"2.0","id":5,"result":{}}`))
	m.Handle(tcpConnEvent(c, stream.KindTCPRx, clientAddr, remote, 2999))
	m.Handle(respEv)
	m.Handle(reqEv)
	m.tick(100_000_000)
	if len(sink.msgs) != 2 || sink.msgs[0].Type != "request" || sink.msgs[1].LatencyMs == nil {
		t.Fatalf("records %+v", sink.msgs)
	}
	if to := sink.msgs[0].To; to.Pid != 0 || to.Addr != remote.String() {
		t.Errorf("the remote server is %+v", to)
	}
}

// TestHTTPRedactionOff: with NoRedact the session id and the secret headers are written as captured.
func TestHTTPRedactionOff(t *testing.T) {
	sink := &memSink{}
	m := New(Options{Sink: sink, Proc: procfsNone(), NoRedact: true})
	l := newLoopback(m)
	l.request(post("/mcp", "raw-sid", `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	l.response("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
	m.tick(l.t + 100_000_000)
	if len(sink.https) != 1 || sink.https[0].HTTP.SessionID != "raw-sid" || sink.https[0].Session != "http:127.0.0.1:3001/raw-sid" {
		t.Fatalf("http records %+v", sink.https)
	}
	var auth string
	for _, h := range sink.https[0].RequestHeaders {
		if h.Name == "Authorization" {
			auth = h.Value
		}
	}
	if auth != "Bearer s3cret" {
		t.Errorf("Authorization %q", auth)
	}
}

// TestHTTPUnansweredAndLoss: a request cut by lost bytes is reported truncated, and a request still open when the
// connection closes is reported unanswered.
func TestHTTPUnansweredAndLoss(t *testing.T) {
	m, sink, _ := newTestMonitor()
	l := newLoopback(m)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","arguments":{"x":"` + strings.Repeat("a", 200) + `"}}}`
	whole := post("/mcp", "", body)
	// The client's copy loses 50 bytes in the middle of the body; the server's copy is never reported.
	l.t += 1000
	m.Handle(tcpConnEvent(l.c, stream.KindTCPTx, clientAddr, serverAddr, l.t))
	cut := len(whole) - 100
	m.Handle(data(stream.Key{Kind: stream.KindTCPTx, Ino: clientSock}, client, "node", 0, l.t, whole[:cut]))
	e := data(stream.Key{Kind: stream.KindTCPTx, Ino: clientSock}, client, "node", uint64(cut+50), l.t+1, whole[cut+50:])
	e.Lost = 50
	m.Handle(e)
	m.Handle(&capture.Event{Kind: capture.KindExit, Time: l.t + 10, Pid: client})
	m.tick(l.t + 100_000_000)
	if len(sink.msgs) != 0 {
		t.Fatalf("records %+v written before the server's socket could be reported", sink.msgs)
	}
	m.tick(l.t + 300_000_000)
	if len(sink.msgs) != 1 || !sink.msgs[0].Truncated || sink.msgs[0].LostBytes != 50 || sink.msgs[0].HTTP.Method != "POST" {
		t.Fatalf("records %+v", sink.msgs)
	}
	if len(sink.https) != 1 || sink.https[0].Event != "unanswered" || !sink.https[0].Truncated {
		t.Fatalf("http records %+v", sink.https)
	}
	if c := m.Counters(); c["http_lost_bytes"] != 50 || c["truncated"] != 1 {
		t.Errorf("counters %v", c)
	}
}

func procfsNone() procfs.FS { return procfs.FS{Root: "/nonexistent"} }

// TestHTTPConnReportAfterReset: a second report of a socket's addresses read after the connection was reset (local
// port 0) does not end the connection nor rename its client; and a body the client cut is no message record.
func TestHTTPConnReportAfterReset(t *testing.T) {
	m, sink, _ := newTestMonitor()
	l := newLoopback(m)
	l.request(post("/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	reset := netip.AddrPortFrom(clientAddr.Addr(), 0)
	m.Handle(tcpConnEvent(l.c, stream.KindTCPRx, reset, serverAddr, l.t+10))
	l.response(jsonResponse("", `{"jsonrpc":"2.0","id":1,"result":{}}`))
	// A chunked request cut by the client closing: reported as unanswered, never as a message.
	l.request("POST /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(`{"jsonrpc":"2.0","id":2,"me`))
	m.Handle(&capture.Event{Kind: capture.KindExit, Time: l.t + 10, Pid: client})
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTCPTx, Ino: serverSock}, Time: l.t + 20, Pid: server})
	m.tick(l.t + 1_000_000_000)
	if len(sink.msgs) != 2 || sink.msgs[1].LatencyMs == nil || sink.msgs[1].To.Addr != clientAddr.String() {
		t.Fatalf("records %+v", sink.msgs)
	}
	if len(sink.https) != 1 || sink.https[0].Event != "unanswered" || !sink.https[0].Truncated {
		t.Fatalf("http records %+v", sink.https)
	}
	if c := m.Counters(); c["http_connections"] != 1 || c["http_junk_bodies"] != 0 || c["truncated"] != 0 {
		t.Errorf("counters %v", c)
	}
}

// TestHTTPServerFromProcCached: connections from a traced client to a server outside the traced processes name the
// server from /proc once; later connections to the same address reuse it while the process lives.
func TestHTTPServerFromProcCached(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := ln.Addr().(*net.TCPAddr).AddrPort()
	sink := &memSink{}
	m := New(Options{Sink: sink, Proc: procfs.Default()})
	for i := range 3 {
		c := &tcpPeer{ino: uint64(100 + i), pid: client, comm: "node"}
		from := netip.AddrPortFrom(clientAddr.Addr(), uint16(50000+i))
		t0 := uint64(1_000_000_000 * (i + 1))
		m.Handle(tcpConnEvent(c, stream.KindTCPTx, from, srv, t0))
		m.Handle(c.send(t0, post("/mcp", "", `{"jsonrpc":"2.0","method":"notifications/initialized"}`)))
		if i > 0 { // a known server: no 200 ms wait for its socket to be reported
			m.tick(t0 + 50_000_000)
			if len(sink.msgs) != i+1 {
				t.Fatalf("connection %d: the record waited for a server already known", i)
			}
		}
		m.tick(t0 + 300_000_000)
	}
	if len(sink.msgs) != 3 {
		t.Fatalf("records %+v", sink.msgs)
	}
	for _, r := range sink.msgs {
		if r.To.Pid != os.Getpid() {
			t.Errorf("server %+v, want this process %d (it holds the listener)", r.To, os.Getpid())
		}
	}
	if n := m.Counters()["http_peer_from_proc"]; n != 1 {
		t.Errorf("/proc was walked for %d connections, want 1", n)
	}
}

// h2Frames builds HTTP/2 frames: a request's or response's HEADERS (with hpack) and DATA.
type h2Frames struct {
	buf bytes.Buffer
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

func newH2Frames() *h2Frames {
	f := &h2Frames{}
	f.fr = http2.NewFramer(&f.buf, nil)
	f.enc = hpack.NewEncoder(&f.hb)
	return f
}

func (f *h2Frames) settings() *h2Frames {
	_ = f.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 250})
	return f
}

func (f *h2Frames) headers(stream uint32, endStream bool, fields ...string) *h2Frames {
	f.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = f.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	_ = f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: f.hb.Bytes(), EndHeaders: true, EndStream: endStream})
	return f
}

func (f *h2Frames) data(stream uint32, body string) *h2Frames {
	_ = f.fr.WriteData(stream, true, []byte(body))
	return f
}

func (f *h2Frames) take() string {
	s := f.buf.String()
	f.buf.Reset()
	return s
}

// tlsPeer is a server's socket seen through its TLS library only (a remote client): its plaintext streams.
func (p *tcpPeer) tls(kind uint8, off *uint64, t uint64, s string) *capture.Event {
	e := data(stream.Key{Kind: kind, Ino: p.ino}, p.pid, p.comm, *off, t, s)
	*off += uint64(len(s))
	return e
}

// remoteH2Server follows an HTTPS server seen through its TLS library only (its client is remote) whose SETTINGS
// are the first bytes seen; it returns the server's socket and the frame builders of both ends.
func remoteH2Server(m *Monitor) (s *tcpPeer, srvFrames, cliFrames *h2Frames) {
	s = &tcpPeer{ino: serverSock, pid: server, comm: "srv"}
	m.Handle(tcpConnEvent(s, stream.KindTLSTx, serverAddr, netip.MustParseAddrPort("203.0.113.7:50000"), 1000))
	srvFrames, cliFrames = newH2Frames(), newH2Frames()
	m.Handle(s.tls(stream.KindTLSTx, &s.sent, 2000, srvFrames.settings().take()))
	return s, srvFrames, cliFrames
}

// TestHTTP2ServerPrefaceFirst follows an HTTPS server (Go's, which writes its SETTINGS before it reads the client's
// preface) whose client is remote: the first bytes seen are the server's, and they name it the server.
func TestHTTP2ServerPrefaceFirst(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	s, srvFrames, cliFrames := remoteH2Server(m)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	cliFrames.buf.WriteString(http2.ClientPreface)
	req := cliFrames.settings().headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/mcp", ":authority", "x",
		"content-type", "application/json", "accept", "application/json, text/event-stream").data(1, body).take()
	m.Handle(s.tls(stream.KindTLSRx, &s.received, 3000, req))
	resp := srvFrames.headers(1, false, ":status", "200", "content-type", "application/json").
		data(1, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`).take()
	m.Handle(s.tls(stream.KindTLSTx, &s.sent, 4000, resp))
	m.tick(1_000_000_000)
	if len(sink.msgs) != 2 || sink.msgs[0].Method != "tools/list" || sink.msgs[1].LatencyMs == nil {
		t.Fatalf("records:\n%+v", sink.msgs)
	}
	for _, r := range sink.msgs {
		if r.Transport != record.TransportHTTPS || r.HTTP == nil || r.HTTP.Proto != "HTTP/2" || r.HTTP.Path != "/mcp" {
			t.Errorf("%s: transport %q, http %+v", r.Type, r.Transport, r.HTTP)
		}
	}
	if from := sink.msgs[1].From; from.Pid != server || from.Addr != serverAddr.String() {
		t.Errorf("the response is from %+v, want the server", from)
	}
	counters := map[string]uint64{}
	m.httpCounters(counters)
	if counters["http_unknown_bytes"] != 0 || counters["http_set_aside"] != 0 || len(ctl.quarantined) != 0 {
		t.Errorf("counters %v, quarantined %v", counters, ctl.quarantined)
	}
}

// TestHTTP2ResponseBeforeRequest: a server's answer (HEADERS on stream 3) reported before the request it answers, whose
// record, dated earlier, came late (a writer descheduled between its write and the report, or another CPU's records
// read later): the answer waits for the request, at most ReaderWait, and the two pair. The answer on stream 1, which
// the client had opened, did not wait.
func TestHTTP2ResponseBeforeRequest(t *testing.T) {
	m, sink, _ := newTestMonitor()
	s, srvFrames, cliFrames := remoteH2Server(m)
	post := func(stream uint32, body string) string {
		return cliFrames.headers(stream, false, ":method", "POST", ":scheme", "https", ":path", "/mcp", ":authority", "x",
			"content-type", "application/json", "accept", "application/json, text/event-stream").data(stream, body).take()
	}
	answer := func(stream uint32, body string) string {
		return srvFrames.headers(stream, false, ":status", "200", "content-type", "application/json").data(stream, body).take()
	}
	cliFrames.buf.WriteString(http2.ClientPreface)
	cliFrames.settings()
	m.Handle(s.tls(stream.KindTLSRx, &s.received, 3000, post(1, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)))
	m.Handle(s.tls(stream.KindTLSTx, &s.sent, 4000, answer(1, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)))

	const at = 10_000_000
	m.Handle(s.tls(stream.KindTLSTx, &s.sent, at, answer(3, `{"jsonrpc":"2.0","id":2,"result":{}}`)))
	m.tick(at + 50_000_000) // past ReorderHold: without the wait, the answer would be parsed alone here
	// Dated before the answer (the read returned first), reported after this tick.
	m.Handle(s.tls(stream.KindTLSRx, &s.received, at-1_000, post(3, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)))
	m.tick(at + 1_000_000_000)
	var got []string
	for _, r := range sink.msgs {
		got = append(got, fmt.Sprintf("%s %s %s paired=%v", r.Type, r.Method, r.ID, r.Type == record.TypeRequest || r.LatencyMs != nil))
	}
	want := []string{"request tools/list 1 paired=true", "response tools/list 1 paired=true", "request ping 2 paired=true",
		"response ping 2 paired=true"}
	if !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

// TestHTTP2NotMCPSetAside: an HTTP/2 connection whose first request carries no MCP marker is set aside, in the
// kernel (both TLS streams quarantined) and here: later bytes are counted, not parsed, and nothing is recorded.
func TestHTTP2NotMCPSetAside(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	remote := netip.MustParseAddrPort("203.0.113.7:50000")
	c := &tcpPeer{ino: clientSock, pid: client, comm: "agent"}
	m.Handle(tcpConnEvent(c, stream.KindTLSTx, clientAddr, remote, 1000))
	f := newH2Frames()
	f.buf.WriteString(http2.ClientPreface)
	req := f.settings().headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/health", ":authority", "x",
		"accept-encoding", "gzip").take()
	m.Handle(c.tls(stream.KindTLSTx, &c.sent, 2000, req))
	later := f.headers(3, true, ":method", "POST", ":scheme", "https", ":path", "/mcp", ":authority", "x",
		"accept", "text/event-stream").take()
	m.Handle(c.tls(stream.KindTLSTx, &c.sent, 3000, later))
	m.tick(1_000_000_000)
	if len(sink.msgs) != 0 || len(sink.https) != 0 {
		t.Errorf("records of a connection set aside: %+v %+v", sink.msgs, sink.https)
	}
	want := []stream.Key{{Kind: stream.KindTLSTx, Ino: clientSock}, {Kind: stream.KindTLSRx, Ino: clientSock}}
	if !slices.Equal(ctl.quarantined, want) {
		t.Errorf("quarantined %v, want %v", ctl.quarantined, want)
	}
	counters := map[string]uint64{}
	m.httpCounters(counters)
	if counters["http_set_aside"] != 1 || counters["http_set_aside_bytes"] != uint64(len(later)) || counters["http_requests"] != 1 {
		t.Errorf("counters %v", counters)
	}
}

// TestTLSObjectReusedByNextConnection: a client that opens a connection per request (Python's urllib) may get its
// next SSL object at the freed one's address, so the kernel reports the same stream number with new addresses and a
// new generation. Bytes of the old connection still held for reordering go to the old connection, the new ones to
// the new; nothing restarts, and the kernel's new streams are not forgotten with the old connection.
func TestTLSObjectReusedByNextConnection(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	remote := netip.MustParseAddrPort("203.0.113.7:443")
	first, second := clientAddr, netip.MustParseAddrPort("127.0.0.1:45001")
	c := &tcpPeer{ino: 1<<63 | 77, pid: client, comm: "python3"}
	m.Handle(tcpConnEvent(c, stream.KindTLSTx, first, remote, 1000))
	m.Handle(c.tls(stream.KindTLSTx, &c.sent, 1100, post("/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
	m.Handle(c.tls(stream.KindTLSRx, &c.received, 1200, jsonResponse("", `{"jsonrpc":"2.0","id":1,"result":{}}`)))
	// The next connection, reported before the old one's response left the reorder hold.
	c.sent, c.received = 0, 0
	next := tcpConnEvent(c, stream.KindTLSTx, second, remote, 1300)
	next.Gen = 2
	m.Handle(next)
	req := c.tls(stream.KindTLSTx, &c.sent, 1400, post("/mcp", "", `{"jsonrpc":"2.0","id":2,"method":"ping"}`))
	req.Gen = 2
	m.Handle(req)
	m.tick(1_000_000_000)
	if len(sink.msgs) != 3 {
		t.Fatalf("records:\n%+v", sink.msgs)
	}
	for i, want := range []string{first.String(), first.String(), second.String()} {
		r := sink.msgs[i]
		client, _ := r.From, r.To
		if r.Type == record.TypeResponse {
			client = r.To
		}
		if client.Addr != want {
			t.Errorf("record %d (%s %s): client %s, want %s", i, r.Type, r.ID, client.Addr, want)
		}
	}
	if sink.msgs[1].LatencyMs == nil {
		t.Error("the first connection's response was not paired with its request")
	}
	for _, k := range ctl.forgotten {
		if k.Ino == c.ino {
			t.Errorf("the kernel streams %v were forgotten with the old connection", k)
		}
	}
	counters := map[string]uint64{}
	m.httpCounters(counters)
	if counters["http_restarts"] != 0 || counters["http_connections"] != 2 {
		t.Errorf("counters %v", counters)
	}
}

// TestTLSRestartMarksTruncated: a TLS call whose bytes the kernel lost (a return or an entry never seen) restarts its
// stream in the kernel (tls_restart): the next bytes come in a new generation from offset 0. The response they were
// part of is recorded truncated, never spliced around the hole as if whole, and the request after it parses.
func TestTLSRestartMarksTruncated(t *testing.T) {
	m, sink, _ := newTestMonitor()
	remote := netip.MustParseAddrPort("203.0.113.7:443")
	c := &tcpPeer{ino: 1<<63 | 78, pid: client, comm: "gopeer"}
	m.Handle(tcpConnEvent(c, stream.KindTLSTx, clientAddr, remote, 1000))
	m.Handle(c.tls(stream.KindTLSTx, &c.sent, 1100, post("/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`)))
	body := `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", 300) + `"}]}}`
	resp := jsonResponse("", body)
	cut := len(resp) - 200
	m.Handle(c.tls(stream.KindTLSRx, &c.received, 1200, resp[:cut]))
	// resp[cut:cut+100] was lost with its call; the rest comes in the stream's next generation.
	c.received = 0
	rest := c.tls(stream.KindTLSRx, &c.received, 1300, resp[cut+100:])
	rest.Gen = 2
	m.Handle(rest)
	m.Handle(c.tls(stream.KindTLSTx, &c.sent, 1400, post("/mcp", "", `{"jsonrpc":"2.0","id":2,"method":"ping"}`)))
	pong := c.tls(stream.KindTLSRx, &c.received, 1500, jsonResponse("", `{"jsonrpc":"2.0","id":2,"result":{}}`))
	pong.Gen = 2
	m.Handle(pong)
	m.tick(1_000_000_000)
	var cutShort, ping, pongRec *record.Message
	for i := range sink.msgs {
		r := &sink.msgs[i]
		switch {
		case r.Truncated:
			cutShort = r
		case r.Type == record.TypeRequest && r.Method == "ping":
			ping = r
		case r.Type == record.TypeResponse && r.Method == "ping":
			pongRec = r
		}
	}
	if cutShort == nil || cutShort.LostBytes == 0 {
		t.Errorf("no record says the response that lost 100 bytes is truncated: %+v", sink.msgs)
	}
	for _, r := range sink.msgs {
		if r.Type == record.TypeResponse && string(r.ID) == "1" && !r.Truncated {
			t.Errorf("the response that lost 100 bytes is recorded whole: %d bytes %s", r.Size, r.Message)
		}
	}
	if ping == nil || pongRec == nil || pongRec.LatencyMs == nil {
		t.Errorf("the exchange after the gap was not recorded whole and paired: %+v", sink.msgs)
	}
	if c := m.Counters(); c["http_restarts"] != 1 {
		t.Errorf("counters %v", c)
	}
}

// TestHTTPAnswerReportedBeforeRequest: on a loaded machine the client's write of a request can be reported (at its
// return) after the server's answer was read, by more than the reorder hold. The answer waits for the request it
// answers, and the two pair.
func TestHTTPAnswerReportedBeforeRequest(t *testing.T) {
	m, sink, _ := newTestMonitor()
	l := newLoopback(m)
	l.request(post("/mcp", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
	l.response(jsonResponse("sid-1", `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}`))
	m.tick(l.t + 50_000_000)
	// The client sent the call at t (its write began then), the server read it and answered at t+1 ms; the
	// client's write is reported only after the answer and 30 ms later.
	req := post("/mcp", "sid-1", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`)
	resp := jsonResponse("", `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)
	t0 := l.t + 60_000_000
	recvReq := l.s.receive(t0+500_000, req)
	sendResp := l.s.send(t0+1_000_000, resp)
	recvResp := l.c.receive(t0+1_100_000, resp)
	m.Handle(recvReq) // the server's copy of the request is not the parsed one: the client's is
	m.Handle(sendResp)
	m.Handle(recvResp)
	m.tick(t0 + 30_000_000)
	m.Handle(l.c.send(t0, req))
	m.tick(t0 + 300_000_000)
	var got []string
	for _, r := range sink.msgs {
		got = append(got, fmt.Sprintf("%s %s id=%s", r.Type, r.Method, r.ID))
	}
	want := []string{"request initialize id=0", "response initialize id=0", "request tools/call id=1", "response tools/call id=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
}

// TestTLSLateReturnAfterClose: the peer read the reply and hung up before the reader's return probe ran, so the
// reply's bytes (numbered in the closed connection's generation, dated at the read's return) come after the close
// that TCP reported; they still join the connection, which ends after them. The next connection of the same object
// (a later generation) does not.
func TestTLSLateReturnAfterClose(t *testing.T) {
	m, sink, _ := newTestMonitor()
	obj := &tcpPeer{ino: 1<<63 | 42, pid: client, comm: "python3"}
	tx, rx := stream.Key{Kind: stream.KindTLSTx, Ino: obj.ino}, stream.Key{Kind: stream.KindTLSRx, Ino: obj.ino}
	m.Handle(tcpConnEvent(obj, stream.KindTLSTx, clientAddr, serverAddr, 1_000))
	m.Handle(data(tx, client, "python3", 0, 2_000, post("/mcp", "", `{"jsonrpc":"2.0","id":7,"method":"ping"}`)))
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: tx, Gen: 1, Time: 3_000, Pid: client})
	late := data(rx, client, "python3", 0, 3_500, jsonResponse("", `{"jsonrpc":"2.0","id":7,"result":{}}`))
	late.Gen = 1_900 // the receiving side's generation began before the close
	m.Handle(late)
	conn := tcpConnEvent(obj, stream.KindTLSTx, netip.MustParseAddrPort("127.0.0.1:45002"), serverAddr, 3_550) // the object's next connection
	conn.Gen = 3_550
	m.Handle(conn)
	next := data(tx, client, "python3", 0, 3_600, post("/mcp", "", `{"jsonrpc":"2.0","id":8,"method":"ping"}`))
	next.Gen = 3_550
	m.Handle(next)
	m.tick(1_000_000_000)
	var types []string
	for _, r := range sink.msgs {
		types = append(types, fmt.Sprintf("%s %s", r.Type, r.ID))
	}
	if want := []string{"request 7", "response 7", "request 8"}; !slices.Equal(types, want) {
		t.Errorf("messages %v, want %v; http %+v", types, want, sink.https)
	}
	for _, h := range sink.https {
		if h.Event == "unanswered" && h.LatencyMs == nil && h.RequestSize > 0 && h.Time.UnixNano() < 3_550 {
			t.Errorf("call 7 reported unanswered: %+v", h)
		}
	}
}

// chanSource is a Source fed by a test.
type chanSource chan *capture.Event

func (c chanSource) Events() <-chan *capture.Event { return c }
func (chanSource) Release(*capture.Event)          {}

// TestHoldsFollowTheReaderNotTheClock: a reader behind the kernel (a loaded machine) must not end the wait for a
// late TLS return because the wall clock moved on: once the source sends watermarks, the holds measure time by what
// was read. Here the connection's end is read, then ticks run for longer than ReaderWait before the late response is
// read: it still belongs to the connection and pairs with its request, instead of arriving after the connection
// ended (orphaned, the request unanswered), as it did when a CI machine fell behind.
func TestHoldsFollowTheReaderNotTheClock(t *testing.T) {
	m, sink, _ := newTestMonitor()
	src := make(chanSource)
	done := make(chan error, 1)
	go func() { done <- m.Run(src) }()
	base := capture.MonotonicNow()
	obj := &tcpPeer{ino: 1<<63 | 43, pid: client, comm: "gopeer"}
	tx, rx := stream.Key{Kind: stream.KindTLSTx, Ino: obj.ino}, stream.Key{Kind: stream.KindTLSRx, Ino: obj.ino}
	src <- &capture.Event{Kind: capture.KindWatermark, Time: base}
	conn := tcpConnEvent(obj, stream.KindTLSTx, clientAddr, serverAddr, base+1_000)
	conn.Gen = base + 500
	src <- conn
	req := data(tx, client, "gopeer", 0, base+2_000, post("/mcp", "", `{"jsonrpc":"2.0","id":7,"method":"ping"}`))
	req.Gen = base + 500
	src <- req
	src <- &capture.Event{Kind: capture.KindClose, Stream: tx, Gen: base + 500, Time: base + 3_000, Pid: client}
	time.Sleep(3 * m.opts.ReaderWait / 2) // ticks every 20 ms meanwhile
	late := data(rx, client, "gopeer", 0, base+2_500, jsonResponse("", `{"jsonrpc":"2.0","id":7,"result":{}}`))
	late.Gen = base + 1_900 // the receiving side's generation began before the close
	src <- late
	close(src)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range sink.msgs {
		types = append(types, fmt.Sprintf("%s %s paired=%v", r.Type, r.ID, r.LatencyMs != nil))
	}
	if want := []string{"request 7 paired=false", "response 7 paired=true"}; !slices.Equal(types, want) {
		t.Errorf("messages %v, want %v; http %+v", types, want, sink.https)
	}
	if c := m.Counters(); c["http_orphan_bytes"] != 0 {
		t.Errorf("counters %v", c)
	}
}

// TestTLSConnEndedByKernel: a TLS object's close record (the kernel saw TCP close its socket) ends the connection
// at once, its open request reported unanswered, and leaves the object's streams to the kernel, which already
// started them afresh for the object's next connection; a plain TCP socket's end still makes the kernel forget it.
func TestTLSConnEndedByKernel(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	obj := &tcpPeer{ino: 1<<63 | 42, pid: client, comm: "python3"}
	m.Handle(tcpConnEvent(obj, stream.KindTLSTx, clientAddr, serverAddr, 1_000))
	req := post("/mcp", "", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}`)
	m.Handle(data(stream.Key{Kind: stream.KindTLSTx, Ino: obj.ino}, client, "python3", 0, 2_000, req))
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTLSTx, Ino: obj.ino}, Gen: 1,
		Time: 3_000, Pid: client})
	m.tick(1_000_000_000)
	if len(sink.https) != 1 || sink.https[0].Event != "unanswered" || sink.https[0].Transport != record.TransportHTTPS {
		t.Fatalf("http records %+v", sink.https)
	}
	if len(ctl.forgotten) != 0 {
		t.Errorf("forgot %v: the kernel already did, and the number may name the object's next connection", ctl.forgotten)
	}

	l := newLoopback(m)
	l.request(post("/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTCPTx, Ino: clientSock}, Time: l.t + 10, Pid: client})
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: stream.Key{Kind: stream.KindTCPTx, Ino: serverSock}, Time: l.t + 20, Pid: server})
	m.tick(l.t + 1_000_000_000)
	if len(ctl.forgotten) == 0 {
		t.Error("the ended TCP connection's streams were not forgotten")
	}
}

// TestTLSCloseHoldsOnlyItsSocket: the end of a TLS connection waits ReaderWait for late returns, and meanwhile the
// other connections' records go on as usual; only its own socket's wait behind it.
func TestTLSCloseHoldsOnlyItsSocket(t *testing.T) {
	m, sink, _ := newTestMonitor()
	obj := &tcpPeer{ino: 1<<63 | 42, pid: client, comm: "python3"}
	tx := stream.Key{Kind: stream.KindTLSTx, Ino: obj.ino}
	m.Handle(tcpConnEvent(obj, stream.KindTLSTx, netip.MustParseAddrPort("10.0.0.2:45002"), netip.MustParseAddrPort("192.0.2.7:443"), 1_000_000))
	m.Handle(data(tx, client, "python3", 0, 1_500_000, post("/mcp", "", `{"jsonrpc":"2.0","id":7,"method":"ping"}`)))
	m.Handle(&capture.Event{Kind: capture.KindClose, Stream: tx, Gen: 1, Time: 2_000_000, Pid: client})
	l := newLoopback(m)
	l.t = 3_000_000
	l.request(post("/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	m.tick(l.t + 50_000_000) // past ReorderHold, within the close's ReaderWait
	var ids []string
	for _, r := range sink.msgs {
		ids = append(ids, string(r.ID))
	}
	if want := []string{"7", "1"}; !slices.Equal(ids, want) {
		t.Errorf("messages released %v, want %v", ids, want)
	}
	if len(sink.https) != 0 {
		t.Errorf("the TLS connection ended before its wait: %+v", sink.https)
	}
	m.tick(l.t + 1_000_000_000)
	if len(sink.https) != 1 || sink.https[0].Event != "unanswered" {
		var ids []string
		for _, r := range sink.msgs {
			ids = append(ids, string(r.ID))
		}
		t.Errorf("http records after the wait %+v; messages %v", sink.https, ids)
	}
}

// TestSocketHolderClosingConnection names a loopback server whose socket for the connection is still listed in
// /proc/net/tcp but already closed by it (the race that left the first exchanges of a short connection without
// their server): the search goes on to the listener's holder.
func TestSocketHolderClosingConnection(t *testing.T) {
	proc := t.TempDir()
	const serverPid = 42
	server, client := netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.1:53458")
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1\n" +
		"   1: 0100007F:1F90 0100007F:D0D2 08 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
	fdDir := filepath.Join(proc, strconv.Itoa(serverPid), "fd")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(proc, "net"), 0o755),
		os.WriteFile(filepath.Join(proc, "net", "tcp"), []byte(tcp), 0o644),
		os.MkdirAll(fdDir, 0o755),
		os.Symlink("socket:[222]", filepath.Join(fdDir, "3")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	m := New(Options{Sink: &fpSink{}, Controller: &fakeController{}, Proc: procfs.FS{Root: proc}})
	if got := m.socketHolder(server, client, true); got != serverPid {
		t.Errorf("server of a closing connection: pid %d, want the listener's %d", got, serverPid)
	}
	if got := m.socketHolder(server, client, false); got != 0 {
		t.Errorf("holder of the closed socket itself: pid %d, want none", got)
	}
	if err := os.Symlink("socket:[111]", filepath.Join(fdDir, "4")); err != nil {
		t.Fatal(err)
	}
	if got := m.socketHolder(server, client, false); got != serverPid {
		t.Errorf("holder of the open socket: pid %d, want %d", got, serverPid)
	}
	// The listener passed by init (socket activation) and shared with the server's pre-forked worker: the server.
	for _, fd := range []struct {
		pid int
		fd  string
	}{{1, "7"}, {serverPid + 1, "3"}} {
		dir := filepath.Join(proc, strconv.Itoa(fd.pid), "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("socket:[222]", filepath.Join(dir, fd.fd)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(fdDir, "4")); err != nil {
		t.Fatal(err)
	}
	if got := m.socketHolder(server, client, true); got != serverPid {
		t.Errorf("server of a listener held by init, the server and its worker: pid %d, want the server's %d", got, serverPid)
	}
}

func TestLikelyServer(t *testing.T) {
	for _, tc := range []struct {
		pids []int
		want int
	}{
		{nil, 0},
		{[]int{1}, 1}, // init's own socket
		{[]int{1, 900, 77}, 77},
		{[]int{120, 1200, 13}, 13},
		{[]int{300, 4000, 301}, 4000}, // pids wrapped: the master 4000 forked its workers 300 and 301 after the wrap
		{[]int{1, 4000, 300}, 4000},
		{[]int{500, 600}, 500}, // two unrelated holders (a socket passed over a Unix socket): the lowest
	} {
		parents := map[int]int{300: 4000, 301: 4000, 4000: 1, 500: 1, 600: 2}
		parent := func(pid int) (int, bool) { pp, ok := parents[pid]; return pp, ok }
		if got := likelyServer(tc.pids, parent); got != tc.want {
			t.Errorf("likelyServer(%v) = %d, want %d", tc.pids, got, tc.want)
		}
	}
}
