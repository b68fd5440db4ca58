package http1

import (
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/sse"
)

// Dir is the direction of a byte stream within a connection.
type Dir = httpmsg.Dir

const (
	// ClientToServer carries requests.
	ClientToServer = httpmsg.ClientToServer
	// ServerToClient carries responses.
	ServerToClient = httpmsg.ServerToClient
)

// Config bounds a Conn. The zero value means the defaults.
type Config struct {
	// MaxHeaderBytes caps a start line plus header section, and a trailer section. Default 256 KiB.
	MaxHeaderBytes int
	// MaxHeaders caps the fields kept per section; further fields are counted, not kept (the ones that frame the
	// body are still obeyed). Default 256.
	MaxHeaders int
	// MaxBody caps the decoded body kept per message; the excess is counted. Default 64 MiB. A gzip body's
	// compressed bytes are held up to the same size.
	MaxBody int64
	// MaxPending caps the requests awaiting their response on one connection (pipelining, or responses never
	// captured); the oldest is forgotten and counted. Default 1024.
	MaxPending int
	// MidStream says capture started after the connection did: both directions skip to the first plausible start
	// line, counting what they skip in Stats.Skipped rather than as malformed input.
	MidStream bool
	// SSE bounds the text/event-stream parser of streamed responses.
	SSE sse.Config
}

const (
	defaultMaxHeaderBytes = 256 << 10
	defaultMaxHeaders     = 256
	defaultMaxBody        = 64 << 20
	defaultMaxPending     = 1024
	// maxLine caps a chunk-size line and a resynchronisation candidate line.
	maxLine = 8 << 10
)

// Stats counts what a Conn saw, both directions together. Every byte of input ends up in a message, in Skipped,
// Duplicate, Tunneled or Lost.
type Stats struct {
	Requests  int64 // requests delivered (EventRequest)
	Responses int64 // final responses delivered (EventResponse)
	Interim   int64 // 1xx responses other than 101
	SSEEvents int64 // events delivered from text/event-stream bodies

	Truncated  int64 // messages delivered with Truncated set
	Malformed  int64 // start lines, header sections or chunked framing that did not parse
	BadHeaders int64 // header lines without a colon or with an invalid name (skipped, the message kept)
	Overflow   int64 // header sections beyond MaxHeaderBytes, or fields beyond MaxHeaders
	BodyExcess int64 // decoded body bytes beyond MaxBody
	DecodeErr  int64 // bodies whose Content-Encoding could not be decoded
	Unpaired   int64 // responses with no request waiting for them
	Evicted    int64 // pending requests forgotten past MaxPending

	Skipped   int64 // bytes skipped looking for a start line (mid-stream start, after a gap or malformed input)
	Lost      int64 // bytes capture could not deliver (offset gaps)
	Duplicate int64 // bytes at offsets already fed
	Tunneled  int64 // bytes after a successful Upgrade or CONNECT, not parsed

	SSE sse.Stats // summed over the streamed responses that ended
}

// Conn parses the two directions of one HTTP/1.x connection and pairs responses with requests in order.
//
// Feed bytes with [Conn.Feed] as they are captured; events are delivered synchronously to the function given to
// [NewConn]. A Conn is not safe for concurrent use: one goroutine feeds both directions, in the order capture
// delivered them, so that a request is parsed before the response that answers it.
type Conn struct {
	cfg         Config
	emit        func(httpmsg.Event)
	dirs        [2]parser
	pending     []*httpmsg.Message // requests awaiting a final response, oldest first
	tunnel      string
	tunnelStart [2]int64
	stats       Stats
}

// NewConn returns a Conn delivering events to emit. emit owns each Event and the Messages in it.
func NewConn(cfg Config, emit func(httpmsg.Event)) *Conn {
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if cfg.MaxHeaders <= 0 {
		cfg.MaxHeaders = defaultMaxHeaders
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	c := &Conn{cfg: cfg, emit: emit}
	for d := range c.dirs {
		c.dirs[d] = parser{c: c, response: Dir(d) == ServerToClient}
	}
	return c
}

// Stats returns the counters.
func (c *Conn) Stats() Stats { return c.stats }

// Tunnel reports whether the connection switched protocols (101 to an Upgrade, 2xx to a CONNECT), to what (the
// Upgrade header's value, e.g. "websocket" or "h2c", or "CONNECT"), and the stream offset in each direction
// (indexed by Dir) where the new protocol's bytes begin. Bytes after the switch are counted, not parsed; after an
// h2c upgrade, the caller can feed them from those offsets to an h2.Conn.
func (c *Conn) Tunnel() (proto string, start [2]int64, ok bool) {
	return c.tunnel, c.tunnelStart, c.tunnel != ""
}

// Feed parses data, the bytes of direction dir starting at stream offset off, captured at t.
//
// Chunks of a direction must come in offset order. A chunk starting beyond the previous one's end declares the
// bytes in between lost: the message they belonged to is marked truncated and the parser resynchronises, unless
// the loss fell inside a body of known length, which keeps the framing. Bytes at offsets already fed are dropped
// and counted. Offsets count from the first byte capture saw in the direction, so a first chunk beyond offset 0
// follows a loss. A connection that was open before capture began starts at offset 0 in the middle of a message:
// Config.MidStream says so (otherwise the first bytes fail to parse and are counted as malformed).
func (c *Conn) Feed(dir Dir, off int64, data []byte, t time.Time) {
	if dir > ServerToClient {
		return
	}
	p := &c.dirs[dir]
	if !p.started {
		p.started = true
		if c.cfg.MidStream {
			p.state = stResync
		}
		// A first chunk beyond offset 0 falls through to the gap below: its predecessors were lost.
	}
	if off < p.pos {
		dup := p.pos - off
		if dup >= int64(len(data)) {
			c.stats.Duplicate += int64(len(data))
			return
		}
		c.stats.Duplicate += dup
		data = data[dup:]
		off = p.pos
	}
	p.t = t
	if off > p.pos {
		p.gap(off - p.pos)
		p.pos = off
	}
	p.feed(data)
}

// Restart declares that the bytes of direction dir fed next do not continue those fed before: capture lost some,
// how many is unknown (the kernel restarted the stream), and the next chunk's offset leaves a gap of at least one
// byte. A body of known length cannot keep its framing across such a gap: its message ends truncated and the
// parser resynchronises at the next start line. (A body that runs until the close, such as an SSE stream without
// chunking, goes on, its event in progress marked.)
func (c *Conn) Restart(dir Dir) {
	if dir <= ServerToClient {
		c.dirs[dir].restarted = true
	}
}

// Close ends both directions (the connection closed): a response whose body runs until the close is complete;
// any other message in progress is delivered as incomplete.
func (c *Conn) Close(t time.Time) {
	c.CloseDir(ClientToServer, t)
	c.CloseDir(ServerToClient, t)
}

// CloseDir ends one direction (its sender shut down writing).
func (c *Conn) CloseDir(dir Dir, t time.Time) {
	if dir > ServerToClient {
		return
	}
	p := &c.dirs[dir]
	p.t = t
	p.close()
}

func (c *Conn) pushPending(m *httpmsg.Message) {
	if len(c.pending) >= c.cfg.MaxPending {
		c.stats.Evicted++
		copy(c.pending, c.pending[1:])
		c.pending = c.pending[:len(c.pending)-1]
	}
	c.pending = append(c.pending, m)
}

func (c *Conn) peekPending() *httpmsg.Message {
	if len(c.pending) == 0 {
		return nil
	}
	return c.pending[0]
}

func (c *Conn) popPending() *httpmsg.Message {
	if len(c.pending) == 0 {
		return nil
	}
	m := c.pending[0]
	c.pending[0] = nil
	c.pending = c.pending[1:]
	if len(c.pending) == 0 {
		c.pending = c.pending[:0:0] // let the backing array go; it only ever grows by re-slicing
	}
	return m
}

// switched is called by the response side once it knows the answer to the request the client side paused after
// (an Upgrade or CONNECT request): the client side either becomes a tunnel or resumes parsing what it held.
func (c *Conn) switched(req *httpmsg.Message, proto string, ok bool) {
	cl := &c.dirs[ClientToServer]
	if ok {
		c.tunnel = proto
		c.tunnelStart = [2]int64{cl.pos - int64(len(cl.held)), c.dirs[ServerToClient].pos}
		if cl.state == stPaused {
			c.stats.Tunneled += int64(len(cl.held))
			cl.held = nil
		}
		cl.state = stTunnel
		return
	}
	if cl.state == stPaused && cl.pausedFor == req {
		held := cl.held
		cl.held = nil
		cl.state = stStart
		cl.pos -= int64(len(held))
		cl.feed(held)
	}
}

// upgradeProto returns what a request asks to switch to, or "".
func upgradeProto(m *httpmsg.Message) string {
	if strings.EqualFold(m.Method, "CONNECT") {
		return "CONNECT"
	}
	if !m.Headers.Has("Upgrade") {
		return ""
	}
	return m.Headers.Get("Upgrade")
}
