package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/h2"
	"github.com/mcpscope/mcpscope/internal/http1"
	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/mcp"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// The HTTP stage turns the kernel's TCP streams into MCP records:
//
//	tcp events → reorder hold → connections (two local sockets on loopback, one otherwise) → one byte stream per
//	direction → internal/http1 or internal/h2 → requests, responses, SSE events → JSON-RPC → correlation → sinks.
//
// The kernel reports each TCP socket's sent and received bytes as two streams keyed by the socket's inode, and the
// socket's addresses once (capture.KindTCP). On loopback both sockets of a connection are local, so every byte
// arrives twice; the first stream to deliver bytes of a direction feeds the parser and the other copy is only
// counted (http_duplicate_bytes). Which socket is the client is read from the bytes: the stream that opens with a
// request (or the HTTP/2 preface) is the client's sending side, or the server's receiving side.
//
// Records of the two directions must reach correlation in causal order (a request before its response). Data
// records carry when their write began (sent bytes) or when their read returned (received bytes); TCP events wait
// ReorderHold in a queue ordered by that time, as stdio frames do.

// Roles of a socket in its connection.
const (
	sockRoleUnknown = iota
	sockRoleClient
	sockRoleServer
)

// Senders as the correlator knows them: the roles are known from HTTP itself, so they need not be pids (a client
// and a server in one process stay apart).
const (
	senderClient = 1
	senderServer = 2
)

// maxTCPConns bounds the connections followed at once; past it the least recently active one is ended.
const maxTCPConns = 4096

// maxOpenRequests bounds the requests of one connection remembered until their response, for "unanswered" records.
const maxOpenRequests = 1024

// maxResponseBody is how much of a body that is not JSON-RPC an exchange record quotes.
const maxResponseBody = 1 << 10

// peerLookupEvery is how often /proc is asked again for the far end of a loopback connection it could not name.
const peerLookupEvery = uint64(time.Second)

// httpParser is what http1.Conn and h2.Conn have in common.
type httpParser interface {
	Feed(dir httpmsg.Dir, off int64, data []byte, t time.Time)
	Restart(dir httpmsg.Dir) // the next bytes of dir follow a loss of unknown length
	Close(t time.Time)
}

type tcpSocket struct {
	ino           uint64
	conn          *tcpConn
	ep            record.Endpoint // the process using the socket, from its records; Addr is local
	local, remote netip.AddrPort
	role          int
	closed        bool
	gens          [2]uint64 // the latest generation seen of the bytes it sent ([0]) and received ([1])
	// kernelEnded: the kernel ended the socket's streams itself (a TLS object's, at TCP_CLOSE): their number may
	// already name the object's next connection, whose streams ending this one must not forget.
	kernelEnded bool
}

// connKey names a connection by its two addresses, lower first, so that both sockets of a loopback connection
// find it.
type connKey struct{ a, b netip.AddrPort }

func makeConnKey(x, y netip.AddrPort) connKey {
	if y.Compare(x) < 0 {
		x, y = y, x
	}
	return connKey{x, y}
}

// source is the stream that feeds one direction of a connection to the parser.
type source struct {
	set  bool
	key  stream.Key
	gen  uint64
	base int64 // added to the generation's offsets: a new generation continues after a one-byte gap
	end  int64 // parser offset one past the last byte fed
}

type tcpConn struct {
	key            connKey
	sockets        []*tcpSocket
	rolesKnown     bool
	client, server netip.AddrPort
	src            [2]source
	parser         httpParser
	http2          bool
	judged         bool                        // HTTP/2: its first request was looked at (mayCarryMCP)
	setAside       bool                        // not MCP: no longer parsed
	tls            bool                        // fed from TLS plaintext (uprobes) rather than TCP bytes
	feedTime       time.Time                   // capture time of the chunk being fed: when an SSE event arrived
	rpcRequests    map[*httpmsg.Message]bool   // requests whose body carried JSON-RPC, until their response
	open           []*httpmsg.Message          // requests awaiting their response, oldest first
	legacy         map[*httpmsg.Message]string // legacy SSE streams: the session id their endpoint event announced
	peer           record.Endpoint             // the far end, found in /proc when the kernel did not report it
	peerLookedAt   uint64
	lastActive     uint64
}

// tcpPending is a TCP event waiting in the reorder hold.
type tcpPending struct {
	at   uint64
	kind uint8 // capture.KindData, KindClose or KindExit
	key  stream.Key
	gen  uint64
	off  uint64
	pid  int
	comm string
	data []byte
}

// httpCounts are the HTTP stage's counters.
type httpCounts struct {
	Connections    uint64
	Exchanges      uint64 // kind "http" records
	JunkBodies     uint64 // request or response bodies that are not JSON-RPC (reported in exchange records)
	JunkEvents     uint64 // SSE events whose data is not JSON-RPC
	DuplicateBytes uint64 // the second copy of loopback bytes
	OrphanBytes    uint64 // bytes of a socket whose connection was never reported
	UnknownBytes   uint64 // bytes of a connection whose roles could not be told (neither a request nor a response)
	Restarts       uint64 // stream generations restarted within a connection (counted as one lost byte each)
	ConnsEvicted   uint64
	PeerFromProc   uint64
	SetAside       uint64       // HTTP/2 connections whose first request was not MCP
	SetAsideBytes  uint64       // bytes of those that arrived after
	parsers        parserCounts // of the connections that ended
}

// httpStage is the part of Monitor that follows TCP connections.
type httpStage struct {
	// servers remembers, by listening address, the server process /proc named for an earlier connection: a client
	// opening many connections to a server outside the traced processes costs one walk of /proc, not one each.
	servers map[netip.AddrPort]record.Endpoint
	sockets map[uint64]*tcpSocket
	conns   map[connKey]*tcpConn
	queue   []tcpPending
	counts  httpCounts
}

func (m *Monitor) tcpHandle(e *capture.Event, comm string) {
	switch e.Kind {
	case capture.KindTCP:
		m.tcpSocketSeen(e, comm)
		return
	case capture.KindReader:
		return // received bytes name their reader themselves
	}
	p := tcpPending{at: e.Time, kind: e.Kind, key: e.Stream, gen: e.Gen, off: e.Offset, pid: e.Pid, comm: comm}
	if e.Kind == capture.KindData {
		p.data = append([]byte(nil), e.Data...)
	}
	m.enqueueTCP(p)
}

// enqueueTCP inserts p in time order; chunks of one stream stay in offset order (two writers of one socket), and
// bytes of a TLS connection stay ahead of its end (lateForClose).
func (m *Monitor) enqueueTCP(p tcpPending) {
	q := m.http.queue
	i := len(q)
	for i > 0 && (q[i-1].at > p.at || (q[i-1].kind == capture.KindData && p.kind == capture.KindData &&
		q[i-1].key == p.key && q[i-1].gen == p.gen && q[i-1].off > p.off) || lateForClose(&p, &q[i-1])) {
		i--
	}
	m.http.queue = slices.Insert(q, i, p)
}

// lateForClose tells whether p, bytes of a TLS connection, belong before end, that connection's end as TCP closed
// it: a read that returned after the close is dated after it, yet the kernel numbered its bytes in the closed
// connection's generation, which began before the close (a generation is named by the time it began; the object's
// next connection starts a later one).
func lateForClose(p, end *tcpPending) bool {
	return end.kind == capture.KindClose && p.kind == capture.KindData && isTLSKind(p.key.Kind) &&
		end.key.Ino == p.key.Ino && p.gen < end.at
}

// releaseTCP hands the TCP events older than ReorderHold (all of them with force) to their connections. The end of
// a TLS connection waiting for late returns (awaitingLateTLS) holds back only what follows it on its own socket.
func (m *Monitor) releaseTCP(force bool) {
	q := m.http.queue
	kept := q[:0]
	var held []uint64 // socket numbers whose events wait behind an end
	for i, p := range q {
		if !force {
			if m.now < p.at+uint64(m.opts.ReorderHold) || m.awaitingPeer(&p) || m.awaitingRequest(&p) {
				kept = append(kept, q[i:]...)
				break
			}
			if slices.Contains(held, p.key.Ino) || m.awaitingLateTLS(&p) {
				held = append(held, p.key.Ino)
				kept = append(kept, p)
				continue
			}
		}
		m.releaseOne(&p)
	}
	clear(q[len(kept):])
	m.http.queue = kept
	if len(kept) == 0 {
		m.http.queue = nil
	}
}

func (m *Monitor) releaseOne(p *tcpPending) {
	switch p.kind {
	case capture.KindData:
		m.tcpData(p)
	case capture.KindClose:
		if s := m.http.sockets[p.key.Ino]; s != nil {
			s.closed = true
			s.kernelEnded = isTLSKind(p.key.Kind)
			m.endConnIfClosed(s.conn, p.at)
		}
	case capture.KindExit:
		m.tcpProcessExited(p.pid, p.at)
	}
}

// drainTCP hands the queued events of one socket number to its connection now, ahead of their time: the number is
// about to name another socket, and they are the old one's.
func (m *Monitor) drainTCP(ino uint64) {
	var rest []tcpPending
	for _, p := range m.http.queue {
		if p.key.Ino == ino {
			m.releaseOne(&p)
		} else {
			rest = append(rest, p)
		}
	}
	m.http.queue = rest
}

// awaitingPeer tells whether p should wait for the kernel to report the other socket of its loopback connection,
// so that its records name both processes: at most ReaderWait, after which /proc is asked (a peer outside the
// traced processes is never reported).
func (m *Monitor) awaitingPeer(p *tcpPending) bool {
	if p.kind != capture.KindData || m.now >= p.at+uint64(m.opts.ReaderWait) {
		return false
	}
	s := m.http.sockets[p.key.Ino]
	if s == nil {
		// TLS plaintext may come before its socket is known: a library using memory BIOs writes the ciphertext
		// (which names the socket) after SSL_write returns.
		return isTLSKind(p.key.Kind)
	}
	c := s.conn
	if _, known := m.http.servers[s.remote]; known {
		return false // a server named from /proc before: endpoints reuses it
	}
	return len(c.sockets) == 1 && c.peer.Pid == 0 && local(s.local, s.remote)
}

// awaitingLateTLS tells whether p, the end of a TLS connection that TCP closed, should wait ReaderWait for the bytes
// of calls that began before the close and returned after it: the peer read a reply and hung up before the writer's
// return probe ran (a thread descheduled between its write(2) and its return). Their records are dated when they
// began, so they queue ahead of the close.
func (m *Monitor) awaitingLateTLS(p *tcpPending) bool {
	return p.kind == capture.KindClose && isTLSKind(p.key.Kind) && m.now < p.at+uint64(m.opts.ReaderWait)
}

// awaitingRequest tells whether p, bytes a server sent that answer a request not parsed yet, should wait for it, at
// most ReaderWait: a client's write is reported when its syscall or TLS call returns, which on a loaded machine can
// come later than the server's answer is read (the client's thread preempted between the two), and a response
// parsed before its request pairs with nothing. On HTTP/1, any response on a connection with no request open; on
// HTTP/2, a response's HEADERS on a stream the client has not opened yet (h2.Conn.AwaitsRequest).
func (m *Monitor) awaitingRequest(p *tcpPending) bool {
	if p.kind != capture.KindData || m.now >= p.at+uint64(m.opts.ReaderWait) {
		return false
	}
	s := m.http.sockets[p.key.Ino]
	if s == nil || s.conn == nil {
		return false
	}
	c := s.conn
	if c.setAside || !c.http2 && len(c.open) > 0 {
		return false
	}
	if !c.rolesKnown {
		return !c.http2 && http1.LooksLikeResponse(p.data)
	}
	sent := p.key.Kind == stream.KindTCPTx || p.key.Kind == stream.KindTLSTx
	if sent == (s.role == sockRoleClient) {
		return false // client to server
	}
	src := c.src[httpmsg.ServerToClient]
	if src.set && src.key != p.key {
		return false // the second copy of loopback bytes is not parsed: it need not wait
	}
	if c.http2 {
		h, ok := c.parser.(*h2.Conn)
		return ok && h.AwaitsRequest(p.data)
	}
	return true
}

// tcpSocketSeen records the addresses of a socket the kernel started following, and joins it to its connection.
func (m *Monitor) tcpSocketSeen(e *capture.Event, comm string) {
	h := &m.http
	if h.sockets == nil {
		h.sockets = map[uint64]*tcpSocket{}
		h.conns = map[connKey]*tcpConn{}
	}
	s := h.sockets[e.Stream.Ino]
	if s != nil && (s.local == e.Conn.Local && s.remote == e.Conn.Remote || e.Conn.Local.Port() == 0) {
		// The socket's other direction; or a report read after the connection was reset, when the kernel had
		// already released the local port: the addresses first reported stand.
		return
	}
	if s != nil {
		// The number now names another socket: a socket inode reused, or a TLS object's address taken by a new
		// connection (tls_set_socket in c/tls.h). What is queued under it is the old socket's (the new one's bytes
		// follow this report), and the kernel has already started the new socket's streams under the number, which
		// ending the old connection must not forget.
		m.drainTCP(s.ino)
		delete(h.sockets, s.ino)
		s.closed = true
		m.endConnIfClosed(s.conn, e.Time)
	}
	s = &tcpSocket{ino: e.Stream.Ino, local: e.Conn.Local, remote: e.Conn.Remote,
		ep: record.Endpoint{Pid: e.Pid, Comm: comm, Addr: e.Conn.Local.String()}}
	h.sockets[s.ino] = s
	key := makeConnKey(s.local, s.remote)
	c := h.conns[key]
	if c == nil {
		if len(h.conns) >= maxTCPConns {
			m.evictConn()
		}
		c = &tcpConn{key: key, rpcRequests: map[*httpmsg.Message]bool{}, legacy: map[*httpmsg.Message]string{}}
		h.conns[key] = c
		h.counts.Connections++
	}
	c.lastActive = e.Time
	// A socket of an earlier connection between the same addresses (the port was reused) is replaced.
	c.sockets = slices.DeleteFunc(c.sockets, func(o *tcpSocket) bool { return o.local == s.local })
	c.sockets = append(c.sockets, s)
	s.conn = c
	if c.rolesKnown {
		s.role = sockRoleServer
		if s.local == c.client {
			s.role = sockRoleClient
		}
	}
}

// tcpData feeds one chunk to its connection's parser.
func (m *Monitor) tcpData(p *tcpPending) {
	h := &m.http
	s := h.sockets[p.key.Ino]
	if s == nil {
		h.counts.OrphanBytes += uint64(len(p.data))
		return
	}
	c := s.conn
	c.lastActive = p.at
	if p.pid != 0 {
		s.ep.Pid, s.ep.Comm = p.pid, p.comm
	}
	sent := p.key.Kind == stream.KindTCPTx || p.key.Kind == stream.KindTLSTx
	if sent {
		s.gens[0] = p.gen
	} else {
		s.gens[1] = p.gen
	}
	c.tls = c.tls || isTLSKind(p.key.Kind)
	if c.setAside {
		h.counts.SetAsideBytes += uint64(len(p.data))
		return
	}
	if !c.rolesKnown && !c.learnRoles(s, sent, p.off, p.data) {
		h.counts.UnknownBytes += uint64(len(p.data))
		return
	}
	dir := httpmsg.ClientToServer
	if sent != (s.role == sockRoleClient) {
		dir = httpmsg.ServerToClient
	}
	src := &c.src[dir]
	if !src.set {
		*src = source{set: true, key: p.key, gen: p.gen}
	}
	if src.key != p.key {
		h.counts.DuplicateBytes += uint64(len(p.data))
		return
	}
	restarted := p.gen != src.gen
	if restarted {
		src.gen, src.base = p.gen, src.end+1
		h.counts.Restarts++
	}
	if c.parser == nil {
		c.parser = m.newParser(c, p.data)
	} else if restarted {
		c.parser.Restart(dir)
	}
	off := src.base + int64(p.off)
	c.feedTime = m.wallTime(p.at)
	c.parser.Feed(dir, off, p.data, c.feedTime)
	src.end = max(src.end, off+int64(len(p.data)))
}

// serverPos returns where parser offset wire of direction dir lies in the stream of the server process's own
// socket (or TLS connection), for footprints; false when the server's end is not local or not known.
func (c *tcpConn) serverPos(dir httpmsg.Dir, server int, wire int64) (fpPos, bool) {
	src := c.src[dir]
	if server == 0 || !src.set || wire < src.base {
		return fpPos{}, false
	}
	for _, s := range c.sockets {
		if s.role != sockRoleServer || s.ep.Pid != server {
			continue
		}
		var kind uint8
		switch {
		case dir == httpmsg.ClientToServer && c.tls:
			kind = stream.KindTLSRx
		case dir == httpmsg.ClientToServer:
			kind = stream.KindTCPRx
		case c.tls:
			kind = stream.KindTLSTx
		default:
			kind = stream.KindTCPTx
		}
		key := stream.Key{Kind: kind, Ino: s.ino}
		gen := s.gens[0] // the server received what the client sent
		if dir == httpmsg.ClientToServer {
			gen = s.gens[1]
		}
		if src.key == key {
			gen = src.gen
		}
		return fpPos{key: key, gen: gen, offset: uint64(wire - src.base)}, true
	}
	return fpPos{}, false
}

// transport is the records' transport: https when the connection's bytes came from the TLS library.
func (c *tcpConn) transport() string {
	if c.tls {
		return record.TransportHTTPS
	}
	return record.TransportHTTP
}

// isTCPKind tells the stream kinds of TCP sockets: their bytes, and their TLS plaintext.
func isTLSKind(kind uint8) bool { return kind == stream.KindTLSTx || kind == stream.KindTLSRx }

func isTCPKind(kind uint8) bool {
	switch kind {
	case stream.KindTCPTx, stream.KindTCPRx, stream.KindTLSTx, stream.KindTLSRx:
		return true
	}
	return false
}

// learnRoles tells client from server by the first bytes of one of the connection's streams (off: their offset in
// it). Over TLS, an HTTP/2 connection that began before the probes starts with whatever frame came next: a HEADERS
// frame tells a request from a response; the frames before one are not parsed.
func (c *tcpConn) learnRoles(s *tcpSocket, sent bool, off uint64, data []byte) bool {
	var client bool // s is the client
	switch {
	case http1.LooksLikeRequest(data) || h2.LooksLikePreface(data):
		client = sent
	case http1.LooksLikeResponse(data) || off == 0 && h2.LooksLikeServerPreface(data):
		client = !sent
	default:
		fromClient, ok := h2.FrameSender(data)
		if !ok || !c.tls {
			return false
		}
		client = sent == fromClient
	}
	c.rolesKnown = true
	if client {
		c.client, c.server = s.local, s.remote
	} else {
		c.client, c.server = s.remote, s.local
	}
	for _, o := range c.sockets {
		o.role = sockRoleServer
		if o.local == c.client {
			o.role = sockRoleClient
		}
	}
	return true
}

func (m *Monitor) newParser(c *tcpConn, first []byte) httpParser {
	emit := func(ev httpmsg.Event) { m.onHTTP(c, ev) }
	if h2.LooksLikePreface(first) || h2.LooksLikeServerPreface(first) {
		c.http2 = true
		return h2.NewConn(h2.Config{MaxBody: int64(m.opts.Stream.MaxMessage)}, emit)
	}
	if c.tls && h2.LooksLikeFrame(first) { // began before the probes (learnRoles)
		c.http2 = true
		return h2.NewConn(h2.Config{MaxBody: int64(m.opts.Stream.MaxMessage), MidStream: true}, emit)
	}
	return http1.NewConn(http1.Config{MaxBody: int64(m.opts.Stream.MaxMessage)}, emit)
}

func (m *Monitor) wallTime(mono uint64) time.Time {
	return time.Unix(0, int64(mono)+m.opts.ClockOffset).UTC()
}

// onHTTP turns one parser event into records.
func (m *Monitor) onHTTP(c *tcpConn, ev httpmsg.Event) {
	if c.setAside {
		return
	}
	switch ev.Kind {
	case httpmsg.EventRequest:
		if c.http2 && !c.judged {
			// A request whose headers could not be decoded (the connection began before capture) is judged by its
			// body; one without a body (a GET) waits for the next request.
			c.judged = !ev.Request.HeadersUnknown || len(ev.Request.Body) > 0
			if c.judged && !mayCarryMCP(ev.Request) {
				m.setAside(c)
				return
			}
		}
		m.httpRequest(c, ev.Request)
	case httpmsg.EventStreamStart:
		if ev.Request == nil || !c.rpcRequests[ev.Request] {
			m.writeExchange(c, ev.Request, ev.Response, "stream_open", ev.Response.FirstTime)
		}
	case httpmsg.EventSSE:
		m.httpEvent(c, ev)
	case httpmsg.EventResponse:
		m.httpResponse(c, ev.Request, ev.Response)
	}
}

func (m *Monitor) httpRequest(c *tcpConn, req *httpmsg.Message) {
	if len(c.open) >= maxOpenRequests {
		c.open = c.open[1:]
	}
	c.open = append(c.open, req)
	if len(req.Body) == 0 {
		return // GET, DELETE: reported with their response
	}
	key := m.httpSession(c, req, nil)
	client, server := m.endpoints(c)
	info := m.httpInfo(c, req, nil)
	info.ContentType = req.ContentType
	if m.writeBody(c, req, req.Body, key, key, client, server, senderClient, &info, req.LastTime) {
		c.rpcRequests[req] = true
	}
}

func (m *Monitor) httpResponse(c *tcpConn, req, resp *httpmsg.Message) {
	defer func() {
		delete(c.rpcRequests, req)
		delete(c.legacy, resp)
		if i := slices.Index(c.open, req); i >= 0 {
			c.open = slices.Delete(c.open, i, i+1)
		}
	}()
	if resp.Streamed {
		return // its events were records of their own
	}
	if len(resp.Body) > 0 {
		corrKey := m.httpSession(c, req, resp)
		// The response to initialize announces the session id: later messages use it as their key, and take
		// the protocol version the initialize exchange settled on.
		recKey := corrKey
		if req == nil || req.MCP.Session() == "" {
			if sid := resp.MCP.SessionID; sid != "" {
				recKey = m.sessionKey(c, sid)
				defer m.corr.CarryOver(corrKey, recKey)
			}
		}
		client, server := m.endpoints(c)
		info := m.httpInfo(c, req, resp)
		info.ContentType = resp.ContentType
		if m.writeBody(c, resp, resp.Body, corrKey, recKey, server, client, senderServer, &info, resp.LastTime) {
			return
		}
	}
	m.writeExchange(c, req, resp, "exchange", resp.LastTime)
}

// mayCarryMCP judges the first request of an HTTP/2 connection, which the kernel follows from its preface alone (its
// headers are compressed): as for HTTP/1 in the kernel (looks_like_http_mcp in c/tcp.h), an MCP client's request
// accepts text/event-stream or names an MCP session, protocol version or method. A request whose headers could not be
// decoded (the connection began before capture) is judged by its body: JSON-RPC.
func mayCarryMCP(req *httpmsg.Message) bool {
	if req == nil {
		return true
	}
	if req.HeadersUnknown {
		_, err := mcp.Parse(req.Body)
		return err == nil
	}
	if req.MCP.SessionID != "" || req.MCP.ProtocolVersion != "" || req.MCP.Method != "" || req.MCP.LegacySessionID != "" {
		return true
	}
	for _, accept := range req.Headers.Values("Accept") {
		if strings.Contains(strings.ToLower(accept), "text/event-stream") {
			return true
		}
	}
	return false
}

// setAside stops following a connection that does not carry MCP: the kernel stops copying its streams, and what is
// already on its way is counted and dropped.
func (m *Monitor) setAside(c *tcpConn) {
	m.fpNotServer(c)
	c.setAside = true
	c.open = nil
	m.http.counts.SetAside++
	m.http.counts.parsers.add(countsOf(c.parser)) // what it parsed so far; the rest is never parsed
	c.parser = nil
	if m.opts.Controller == nil {
		return
	}
	kinds := []uint8{stream.KindTCPTx, stream.KindTCPRx}
	if c.tls {
		kinds = []uint8{stream.KindTLSTx, stream.KindTLSRx}
	}
	for _, s := range c.sockets {
		for _, kind := range kinds {
			if err := m.opts.Controller.Quarantine(stream.Key{Kind: kind, Ino: s.ino}); err != nil {
				fmt.Fprintf(m.opts.Log, "mcpscope: %v\n", err)
			}
		}
	}
}

// httpEvent handles one server-sent event: the legacy transport's endpoint announcement, or JSON-RPC.
func (m *Monitor) httpEvent(c *tcpConn, ev httpmsg.Event) {
	if ev.MCP.Endpoint != "" {
		if ev.MCP.LegacySessionID != "" {
			c.legacy[ev.Response] = ev.MCP.LegacySessionID
		}
		return
	}
	if strings.TrimSpace(ev.SSE.Data) == "" {
		return // a priming event, or one that carries only an id
	}
	var key string
	if sid, ok := c.legacy[ev.Response]; ok {
		key = m.sessionKey(c, sid)
	} else {
		key = m.httpSession(c, ev.Request, ev.Response)
	}
	client, server := m.endpoints(c)
	info := m.httpInfo(c, ev.Request, ev.Response)
	info.ContentType = ev.Response.ContentType
	if ev.SSE.HasID {
		info.SSEEventID = ev.SSE.ID
	}
	msgs, err := m.parse([]byte(ev.SSE.Data))
	if err != nil {
		m.http.counts.JunkEvents++
		return
	}
	for i := range msgs {
		rec := record.Message{Kind: record.KindMessage, Time: c.feedTime, Transport: c.transport(),
			Session: key, From: server, To: client, Size: len(msgs[i].Raw), HTTP: &info}
		m.corr.Annotate(key, senderServer, &msgs[i], rec.Time, &rec)
		if ev.SSE.Truncated {
			rec.Truncated = true
		}
		m.write(&rec)
		m.fpHTTP(c, &rec, httpmsg.ServerToClient, ev.WireEnd-1) // the server wrote the event's last byte
	}
}

// writeBody writes the JSON-RPC messages of a body as records and reports whether there were any. A body cut by
// capture loss is still reported, marked truncated.
func (m *Monitor) writeBody(c *tcpConn, msg *httpmsg.Message, body []byte, corrKey, recKey string,
	from, to record.Endpoint, sender int, info *record.HTTPInfo, t time.Time) bool {
	msgs, err := m.parse(body)
	if err != nil {
		// A body the sender cut (the connection closed mid-body) is reported by its exchange's http record; only
		// bytes mcpscope lost, or a body past --max-message-mb, make a message record that says so.
		if msg.LostBytes == 0 && msg.BodyExcess == 0 {
			if !msg.Incomplete { // a cut body is counted by the parser (http_truncated), not as junk
				m.http.counts.JunkBodies++
			}
			return false
		}
		m.counts.Truncated++
		rec := record.Message{Kind: record.KindMessage, Time: t, Transport: c.transport(), Session: recKey,
			From: from, To: to, Size: int(msg.BodySize), HTTP: info, Truncated: true, LostBytes: msg.LostBytes}
		m.write(&rec)
		return true
	}
	if msg.Truncated {
		m.counts.Truncated++
	}
	for i := range msgs {
		rec := record.Message{Kind: record.KindMessage, Time: t, Transport: c.transport(), Session: recKey,
			From: from, To: to, Size: len(msgs[i].Raw), HTTP: info}
		m.corr.Annotate(corrKey, sender, &msgs[i], t, &rec)
		rec.Session = recKey
		if msg.Truncated {
			rec.Truncated, rec.LostBytes = true, msg.LostBytes
		}
		m.write(&rec)
		if sender == senderClient { // the server has read the request once it read the body's last byte
			m.fpHTTP(c, &rec, httpmsg.ClientToServer, msg.EndOffset)
		} else {
			m.fpHTTP(c, &rec, httpmsg.ServerToClient, msg.FirstOffset)
		}
	}
	return true
}

// writeExchange writes a kind "http" record for an exchange that carried no JSON-RPC back.
func (m *Monitor) writeExchange(c *tcpConn, req, resp *httpmsg.Message, event string, t time.Time) {
	m.http.counts.Exchanges++
	client, server := m.endpoints(c)
	rec := record.HTTP{Kind: record.KindHTTP, Time: t, Transport: c.transport(), Event: event,
		Session: m.httpSession(c, req, resp), From: client, To: server, HTTP: m.httpInfo(c, req, resp)}
	if req != nil {
		rec.RequestSize = req.WireSize
		rec.RequestHeaders = m.headers(req.Headers)
		rec.Truncated = req.Truncated
		rec.LostBytes = req.LostBytes
		rec.BeganBeforeCapture = req.BeganBeforeCapture
	}
	if resp != nil {
		rec.HTTP.ContentType = resp.ContentType
		rec.ResponseSize = resp.WireSize
		rec.ResponseHeaders = m.headers(resp.Headers)
		rec.Truncated = rec.Truncated || resp.Truncated
		rec.LostBytes += resp.LostBytes
		rec.BeganBeforeCapture = rec.BeganBeforeCapture || resp.BeganBeforeCapture
		if len(resp.Body) > 0 {
			body := resp.Body[:min(len(resp.Body), maxResponseBody)]
			for len(body) > 0 && !utf8.Valid(body) && len(resp.Body) > maxResponseBody {
				body = body[:len(body)-1] // a rune cut at the limit
			}
			rec.ResponseBody = strings.ToValidUTF8(string(body), "\uFFFD")
		}
		if req != nil {
			ms := float64(t.Sub(req.LastTime)) / float64(time.Millisecond)
			rec.LatencyMs = &ms
		}
	}
	if err := m.opts.Sink.WriteHTTP(&rec); err != nil && m.err == nil {
		m.err = err
	}
}

// httpSession is the session a message belongs to: its Mcp-Session-Id or legacy sessionId (the request's when
// known, so that a response is correlated with its request), or else the connection.
func (m *Monitor) httpSession(c *tcpConn, req, resp *httpmsg.Message) string {
	var sid string
	if req != nil {
		sid = req.MCP.Session()
	} else if resp != nil {
		sid = resp.MCP.SessionID
	}
	if sid != "" {
		return m.sessionKey(c, sid)
	}
	return c.transport() + ":conn:" + c.client.String() + "-" + c.server.String()
}

// sessionKey names the session sid of the connection's server. A session id is the server's to give, so the key
// includes the server's address: a proxy that forwards Mcp-Session-Id unchanged makes two sessions with one id,
// and their requests (with the same JSON-RPC ids) must not be correlated together.
func (m *Monitor) sessionKey(c *tcpConn, sid string) string {
	return c.transport() + ":" + c.server.String() + "/" + m.sessionRef(sid)
}

// sessionRef is how a session id is written out: redacted to a fingerprint unless the user asked for raw values.
func (m *Monitor) sessionRef(sid string) string {
	if m.opts.NoRedact {
		return sid
	}
	sum := sha256.Sum256([]byte(sid))
	return "redacted:" + hex.EncodeToString(sum[:6])
}

// httpInfo is the HTTP context of a request, a response, or both.
func (m *Monitor) httpInfo(c *tcpConn, req, resp *httpmsg.Message) record.HTTPInfo {
	var info record.HTTPInfo
	if req != nil {
		info.Proto = req.Proto
		info.Method, info.Path, info.Host = req.Method, req.Path, req.Host
		info.ProtocolVersion = req.MCP.ProtocolVersion
		info.MCPMethod, info.MCPName = req.MCP.Method, req.MCP.Name
		info.StreamID = req.StreamID
		if sid := req.MCP.Session(); sid != "" {
			info.SessionID = m.sessionRef(sid)
		}
	}
	if resp != nil {
		info.Status = resp.Status
		if info.Proto == "" {
			info.Proto = resp.Proto
		}
		if info.StreamID == 0 {
			info.StreamID = resp.StreamID
		}
		if info.SessionID == "" && resp.MCP.SessionID != "" {
			info.SessionID = m.sessionRef(resp.MCP.SessionID)
		}
		if sid, ok := c.legacy[resp]; ok && info.SessionID == "" {
			info.SessionID = m.sessionRef(sid)
		}
	}
	return info
}

func (m *Monitor) headers(h httpmsg.Headers) []record.HTTPHeader {
	if len(h) == 0 {
		return nil
	}
	if !m.opts.NoRedact {
		h = httpmsg.Redact(h)
	}
	out := make([]record.HTTPHeader, len(h))
	for i, f := range h {
		out[i] = record.HTTPHeader{Name: f.Name, Value: f.Value}
	}
	return out
}

// endpoints names the client and the server of a connection: from its sockets where the kernel reported them,
// else, for a loopback peer outside the traced processes, from /proc, else by address alone.
func (m *Monitor) endpoints(c *tcpConn) (client, server record.Endpoint) {
	client.Addr, server.Addr = c.client.String(), c.server.String()
	var haveClient, haveServer bool
	for _, s := range c.sockets {
		switch s.role {
		case sockRoleClient:
			client, haveClient = s.ep, true
		case sockRoleServer:
			server, haveServer = s.ep, true
		}
	}
	if haveClient && haveServer {
		return client, server
	}
	if cached, ok := m.http.servers[c.server]; ok && c.peer.Pid == 0 && haveClient {
		// A server outside the traced processes sends no exit record: check it still runs (one small read).
		if m.opts.Proc.Comm(cached.Pid) == cached.Comm {
			c.peer = cached
		} else {
			delete(m.http.servers, c.server)
		}
	}
	if c.peer.Pid == 0 && local(c.client, c.server) && (c.peerLookedAt == 0 || m.now >= c.peerLookedAt+peerLookupEvery) {
		c.peerLookedAt = max(m.now, 1)
		missing, other := c.server, c.client
		if !haveClient {
			missing, other = c.client, c.server
		}
		if pid := m.socketHolder(missing, other, haveClient); pid != 0 {
			c.peer = record.Endpoint{Pid: pid, Comm: m.comm(pid), Addr: missing.String()}
			m.http.counts.PeerFromProc++
			if haveClient {
				if m.http.servers == nil {
					m.http.servers = map[netip.AddrPort]record.Endpoint{}
				}
				m.http.servers[c.server] = c.peer
			}
		}
	}
	if c.peer.Pid != 0 {
		if !haveClient {
			client = c.peer
		} else {
			server = c.peer
		}
	}
	return client, server
}

// socketHolder returns the process holding the socket at local connected to remote, or, for a server
// (listener true), the process holding its listener, or 0. The connection may be gone by the time its messages are
// decoded, or be closing: the kernel still lists a socket its process has just closed, so a listed socket that no
// process holds sends the search on to the listener, which outlives the connection.
func (m *Monitor) socketHolder(local, remote netip.AddrPort, listener bool) int {
	holder := func(ino uint64) int {
		if ino == 0 {
			return 0
		}
		return likelyServer(m.opts.Proc.Holders("socket", ino), m.opts.Proc.Parent)
	}
	if pid := holder(m.opts.Proc.TCPSocketInode(local, remote)); pid != 0 || !listener {
		return pid
	}
	return holder(m.opts.Proc.TCPListenerInode(local))
}

// likelyServer picks, of the processes holding one socket, the one to name: a listener is held by several where init
// passed it to a service (systemd's socket activation: PID 1 keeps its copy) or a server forked its workers after
// opening it (nginx, gunicorn). Init is never the server when another holds the socket; of the rest, the one whose
// parent holds none (the process that opened it and forked the others: a pre-fork master, since which worker
// accepted a connection cannot be told), and the lowest pid where that does not decide (parents unknown, or several
// unrelated holders). parent returns a process's parent (false: unknown). 0 for none.
func likelyServer(pids []int, parent func(pid int) (int, bool)) int {
	var holders []int
	for _, pid := range pids {
		if pid != 1 || len(pids) == 1 {
			holders = append(holders, pid)
		}
	}
	var roots []int
	for _, pid := range holders {
		if pp, ok := parent(pid); !ok || !slices.Contains(holders, pp) {
			roots = append(roots, pid)
		}
	}
	if len(roots) == 0 { // cannot happen in a tree; keep every holder
		roots = holders
	}
	if len(roots) == 0 {
		return 0
	}
	return slices.Min(roots)
}

// local reports whether the far end b of a connection from a is on this host.
func local(a, b netip.AddrPort) bool {
	return b.Addr().IsLoopback() || a.Addr() == b.Addr()
}

// endConnIfClosed ends a connection once every local socket of it is closed: the parser delivers what the close
// completes (a body that ran until the close) or cuts, unanswered requests are reported, and the kernel forgets
// the sockets' streams.
func (m *Monitor) endConnIfClosed(c *tcpConn, at uint64) {
	if c == nil {
		return
	}
	for _, s := range c.sockets {
		if !s.closed {
			return
		}
	}
	m.endConn(c, at)
}

func (m *Monitor) endConn(c *tcpConn, at uint64) {
	h := &m.http
	t := m.wallTime(at)
	if c.parser != nil {
		c.parser.Close(t)
		h.counts.parsers.add(countsOf(c.parser))
	}
	for _, req := range c.open {
		m.writeExchange(c, req, nil, "unanswered", t)
	}
	c.open = nil
	for _, s := range c.sockets {
		if h.sockets[s.ino] != s {
			continue // the number names another socket now, whose kernel streams are not this connection's
		}
		delete(h.sockets, s.ino)
		if m.opts.Controller != nil && !s.kernelEnded {
			for _, kind := range []uint8{stream.KindTCPTx, stream.KindTCPRx, stream.KindTLSTx, stream.KindTLSRx} {
				_ = m.opts.Controller.Forget(stream.Key{Kind: kind, Ino: s.ino})
			}
		}
	}
	if h.conns[c.key] == c {
		delete(h.conns, c.key)
	}
}

// tcpProcessExited closes the sockets of a process that exited.
func (m *Monitor) tcpProcessExited(pid int, at uint64) {
	for addr, ep := range m.http.servers {
		if ep.Pid == pid {
			delete(m.http.servers, addr)
		}
	}
	for _, s := range m.http.sockets {
		if s.ep.Pid == pid && !s.closed {
			s.closed = true
			m.endConnIfClosed(s.conn, at)
		}
	}
}

// evictConn ends the least recently active connection.
func (m *Monitor) evictConn() {
	var oldest *tcpConn
	for _, c := range m.http.conns {
		if oldest == nil || c.lastActive < oldest.lastActive {
			oldest = c
		}
	}
	if oldest != nil {
		m.http.counts.ConnsEvicted++
		m.endConn(oldest, m.now)
	}
}

// parserCounts are the parsers' counters the monitor reports, the same for HTTP/1 and HTTP/2.
type parserCounts struct {
	requests, responses, sseEvents, truncated, malformed, skipped, lost, unpaired, sseDiscarded int64
}

func (p *parserCounts) add(o parserCounts) {
	p.requests += o.requests
	p.responses += o.responses
	p.sseEvents += o.sseEvents
	p.truncated += o.truncated
	p.malformed += o.malformed
	p.skipped += o.skipped
	p.lost += o.lost
	p.unpaired += o.unpaired
	p.sseDiscarded += o.sseDiscarded
}

// countsOf reads a parser's counters.
func countsOf(p httpParser) parserCounts {
	switch p := p.(type) {
	case *http1.Conn:
		s := p.Stats()
		return parserCounts{requests: s.Requests, responses: s.Responses, sseEvents: s.SSEEvents, truncated: s.Truncated,
			malformed: s.Malformed, skipped: s.Skipped + s.SSE.Skipped, lost: s.Lost, unpaired: s.Unpaired,
			sseDiscarded: s.SSE.Discarded}
	case *h2.Conn:
		s := p.Stats()
		return parserCounts{requests: s.Requests, responses: s.Responses, sseEvents: s.SSEEvents, truncated: s.Truncated,
			malformed: s.FrameErrors + s.HPACKErrors, skipped: s.Skipped + s.SSE.Skipped, lost: s.Lost,
			sseDiscarded: s.SSE.Discarded}
	}
	return parserCounts{}
}

// httpCounters adds the HTTP stage's counters, parsers of open connections included, to out.
func (m *Monitor) httpCounters(out map[string]uint64) {
	h := &m.http
	c := h.counts
	p := c.parsers
	for _, conn := range h.conns {
		p.add(countsOf(conn.parser))
	}
	u := func(v int64) uint64 { return uint64(max(v, 0)) }
	for k, v := range map[string]uint64{
		"http_connections":     c.Connections,
		"http_exchanges":       c.Exchanges,
		"http_junk_bodies":     c.JunkBodies,
		"http_junk_events":     c.JunkEvents,
		"http_duplicate_bytes": c.DuplicateBytes,
		"http_orphan_bytes":    c.OrphanBytes,
		"http_unknown_bytes":   c.UnknownBytes,
		"http_restarts":        c.Restarts,
		"http_conns_evicted":   c.ConnsEvicted,
		"http_peer_from_proc":  c.PeerFromProc,
		"http_set_aside":       c.SetAside,
		"http_set_aside_bytes": c.SetAsideBytes,
		"http_requests":        u(p.requests),
		"http_responses":       u(p.responses),
		"http_sse_events":      u(p.sseEvents),
		"http_truncated":       u(p.truncated),
		"http_malformed":       u(p.malformed),
		"http_skipped_bytes":   u(p.skipped),
		"http_lost_bytes":      u(p.lost),
		"http_unpaired":        u(p.unpaired),
		"http_sse_discarded":   u(p.sseDiscarded),
	} {
		out[k] = v
	}
}
