package http1

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/sse"
)

type state uint8

const (
	stStart      state = iota // between messages
	stHead                    // accumulating the start line and header section in buf
	stBody                    // Content-Length body: remaining bytes left
	stChunkSize               // accumulating a chunk-size line in buf
	stChunkData               // remaining bytes of chunk data
	stChunkEnd                // the CRLF after chunk data, in buf
	stTrailer                 // trailer section, in buf
	stUntilClose              // response body delimited by the end of the connection
	stResync                  // looking for a start line; buf holds the tail of the current line
	stPaused                  // client side after an Upgrade or CONNECT request: holding bytes until the answer
	stTunnel                  // protocol switched: bytes are counted, not parsed
)

// parser is one direction of a Conn.
type parser struct {
	c        *Conn
	response bool

	started bool
	pos     int64 // stream offset of the next byte
	t       time.Time
	state   state

	buf      []byte // head, chunk-size line, chunk end, trailers, or resync line
	lineDone bool   // stHead: buf holds the complete, valid start line

	msg       *httpmsg.Message
	req       *httpmsg.Message // responses: the request answered
	remaining int64
	announced int64 // Content-Length of the body being read
	chunked   bool
	gzip      bool
	gzBroken  bool // bytes of the compressed body were lost: stop collecting it
	comp      []byte
	events    *sse.Parser
	// sseWire and sseBody place the bytes being fed to events: sseWire is the stream offset of their first byte and
	// sseBody its offset in the decoded body (-1: not known, a gzip body decoded at its end).
	sseWire, sseBody int64
	upgrade          string // requests: what the request asked to switch to

	held      []byte           // stPaused
	pausedFor *httpmsg.Message // stPaused: the request whose answer decides

	// restarted: the next gap is a loss of unknown length (Conn.Restart), however long its offsets say it is.
	restarted bool
}

func (p *parser) stats() *Stats { return &p.c.stats }

// feed consumes data, which starts at p.pos.
func (p *parser) feed(data []byte) {
	for len(data) > 0 {
		var n int
		switch p.state {
		case stStart:
			n = p.start(data)
		case stHead:
			n = p.head(data)
		case stBody, stChunkData:
			n = p.bodyBytes(data)
		case stChunkSize:
			n = p.chunkSize(data)
		case stChunkEnd:
			n = p.chunkEnd(data)
		case stTrailer:
			n = p.trailer(data)
		case stUntilClose:
			n = len(data)
			p.body(data)
			p.pos += int64(n)
		case stResync:
			n = p.resync(data)
		case stPaused:
			n = p.pause(data)
		case stTunnel:
			n = len(data)
			p.stats().Tunneled += int64(n)
			p.pos += int64(n)
		}
		data = data[n:]
	}
}

// start skips the empty lines allowed before a message (RFC 9112 §2.2) and opens a message.
func (p *parser) start(data []byte) int {
	i := 0
	for i < len(data) && (data[i] == '\r' || data[i] == '\n') {
		i++
	}
	p.pos += int64(i)
	if i < len(data) {
		p.open(p.pos)
	}
	return i
}

func (p *parser) open(off int64) {
	kind := httpmsg.KindRequest
	if p.response {
		kind = httpmsg.KindResponse
	}
	p.msg = &httpmsg.Message{Kind: kind, FirstOffset: off, FirstTime: p.t}
	p.buf = p.buf[:0]
	p.lineDone = false
	p.upgrade = ""
	p.state = stHead
}

// headEnd returns how many bytes of data complete a header section whose earlier bytes are in prev (which holds no
// terminator), or -1. The terminator is an empty line: "\n\n" or "\n\r\n" (bare LF line endings are accepted, as
// net/http does).
func headEnd(prev, data []byte) int {
	// A terminator may straddle prev and data; prev's last two bytes and data's first two cover every split.
	var scratch [4]byte
	t := prev
	if len(t) > 2 {
		t = t[len(t)-2:]
	}
	s := append(scratch[:0], t...)
	h := data
	if len(h) > 2 {
		h = h[:2]
	}
	s = append(s, h...)
	for i := 0; i < len(t); i++ {
		if s[i] != '\n' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\n' && i+2 > len(t) {
			return i + 2 - len(t)
		}
		if i+2 < len(s) && s[i+1] == '\r' && s[i+2] == '\n' && i+3 > len(t) {
			return i + 3 - len(t)
		}
	}
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return -1
		}
		i += off
		if i+1 < len(data) && data[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(data) && data[i+1] == '\r' && data[i+2] == '\n' {
			return i + 3
		}
		off = i + 1
	}
	return -1
}

// head accumulates the start line, then the header section. The start line is checked as its bytes arrive, so
// that garbage is handed to resynchronisation after at most one line, with nothing consumed beyond it.
func (p *parser) head(data []byte) int {
	if !p.lineDone {
		seg := data
		i := bytes.IndexByte(data, '\n')
		if i >= 0 {
			seg = data[:i+1]
		}
		p.buf = append(p.buf, seg...)
		p.pos += int64(len(seg))
		if i < 0 {
			if !prefixOK(p.buf, p.response) || len(p.buf) > maxLine+1 {
				p.stats().Malformed++
				p.toResync()
			}
			return len(seg)
		}
		line := bytes.TrimSuffix(p.buf[:len(p.buf)-1], []byte("\r"))
		if len(line) > maxLine || !validStart(line, p.response) {
			p.stats().Malformed++
			p.toResync()
			p.endResyncLine()
			return len(seg)
		}
		p.lineDone = true
		return len(seg)
	}
	limit := p.c.cfg.MaxHeaderBytes
	n := headEnd(p.buf, data)
	take := n
	if n < 0 {
		take = len(data)
	}
	if len(p.buf)+take > limit {
		take = max(limit-len(p.buf), 0)
		p.pos += int64(take)
		p.stats().Overflow++
		p.malformed(take)
		return take
	}
	p.buf = append(p.buf, data[:take]...)
	p.pos += int64(take)
	if n < 0 {
		return take
	}
	if err := p.parseHead(); err != nil {
		p.malformed(0)
		return take
	}
	p.afterHead()
	return take
}

// prefixOK is the early test on an incomplete start line: its first 16 bytes must look like HTTP.
func prefixOK(b []byte, response bool) bool {
	b = b[:min(len(b), 16)]
	if response {
		return LooksLikeResponse(b)
	}
	return LooksLikeRequest(b)
}

// validStart is the test on a complete start line (line ending removed). It includes prefixOK, so that the verdict
// does not depend on how the bytes were chunked, and resynchronisation (findStart) uses it too, so that a line it
// picks is never rejected here.
func validStart(line []byte, response bool) bool {
	if !prefixOK(line, response) {
		return false
	}
	if response {
		_, _, _, ok := statusLine(line)
		return ok
	}
	_, _, _, ok := requestLine(line)
	return ok
}

// toResync abandons the message being parsed; buf, the bytes of its first line so far, becomes the resync
// candidate line (its tail, bounded).
func (p *parser) toResync() {
	p.msg = nil
	p.state = stResync
	if over := len(p.buf) - maxLine; over > 0 {
		p.stats().Skipped += int64(over)
		p.buf = append(p.buf[:0], p.buf[over:]...)
	}
	if n := len(p.buf); n > 0 && p.buf[n-1] == '\n' {
		p.buf = p.buf[:n-1]
	}
}

// malformed drops the message being parsed (its bytes so far plus extra more are skipped) and resynchronises.
func (p *parser) malformed(extra int) {
	p.stats().Malformed++
	p.stats().Skipped += int64(len(p.buf) + extra)
	p.msg = nil
	p.buf = p.buf[:0]
	// The bytes after a malformed section are not known to start a line.
	p.state = stResync
}

var errBadHead = errors.New("malformed header section")

// parseHead parses p.buf, a complete start line and header section. The section is converted to one string, and
// names and values are substrings of it: one allocation per message instead of two per field.
func (p *parser) parseHead() error {
	m := p.msg
	lines := string(p.buf)
	m.Headers = make(httpmsg.Headers, 0, strings.Count(lines, "\n"))
	first := true
	var last *httpmsg.Header
	fields := 0
	for len(lines) > 0 {
		line := lines
		if i := strings.IndexByte(lines, '\n'); i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			lines = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if first {
			first = false
			if p.response {
				proto, status, reason, ok := statusLine([]byte(line))
				if !ok {
					return fmt.Errorf("status line %q: %w", truncate([]byte(line)), errBadHead)
				}
				m.Proto, m.Status = proto, status
				m.Reason = line[len(line)-len(reason):]
			} else {
				method, target, proto, ok := requestLine([]byte(line))
				if !ok {
					return fmt.Errorf("request line %q: %w", truncate([]byte(line)), errBadHead)
				}
				m.Proto, m.Method = proto, line[:len(method)]
				m.SetTarget(line[len(method)+1 : len(method)+1+len(target)])
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation of the previous field's value (RFC 9112 §5.2), joined with a space.
			if last != nil {
				last.Value = strings.TrimSpace(last.Value + " " + strings.TrimSpace(line))
			} else {
				p.stats().BadHeaders++
			}
			continue
		}
		h, ok := parseField(line)
		if !ok {
			p.stats().BadHeaders++
			last = nil
			continue
		}
		fields++
		if fields > p.c.cfg.MaxHeaders {
			if fields == p.c.cfg.MaxHeaders+1 {
				p.stats().Overflow++
				m.Truncated = true
			}
			// Still obey the fields that frame the body, or the connection would be lost.
			if isFraming(h.Name) {
				m.Headers = append(m.Headers, h)
			}
			last = nil
			continue
		}
		m.Headers = append(m.Headers, h)
		last = &m.Headers[len(m.Headers)-1]
	}
	m.Host = m.Headers.Get("Host")
	m.ContentType = httpmsg.MediaType(m.Headers.Get("Content-Type"))
	m.ContentEncoding = m.Headers.Get("Content-Encoding")
	m.ExtractMCP()
	return nil
}

func isFraming(name string) bool {
	return strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") ||
		strings.EqualFold(name, "Content-Type") || strings.EqualFold(name, "Content-Encoding")
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// parseField splits "Name: value". The name must be a token with no space before the colon (RFC 9112 §5.1: such
// a space is how request smuggling starts, and net/http rejects it too).
func parseField(line string) (httpmsg.Header, bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 || !isToken([]byte(line[:i])) {
		return httpmsg.Header{}, false
	}
	return httpmsg.Header{Name: line[:i], Value: strings.Trim(line[i+1:], " \t")}, true
}

// afterHead decides how the body is framed, once the header section is parsed.
func (p *parser) afterHead() {
	m := p.msg
	p.buf = p.buf[:0]
	p.chunked, p.gzip, p.gzBroken, p.comp, p.events, p.upgrade = false, false, false, nil, nil, ""
	enc := strings.ToLower(strings.TrimSpace(m.ContentEncoding))
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		p.gzip = true
	default:
		m.DecodeError = "unsupported content-encoding " + strconv.Quote(m.ContentEncoding)
	}
	te, hasTE := lastToken(m.Headers)
	cl, hasCL, clOK := contentLength(m.Headers)

	if !p.response {
		p.upgrade = upgradeProto(m)
		p.c.pushPending(m)
		switch {
		case hasTE && te == "chunked":
			p.beginChunked()
		case hasTE:
			// A request body framed by something other than chunked cannot be delimited (RFC 9112 §6.3).
			p.stats().Malformed++
			p.finish(true)
		case hasCL && !clOK:
			p.stats().Malformed++
			p.finish(true)
		case hasCL && cl > 0:
			p.remaining, p.announced = cl, cl
			p.state = stBody
		default:
			p.finish(false)
		}
		return
	}

	// Responses.
	st := m.Status
	if st >= 100 && st < 200 && st != 101 {
		p.req = p.c.peekPending()
		p.stats().Interim++
		m.EndOffset, m.LastTime = p.pos, p.t
		p.c.emit(httpmsg.Event{Kind: httpmsg.EventInterim, Exchange: httpmsg.Exchange{Request: p.req, Response: m}})
		p.msg, p.req = nil, nil
		p.state = stStart
		return
	}
	p.req = p.c.popPending()
	if p.req == nil {
		p.stats().Unpaired++
	}
	method := ""
	if p.req != nil {
		method = p.req.Method
		switching := st == 101 || (method == "CONNECT" && st >= 200 && st < 300)
		if !switching && upgradeProto(p.req) != "" {
			// The server refused the switch: the client side resumes parsing what it held.
			p.c.switched(p.req, "", false)
		}
	}
	if m.IsEventStream() && st >= 200 && st < 300 {
		m.Streamed = true
		p.events = sse.NewParser(p.c.cfg.SSE)
		p.c.emit(httpmsg.Event{Kind: httpmsg.EventStreamStart, Exchange: httpmsg.Exchange{Request: p.req, Response: m}})
	}
	switch {
	case st == 101:
		proto := m.Headers.Get("Upgrade")
		if proto == "" && p.req != nil {
			proto = p.req.Headers.Get("Upgrade")
		}
		if proto == "" {
			proto = "unknown"
		}
		p.finish(false)
		p.c.switched(nil, proto, true)
		p.state = stTunnel
		return
	case method == "CONNECT" && st >= 200 && st < 300:
		p.finish(false)
		p.c.switched(nil, "CONNECT", true)
		p.state = stTunnel
		return
	case method == "HEAD" || st == 204 || st == 304:
		p.finish(false)
	case hasTE && te == "chunked":
		p.beginChunked()
	case hasTE:
		p.state = stUntilClose
	case hasCL && !clOK:
		p.stats().Malformed++
		p.finish(true)
	case hasCL:
		if cl == 0 {
			p.finish(false)
		} else {
			p.remaining, p.announced = cl, cl
			p.state = stBody
		}
	default:
		p.state = stUntilClose
	}
}

func (p *parser) beginChunked() {
	p.chunked = true
	p.state = stChunkSize
	p.buf = p.buf[:0]
}

// lastToken returns the last transfer coding named (lower case), and whether there was a Transfer-Encoding field.
func lastToken(h httpmsg.Headers) (string, bool) {
	v, found := "", false
	for _, f := range h {
		if strings.EqualFold(f.Name, "Transfer-Encoding") {
			v, found = f.Value, true
		}
	}
	if !found {
		return "", false
	}
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v)), true
}

// contentLength parses Content-Length fields: repeated fields, or a list, must all agree (RFC 9110 §8.6).
func contentLength(h httpmsg.Headers) (n int64, present, ok bool) {
	n = -1
	for _, f := range h {
		if !strings.EqualFold(f.Name, "Content-Length") {
			continue
		}
		present = true
		for part := range strings.SplitSeq(f.Value, ",") {
			part = strings.TrimSpace(part)
			if part == "" || len(part) > 18 {
				return 0, true, false
			}
			for i := 0; i < len(part); i++ {
				if !isDigit(part[i]) {
					return 0, true, false
				}
			}
			x, err := strconv.ParseInt(part, 10, 64)
			if err != nil || (n >= 0 && x != n) {
				return 0, true, false
			}
			n = x
		}
	}
	return n, present, present && n >= 0
}

// bodyBytes consumes Content-Length or chunk data.
func (p *parser) bodyBytes(data []byte) int {
	n := len(data)
	if int64(n) > p.remaining {
		n = int(p.remaining)
	}
	p.body(data[:n])
	p.remaining -= int64(n)
	p.pos += int64(n)
	if p.remaining == 0 {
		if p.state == stChunkData {
			p.state = stChunkEnd
			p.buf = p.buf[:0]
		} else {
			p.finish(false)
		}
	}
	return n
}

// body takes decoded-framing body bytes.
func (p *parser) body(b []byte) {
	m := p.msg
	m.WireSize += int64(len(b))
	m.LastTime = p.t
	switch {
	case p.gzip:
		if p.gzBroken {
			return
		}
		room := p.c.cfg.MaxBody - int64(len(p.comp))
		if int64(len(b)) > room {
			// The compressed form alone exceeds the limit: keep what fits and decode that much.
			m.Truncated = true
			p.gzBroken = true
			b = b[:room]
		}
		p.comp = append(p.comp, b...)
	case p.events != nil:
		p.sseWire, p.sseBody = p.pos, m.BodySize
		m.BodySize += int64(len(b))
		p.events.Feed(b, p.sseEmit)
	default:
		if p.state == stBody {
			m.ReserveBody(p.announced, p.c.cfg.MaxBody, len(b))
		}
		before := m.BodyExcess
		m.AppendBody(b, p.c.cfg.MaxBody)
		p.stats().BodyExcess += m.BodyExcess - before
	}
}

func (p *parser) sseEmit(ev *sse.Event) {
	p.stats().SSEEvents++
	e := httpmsg.SSEEvent(p.req, p.msg, ev)
	e.WireEnd = p.sseWire
	if p.sseBody >= 0 && ev.End > p.sseBody {
		e.WireEnd += ev.End - p.sseBody
	}
	p.c.emit(e)
}

// chunkSize reads a chunk-size line: hex digits, optional extensions after ';'.
func (p *parser) chunkSize(data []byte) int {
	line, n, ok := p.line(data)
	if !ok {
		return n
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.Trim(line, " \t")
	size, err := strconv.ParseInt(string(line), 16, 64)
	if err != nil || size < 0 || len(line) == 0 || line[0] == '+' || line[0] == '-' {
		p.stats().Malformed++
		p.finish(true)
		p.state = stResync
		return n
	}
	if size == 0 {
		// Trailers follow; a fake preceding newline lets headEnd see an immediate empty line.
		p.buf = append(p.buf[:0], '\n')
		p.state = stTrailer
		return n
	}
	p.remaining = size
	p.state = stChunkData
	return n
}

// line accumulates one line in buf (bounded by maxLine) and returns it without its line ending once complete.
// n is the number of data bytes consumed. An overlong line is malformed.
func (p *parser) line(data []byte) (line []byte, n int, ok bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		p.pos += int64(len(data))
		if len(p.buf)+len(data) > maxLine {
			p.stats().Malformed++
			p.finish(true)
			p.state = stResync
			return nil, len(data), false
		}
		p.buf = append(p.buf, data...)
		return nil, len(data), false
	}
	p.pos += int64(i + 1)
	p.buf = append(p.buf, data[:i]...)
	line = bytes.TrimSuffix(p.buf, []byte("\r"))
	p.buf = p.buf[:0]
	return line, i + 1, true
}

// chunkEnd expects the empty line after chunk data.
func (p *parser) chunkEnd(data []byte) int {
	line, n, ok := p.line(data)
	if !ok {
		return n
	}
	if len(line) != 0 {
		p.stats().Malformed++
		p.finish(true)
		p.state = stResync
		return n
	}
	p.state = stChunkSize
	return n
}

// trailer accumulates the trailer section (buf starts with a fake '\n').
func (p *parser) trailer(data []byte) int {
	n := headEnd(p.buf, data)
	take := n
	if n < 0 {
		take = len(data)
	}
	p.pos += int64(take)
	if len(p.buf)+take > p.c.cfg.MaxHeaderBytes {
		p.stats().Overflow++
		p.finish(true)
		p.state = stResync
		return take
	}
	p.buf = append(p.buf, data[:take]...)
	if n < 0 {
		return take
	}
	for _, line := range bytes.Split(p.buf[1:], []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if h, ok := parseField(string(line)); ok && len(p.msg.Trailers) < p.c.cfg.MaxHeaders {
			p.msg.Trailers = append(p.msg.Trailers, h)
		} else {
			p.stats().BadHeaders++
		}
	}
	p.buf = p.buf[:0]
	p.finish(false)
	return take
}

// finish delivers the current message, which ends at p.pos. incomplete says it was cut.
func (p *parser) finish(incomplete bool) {
	m := p.msg
	if m == nil {
		return
	}
	m.EndOffset = p.pos
	m.LastTime = p.t
	if incomplete {
		m.Incomplete, m.Truncated = true, true
	}
	if p.gzip {
		p.decodeGzip(m)
	}
	if p.events != nil {
		ev := p.events
		p.events = nil
		if ev.Close() {
			m.Truncated = true
		}
		s := ev.Stats()
		p.stats().SSE.Add(s)
		if s.Excess > 0 || s.Lost > 0 {
			m.Truncated = true
		}
	}
	p.msg = nil // after decoding: a gzip event stream's events are emitted with it
	if m.Truncated {
		p.stats().Truncated++
	}
	req := p.req
	p.req = nil
	p.state = stStart
	p.buf = p.buf[:0]
	if m.Kind == httpmsg.KindRequest {
		p.stats().Requests++
		p.c.emit(httpmsg.Event{Kind: httpmsg.EventRequest, Exchange: httpmsg.Exchange{Request: m}})
		if p.upgrade != "" && !incomplete {
			// Hold what follows until the response says whether the protocol switched.
			p.state = stPaused
			p.pausedFor = m
			p.held = nil
		}
		return
	}
	p.stats().Responses++
	p.c.emit(httpmsg.Event{Kind: httpmsg.EventResponse, Exchange: httpmsg.Exchange{Request: req, Response: m}})
}

// decodeGzip replaces the collected compressed body by its decoding, bounded by MaxBody. A gzip text/event-stream
// cannot be parsed as it arrives (the decompressor cannot resume mid-stream), so its events are delivered here.
func (p *parser) decodeGzip(m *httpmsg.Message) {
	comp := p.comp
	p.comp = nil
	p.gzip = false
	if len(comp) == 0 && !m.Incomplete {
		return
	}
	out, excess, err := httpmsg.Gunzip(comp, p.c.cfg.MaxBody)
	if err != nil {
		m.DecodeError = err.Error()
		if !errors.Is(err, httpmsg.ErrTooLarge) {
			p.stats().DecodeErr++
		}
		m.Truncated = true
	}
	if excess > 0 {
		m.BodyExcess += excess
		p.stats().BodyExcess += excess
	}
	m.BodySize += int64(len(out)) + excess
	if p.events != nil {
		p.sseWire, p.sseBody = p.pos, -1
		p.events.Feed(out, p.sseEmit)
		return
	}
	m.Body = out
}

// gap accounts for n bytes capture lost at p.pos (after Restart: at least one, how many is unknown).
func (p *parser) gap(n int64) {
	p.stats().Lost += n
	unknown := p.restarted
	p.restarted = false
	switch p.state {
	case stBody, stChunkData:
		if n <= p.remaining && !unknown {
			// The loss is inside a body of known length: the framing survives.
			p.msg.AddLost(n)
			p.remaining -= n
			if p.events != nil {
				p.events.Gap(n)
			}
			if p.gzip {
				p.gzBroken = true
			}
			if p.remaining == 0 {
				if p.state == stChunkData {
					p.state = stChunkEnd
					p.buf = p.buf[:0]
				} else {
					p.pos += n
					p.finish(false)
					p.pos -= n
				}
			}
			return
		}
		p.msg.AddLost(min(n, p.remaining))
		p.finish(true)
	case stUntilClose:
		p.msg.AddLost(n)
		if p.events != nil {
			p.events.Gap(n)
		}
		if p.gzip {
			p.gzBroken = true
		}
		return
	case stHead:
		p.cutHead(n)
	case stChunkSize, stChunkEnd, stTrailer:
		p.msg.AddLost(n)
		p.finish(true)
	case stResync:
		p.stats().Skipped += int64(len(p.buf))
	case stPaused, stTunnel:
		// Nothing is parsed in a tunnel; a paused client side stays paused.
		return
	}
	p.buf = p.buf[:0]
	p.state = stResync
}

// cutHead handles a header section cut by a loss of lost bytes or by the end of the stream. Once the start line is
// complete the message is delivered, Incomplete, with the fields that arrived whole, and takes its place in the
// pairing queue, so that the responses after it stay paired with the right requests; otherwise its bytes are
// skipped.
func (p *parser) cutHead(lost int64) {
	if !p.lineDone {
		p.stats().Skipped += int64(len(p.buf))
		p.stats().Malformed++
		p.msg = nil
		return
	}
	// Drop the partial last line: it could read as a wrong field.
	if i := bytes.LastIndexByte(p.buf, '\n'); i >= 0 {
		p.buf = p.buf[:i+1]
	}
	_ = p.parseHead() // the start line was validated when it arrived
	m := p.msg
	m.AddLost(lost)
	if m.Kind == httpmsg.KindRequest {
		p.c.pushPending(m)
	} else if m.Status >= 200 || m.Status == 101 {
		p.req = p.c.popPending()
	}
	p.finish(true)
}

// resync looks for a start line. Candidates are whole lines (so the first line after a gap is considered too, in
// case the gap ended at a message boundary) and start lines glued to the end of a line, as findStart describes.
// Only the last maxLine bytes of a long line are kept, which is enough for any start line mcpscope cares about.
func (p *parser) resync(data []byte) int {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		p.keepTail(data)
		p.pos += int64(len(data))
		return len(data)
	}
	p.keepTail(data[:i])
	p.pos += int64(i + 1)
	p.endResyncLine()
	return i + 1
}

// endResyncLine examines the candidate line in buf, whose '\n' is the byte before p.pos: either a message starts
// in it, or it is skipped.
func (p *parser) endResyncLine() {
	line := bytes.TrimSuffix(p.buf, []byte("\r"))
	at := findStart(line, p.response)
	if at < 0 {
		p.stats().Skipped += int64(len(p.buf)) + 1
		p.buf = p.buf[:0]
		return
	}
	lineStartOff := p.pos - 1 - int64(len(p.buf))
	p.stats().Skipped += int64(at)
	startLine := append([]byte(nil), p.buf[at:]...)
	p.open(lineStartOff + int64(at))
	p.buf = append(append(p.buf, startLine...), '\n')
	p.lineDone = true
}

// keepTail appends b to the candidate line, dropping (and counting) all but the last maxLine bytes.
func (p *parser) keepTail(b []byte) {
	if len(b) >= maxLine {
		p.stats().Skipped += int64(len(p.buf) + len(b) - maxLine)
		p.buf = append(p.buf[:0], b[len(b)-maxLine:]...)
		return
	}
	if over := len(p.buf) + len(b) - maxLine; over > 0 {
		p.stats().Skipped += int64(over)
		copy(p.buf, p.buf[over:])
		p.buf = p.buf[:len(p.buf)-over]
	}
	p.buf = append(p.buf, b...)
}

// pause holds client bytes after an Upgrade or CONNECT request until the response decides. If the response does
// not come before MaxHeaderBytes are held, the client is assumed to have switched.
func (p *parser) pause(data []byte) int {
	p.pos += int64(len(data))
	if len(p.held)+len(data) > p.c.cfg.MaxHeaderBytes {
		p.stats().Tunneled += int64(len(p.held) + len(data))
		p.held = nil
		p.state = stTunnel
		return len(data)
	}
	p.held = append(p.held, data...)
	return len(data)
}

// close ends the direction.
func (p *parser) close() {
	switch p.state {
	case stUntilClose:
		p.finish(false)
	case stBody, stChunkSize, stChunkData, stChunkEnd, stTrailer:
		p.finish(true)
	case stHead:
		p.cutHead(0)
	case stResync:
		p.stats().Skipped += int64(len(p.buf))
	case stPaused:
		p.stats().Skipped += int64(len(p.held))
		p.held = nil
	}
	p.buf = nil
	p.state = stStart
}
