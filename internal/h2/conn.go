package h2

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/sse"
)

// Preface is the client connection preface (RFC 9113 §3.4).
const Preface = http2.ClientPreface

// LooksLikePreface reports whether b starts the HTTP/2 client preface (or is a prefix of it).
func LooksLikePreface(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if len(b) > len(Preface) {
		b = b[:len(Preface)]
	}
	return string(b) == Preface[:len(b)]
}

// LooksLikeServerPreface reports whether b starts with the server connection preface: a SETTINGS frame that is not
// an acknowledgement, on stream 0 (RFC 9113 §3.4). A server may send it before it has read the client's preface,
// so it can be the first byte of a connection that capture sees.
func LooksLikeServerPreface(b []byte) bool {
	if len(b) < frameHeaderLen {
		return false
	}
	length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	return http2.FrameType(b[3]) == http2.FrameSettings && b[4] == 0 && binary.BigEndian.Uint32(b[5:9]) == 0 &&
		length%6 == 0 && length <= 6*maxSettings
}

// LooksLikeFrame reports whether b starts with a plausible frame header (RFC 9113 §4.1, §6): the first bytes capture
// sees of a connection that began before it, where HTTP/2 carries no other marker. A known type with only its
// flags, a stream where the type needs one and none where it must not, the fixed lengths, the reserved bit clear.
// PRIORITY, PUSH_PROMISE and CONTINUATION frames, which hardly ever come first after a pause, are not accepted. (The
// kernel's looks_like_h2_frame in c/tls.c is the same test.)
func LooksLikeFrame(b []byte) bool {
	if len(b) < frameHeaderLen || b[5]&0x80 != 0 {
		return false
	}
	length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	flags := b[4]
	stream := binary.BigEndian.Uint32(b[5:9])
	switch http2.FrameType(b[3]) {
	case http2.FrameData:
		return stream != 0 && flags&^0x09 == 0
	case http2.FrameHeaders:
		return stream != 0 && flags&^0x2d == 0 && length > 0
	case http2.FrameRSTStream:
		return stream != 0 && flags == 0 && length == 4
	case http2.FrameSettings:
		return stream == 0 && flags&^0x01 == 0 && length%6 == 0
	case http2.FramePing:
		return stream == 0 && flags&^0x01 == 0 && length == 8
	case http2.FrameGoAway:
		return stream == 0 && flags == 0 && length >= 8
	case http2.FrameWindowUpdate:
		return flags == 0 && length == 4
	}
	return false
}

// FrameSender tells which end of a connection wrote b, when b starts with whole frames (LooksLikeFrame) of which one
// is a HEADERS frame whose header block holds a pseudo-header that can be decoded without the HPACK dynamic table
// built before capture (it names them from the static table): :authority, :method, :path or :scheme come in a
// request, :status in a response. (A client's first field is often its :authority from the dynamic table; :method
// POST follows as a static entry.) ok is false when b does not tell.
func FrameSender(b []byte) (client, ok bool) {
	for LooksLikeFrame(b) && http2.FrameType(b[3]) != http2.FrameHeaders { // a WINDOW_UPDATE before a request
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if len(b) < frameHeaderLen+length {
			return false, false
		}
		b = b[frameHeaderLen+length:]
	}
	if !LooksLikeFrame(b) || http2.FrameType(b[3]) != http2.FrameHeaders {
		return false, false
	}
	length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	flags := http2.Flags(b[4])
	p := b[frameHeaderLen:min(len(b), frameHeaderLen+length)]
	if flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 || int(p[0]) >= len(p) {
			return false, false
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if flags.Has(http2.FlagHeadersPriority) {
		if len(p) < 5 {
			return false, false
		}
		p = p[5:]
	}
	var d partialDecoder
	fields, _, err := d.decode(p)
	if err != nil {
		return false, false
	}
	for _, f := range fields {
		switch f.Name {
		case ":authority", ":method", ":path", ":scheme":
			return true, true
		case ":status":
			return false, true
		}
	}
	return false, false
}

// maxSettings bounds the parameters a server preface plausibly sends (RFC 9113 defines 6, extensions a few more).
const maxSettings = 16

// Dir is the direction of a byte stream within a connection.
type Dir = httpmsg.Dir

const (
	// ClientToServer carries the preface and requests.
	ClientToServer = httpmsg.ClientToServer
	// ServerToClient carries responses.
	ServerToClient = httpmsg.ServerToClient
)

// Config bounds a Conn. The zero value means the defaults.
type Config struct {
	// MaxHeaderBytes caps a header block (HEADERS plus CONTINUATION fragments, compressed). A longer block is not
	// decoded, which leaves the header compression state unknown from then on. Default 256 KiB.
	MaxHeaderBytes int
	// MaxBody caps the decoded body kept per message; the excess is counted. Default 64 MiB.
	MaxBody int64
	// MaxConnBody caps the body bytes held at once by all the open streams of the connection (HTTP/2 multiplexes,
	// so MaxBody alone would allow MaxStreams of them); beyond it, further body bytes of open streams are counted
	// as excess, not kept. Default 256 MiB: four maximal bodies at once.
	MaxConnBody int64
	// MaxStreams caps the streams tracked at once; the oldest is delivered incomplete and forgotten. Default 1024.
	MaxStreams int
	// MidStream says capture started after the connection did: frame boundaries are searched for and header
	// blocks are decoded only as far as they can be without the HPACK dynamic table's earlier entries. A first
	// chunk beyond offset 0 is treated so too, its predecessors counted as lost.
	MidStream bool
	// SSE bounds the parser of text/event-stream responses.
	SSE sse.Config
}

const (
	defaultMaxHeaderBytes = 256 << 10
	defaultMaxBody        = 64 << 20
	defaultMaxConnBody    = 256 << 20
	defaultMaxStreams     = 1024
	frameHeaderLen        = 9
	// resyncMaxFrame is the largest frame length resynchronisation accepts: the default SETTINGS_MAX_FRAME_SIZE,
	// which is what peers send unless they raised it.
	resyncMaxFrame = 16384
	// resyncWindow bounds the bytes held while looking for frame boundaries.
	resyncWindow = 4 * (resyncMaxFrame + frameHeaderLen)
	// maxTable caps the HPACK dynamic table a peer may ask for.
	maxTable = 1 << 20
)

// Stats counts what a Conn saw, both directions together.
type Stats struct {
	Frames    int64 // frames parsed
	Requests  int64 // requests delivered
	Responses int64 // final responses delivered
	Interim   int64 // 1xx responses
	SSEEvents int64 // events delivered from text/event-stream bodies
	Truncated int64 // messages delivered with Truncated set

	Resets      int64 // RST_STREAM frames
	GoAways     int64 // GOAWAY frames
	Pushes      int64 // PUSH_PROMISE frames (decoded to keep HPACK in step, otherwise ignored)
	FrameErrors int64 // frames the framer rejected, or out of sequence (a CONTINUATION without its HEADERS)
	HPACKErrors int64 // header blocks that failed to decode
	Unknown     int64 // header blocks not decoded because the compression state is unknown
	Overflow    int64 // header blocks beyond MaxHeaderBytes
	BodyExcess  int64 // decoded body bytes beyond MaxBody
	DecodeErr   int64 // bodies whose Content-Encoding could not be decoded
	Evicted     int64 // streams forgotten past MaxStreams

	Skipped   int64 // bytes skipped: a preface that was not one, searching frame boundaries, damaged frames
	Lost      int64 // bytes capture could not deliver (offset gaps)
	Duplicate int64 // bytes at offsets already fed

	SSE sse.Stats // summed over the streamed responses that ended
}

// Conn parses both directions of one HTTP/2 connection.
//
// Feed bytes with [Conn.Feed] as they are captured; events are delivered synchronously to the function given to
// [NewConn]. A Conn is not safe for concurrent use.
type Conn struct {
	cfg     Config
	emit    func(httpmsg.Event)
	sides   [2]side
	streams map[uint32]*stream
	held    int64 // body buffer capacity held by open streams, at most about MaxConnBody
	stats   Stats

	maxClientStream uint32 // the highest stream the client's direction sent HEADERS or DATA on
}

// side is one direction.
type side struct {
	c   *Conn
	dir Dir

	started bool
	pos     int64
	t       time.Time

	preface   int  // client: preface bytes still expected
	resync    bool // searching for a frame boundary
	restarted bool // the next gap is a loss of unknown length (Conn.Restart)
	lostAny   bool // capture lost bytes of this direction
	buf       []byte

	// skip counts the rest of a frame damaged by a gap; skipHdr is its header.
	skip    int64
	skipHdr http2.FrameHeader

	dec     *hpack.Decoder
	unknown bool           // the HPACK dynamic table is not fully known: blocks go to partial, not dec
	partial partialDecoder // decodes what can be decoded exactly once unknown is set

	// header block being assembled (HEADERS or PUSH_PROMISE plus CONTINUATION)
	inBlock     bool
	blockStream uint32
	blockEnd    bool // the HEADERS frame had END_STREAM
	blockPush   bool
	blockOver   bool
	block       []byte

	src    frameSource
	framer *http2.Framer

	// frameStart and frameEnd are the stream offsets of the frame being handled.
	frameStart, frameEnd int64
}

// stream is one HTTP/2 stream's exchange.
type stream struct {
	id   uint32
	req  *body
	resp *body

	// respHeld is set when the response ended while its request was still arriving: it is delivered, at respEnd,
	// once the request is. A client's write can be reported after the server's answer to it (its thread descheduled
	// between its write and the report), and a server may answer before it read the whole body; either way the
	// exchange leaves request first, whole.
	respHeld bool
	respEnd  int64
}

// body is a message being received.
type body struct {
	msg      *httpmsg.Message
	done     bool
	gzip     bool
	gzBroken bool
	comp     []byte
	held     int64 // capacity of msg.Body and comp, charged to Conn.held
	events   *sse.Parser
	sniffed  bool
	reqOf    *httpmsg.Message // responses: the request
	// announced is the content-length header, if any: DATA frames carry no length of their own.
	announced int64
}

// frameSource hands the framer exactly one complete frame: frames are cut from the captured bytes here, so the
// framer never sees a partial frame (it cannot resume one) and needs no goroutine or pipe.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// NewConn returns a Conn delivering events to emit. emit owns each Event; the Message of a streamed response is
// the same pointer from its EventStreamStart to its EventResponse and is updated in between.
func NewConn(cfg Config, emit func(httpmsg.Event)) *Conn {
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = defaultMaxBody
	}
	if cfg.MaxConnBody <= 0 {
		cfg.MaxConnBody = defaultMaxConnBody
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = defaultMaxStreams
	}
	c := &Conn{cfg: cfg, emit: emit, streams: make(map[uint32]*stream)}
	for d := range c.sides {
		s := &c.sides[d]
		s.c, s.dir = c, Dir(d)
		// 4096 is the initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2); a SETTINGS frame from the other side
		// raises what the encoder may use.
		s.dec = hpack.NewDecoder(4096, nil)
		s.dec.SetMaxStringLength(cfg.MaxHeaderBytes)
		s.partial.maxStr = cfg.MaxHeaderBytes
		s.framer = http2.NewFramer(io.Discard, &s.src)
		// Capture may start anywhere: ordering rules (CONTINUATION after HEADERS) are checked here, not by the
		// framer, which would otherwise reject every frame after one unexpected CONTINUATION.
		s.framer.AllowIllegalReads = true
		s.framer.SetMaxReadFrameSize(1<<24 - 1)
		// A frame is handled before the next is read, so the framer may recycle frame structs.
		s.framer.SetReuseFrames()
		if Dir(d) == ClientToServer {
			s.preface = len(Preface)
		}
	}
	return c
}

// AwaitsRequest tells whether b, the next bytes of the server's direction, hold a HEADERS frame on a client stream
// newer than any the client's direction has sent on: an answer whose request has not been parsed yet, because
// capture reported the client's write late. A caller that can hold b back a moment pairs them. b is walked frame by
// frame from where the parser expects the next frame to start (past the rest of a frame begun in earlier bytes):
// a server answering two streams in one write, or a chunk that ends inside a frame, still tells. Bytes whose
// frame boundaries the parser does not know (before the preface, while it searches for a frame after a loss, inside
// a header block) do not tell.
func (c *Conn) AwaitsRequest(b []byte) bool {
	s := &c.sides[ServerToClient]
	if s.preface > 0 || s.resync || s.inBlock {
		return false
	}
	next := int64(0) // where the next frame starts in b
	switch {
	case s.skip > 0:
		next = s.skip
	case len(s.buf) >= frameHeaderLen:
		next = int64(frameHeaderLen + frameLen(s.buf) - len(s.buf))
	case len(s.buf) > 0:
		have := len(s.buf)
		if len(b) < frameHeaderLen-have {
			return false
		}
		hdr := append(s.buf[:have:have], b[:frameHeaderLen-have]...)
		if !LooksLikeFrame(hdr) {
			return false
		}
		if awaited(hdr, c.maxClientStream) {
			return true
		}
		next = int64(frameHeaderLen + frameLen(hdr) - have)
	}
	for next+frameHeaderLen <= int64(len(b)) {
		hdr := b[next : next+frameHeaderLen]
		if !LooksLikeFrame(hdr) {
			return false
		}
		if awaited(hdr, c.maxClientStream) {
			return true
		}
		next += int64(frameHeaderLen + frameLen(hdr))
	}
	return false
}

// awaited tells whether the frame header hdr is a HEADERS frame on a client stream newer than maxClient.
func awaited(hdr []byte, maxClient uint32) bool {
	if http2.FrameType(hdr[3]) != http2.FrameHeaders {
		return false
	}
	id := binary.BigEndian.Uint32(hdr[5:9]) & 0x7fffffff
	return id%2 == 1 && id > maxClient
}

// Stats returns the counters.
func (c *Conn) Stats() Stats { return c.stats }

// Feed parses data, the bytes of direction dir starting at stream offset off, captured at t.
//
// Chunks of a direction must come in offset order. A chunk starting beyond the previous one's end declares the
// bytes in between lost. A loss inside one frame damages only that frame (and its stream's message, marked
// truncated); a loss across frames makes the parser search for the next frame boundary, and from then on that
// direction's header blocks are decoded only partially, since lost HEADERS frames changed the compression state.
// Offsets count from the first byte capture saw in the direction: a first chunk beyond offset 0 follows a loss.
// A connection open before capture began starts at offset 0 mid-frame: set Config.MidStream.
func (c *Conn) Feed(dir Dir, off int64, data []byte, t time.Time) {
	if dir > ServerToClient {
		return
	}
	s := &c.sides[dir]
	if !s.started {
		s.started = true
		if c.cfg.MidStream {
			s.preface = 0
			s.resync = true
			s.unknown = true
		}
		// A first chunk beyond offset 0 falls through to the gap below: its predecessors were lost.
	}
	if off < s.pos {
		dup := s.pos - off
		if dup >= int64(len(data)) {
			c.stats.Duplicate += int64(len(data))
			return
		}
		c.stats.Duplicate += dup
		data = data[dup:]
		off = s.pos
	}
	s.t = t
	if off > s.pos {
		s.gap(off - s.pos)
		s.pos = off
	}
	s.feed(data)
}

// Restart declares that the bytes of direction dir fed next do not continue those fed before: capture lost some,
// how many is unknown (the kernel restarted the stream), and the next chunk's offset leaves a gap of at least one
// byte. No frame length can be trusted across it: the parser searches the next frame boundary, and the bodies in
// progress are marked truncated.
func (c *Conn) Restart(dir Dir) {
	if dir <= ServerToClient {
		c.sides[dir].restarted = true
	}
}

// Close ends the connection: messages in progress are delivered incomplete.
func (c *Conn) Close(t time.Time) {
	for d := range c.sides {
		c.sides[d].t = t
	}
	for _, id := range c.streamIDs() {
		c.endStream(c.streams[id], true)
	}
}

func (c *Conn) streamIDs() []uint32 {
	ids := make([]uint32, 0, len(c.streams))
	for id := range c.streams {
		ids = append(ids, id)
	}
	// Deliver in stream order: lower ids were opened first.
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

func (s *side) feed(data []byte) {
	for len(data) > 0 {
		n := s.step(data)
		s.pos += int64(n)
		data = data[n:]
	}
}

// step consumes some of data and returns how much.
func (s *side) step(data []byte) int {
	c := s.c
	switch {
	case s.preface > 0:
		done := len(Preface) - s.preface
		n := min(s.preface, len(data))
		if string(data[:n]) != Preface[done:done+n] {
			// Not a preface: capture joined late, or this is not HTTP/2 at all.
			c.stats.Skipped += int64(done)
			s.preface = 0
			s.resync = true
			s.unknown = true
			return 0
		}
		s.preface -= n
		return n
	case s.skip > 0:
		n := int(min(s.skip, int64(len(data))))
		s.skip -= int64(n)
		c.stats.Skipped += int64(n)
		if s.skip == 0 {
			s.frameEnd = s.pos + int64(n)
			s.damagedFrameEnd()
		}
		return n
	case s.resync:
		return s.findFrame(data)
	}
	// Whole frames straight from data when nothing is buffered, so large DATA frames are copied once, by the framer.
	if len(s.buf) == 0 && len(data) >= frameHeaderLen {
		if l := frameLen(data); len(data) >= frameHeaderLen+l {
			s.frameStart, s.frameEnd = s.pos, s.pos+int64(frameHeaderLen+l)
			s.frame(data[:frameHeaderLen+l])
			return frameHeaderLen + l
		}
	}
	need := frameHeaderLen
	if len(s.buf) >= frameHeaderLen {
		need += frameLen(s.buf)
	}
	n := min(need-len(s.buf), len(data))
	s.buf = append(s.buf, data[:n]...)
	if len(s.buf) == frameHeaderLen {
		need += frameLen(s.buf)
		m := min(need-len(s.buf), len(data)-n)
		s.buf = append(s.buf, data[n:n+m]...)
		n += m
	}
	if len(s.buf) == need {
		s.frameEnd = s.pos + int64(n)
		s.frameStart = s.frameEnd - int64(need)
		s.frame(s.buf)
		s.buf = s.buf[:0]
		if cap(s.buf) > 64<<10 {
			s.buf = nil
		}
	}
	return n
}

func frameLen(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

func parseHeader(b []byte) http2.FrameHeader {
	return http2.FrameHeader{
		Length:   uint32(frameLen(b)),
		Type:     http2.FrameType(b[3]),
		Flags:    http2.Flags(b[4]),
		StreamID: binary.BigEndian.Uint32(b[5:9]) & (1<<31 - 1),
	}
}

// plausible reports whether b (9 bytes) could be a frame header: a known type with flags, length and stream id
// that type allows, and the reserved bit clear. Used only to find frame boundaries.
func plausible(b []byte) bool {
	if b[5]&0x80 != 0 {
		return false
	}
	h := parseHeader(b)
	if h.Length > resyncMaxFrame {
		return false
	}
	sid, l, f := h.StreamID, h.Length, h.Flags
	switch h.Type {
	case http2.FrameData:
		return sid != 0 && f&^(0x1|0x8) == 0
	case http2.FrameHeaders:
		return sid != 0 && f&^(0x1|0x4|0x8|0x20) == 0 && l > 0
	case http2.FramePriority:
		return sid != 0 && f == 0 && l == 5
	case http2.FrameRSTStream:
		return sid != 0 && f == 0 && l == 4
	case http2.FrameSettings:
		return sid == 0 && ((f == 0 && l%6 == 0) || (f == 1 && l == 0))
	case http2.FramePushPromise:
		return sid != 0 && f&^(0x4|0x8) == 0 && l >= 4
	case http2.FramePing:
		return sid == 0 && f&^0x1 == 0 && l == 8
	case http2.FrameGoAway:
		return sid == 0 && f == 0 && l >= 8
	case http2.FrameWindowUpdate:
		return f == 0 && l == 4
	case http2.FrameContinuation:
		return sid != 0 && f&^0x4 == 0
	}
	return false
}

// findFrame buffers bytes until it finds a plausible frame header followed by another plausible one (or by the
// end of the buffered bytes exactly at a frame end, if more than resyncWindow is pending). What precedes is
// skipped and counted.
func (s *side) findFrame(data []byte) int {
	n := min(len(data), resyncWindow-len(s.buf))
	s.buf = append(s.buf, data[:n]...)
	b := s.buf
	for i := 0; i+frameHeaderLen <= len(b); i++ {
		if !plausible(b[i:]) {
			continue
		}
		next := i + frameHeaderLen + frameLen(b[i:])
		if next+frameHeaderLen > len(b) {
			if len(b) < resyncWindow {
				// Wait for the next header before deciding; skip what certainly is not a frame start.
				s.c.stats.Skipped += int64(i)
				s.buf = append(s.buf[:0], b[i:]...)
				return n
			}
			continue
		}
		if !plausible(b[next:]) {
			continue
		}
		s.c.stats.Skipped += int64(i)
		s.resync = false
		rest := append([]byte(nil), b[i:]...)
		s.buf = s.buf[:0]
		// The bytes already counted in pos by this step are re-fed from the frame start.
		s.pos -= int64(len(rest) - n)
		s.feed(rest)
		s.pos -= int64(n)
		return n
	}
	// Nothing yet: keep the last bytes, in which a header may still begin.
	keep := frameHeaderLen - 1
	if len(b) > keep {
		s.c.stats.Skipped += int64(len(b) - keep)
		s.buf = append(s.buf[:0], b[len(b)-keep:]...)
	}
	return n
}

// gap accounts for n lost bytes at s.pos.
func (s *side) gap(n int64) {
	c := s.c
	c.stats.Lost += n
	s.lostAny = true
	if s.restarted {
		// How many bytes were lost is unknown: no frame's length can be trusted to find the next one.
		s.restarted = false
		if s.skip > 0 {
			s.damagedFrameLost(n)
			s.skip = 0
		}
		s.lostFrames()
		return
	}
	if s.skip > 0 {
		if n < s.skip {
			s.skip -= n
			s.damagedFrameLost(n)
			return
		}
		s.frameEnd = s.pos + s.skip
		n -= s.skip
		s.damagedFrameLost(s.skip)
		s.skip = 0
		s.damagedFrameEnd()
		if n == 0 {
			return
		}
	}
	if !s.resync && s.preface == 0 && len(s.buf) >= frameHeaderLen {
		h := parseHeader(s.buf)
		rest := int64(frameHeaderLen) + int64(h.Length) - int64(len(s.buf))
		if n <= rest {
			// The loss is inside this frame: drop the frame, keep the framing.
			c.stats.Skipped += int64(len(s.buf))
			s.buf = s.buf[:0]
			s.skipHdr = h
			s.skip = rest - n
			s.damagedFrameLost(n)
			if s.skip == 0 {
				s.frameEnd = s.pos + n
				s.damagedFrameEnd()
			}
			return
		}
	}
	s.lostFrames()
}

// lostFrames handles a loss that may have taken frames whole: it searches the next frame boundary, stops trusting
// the header compression state, and marks every body in progress truncated.
func (s *side) lostFrames() {
	c := s.c
	c.stats.Skipped += int64(len(s.buf))
	s.buf = s.buf[:0]
	s.preface = 0
	s.resync = true
	s.loseTable()
	s.inBlock = false
	s.block = nil
	for _, st := range c.streams {
		if b := s.bodyOf(st); b != nil && !b.done {
			b.msg.Truncated = true
			if b.events != nil {
				// Its next DATA may not continue the event in progress.
				b.events.Gap(0)
			}
			b.gzBroken = b.gzBroken || b.gzip
		}
	}
}

// damagedFrameLost charges lost bytes of the frame being skipped to its stream.
func (s *side) damagedFrameLost(n int64) {
	h := s.skipHdr
	switch h.Type {
	case http2.FrameData:
		if st := s.c.streams[h.StreamID]; st != nil {
			if b := s.bodyOf(st); b != nil {
				b.msg.AddLost(n)
				if b.events != nil {
					b.events.Gap(n)
				}
				b.gzBroken = b.gzBroken || b.gzip
			}
		}
	case http2.FrameHeaders, http2.FrameContinuation, http2.FramePushPromise:
		// A header block was damaged: the compression state can no longer be followed.
		s.loseTable()
		s.inBlock = false
		s.block = nil
	}
}

// damagedFrameEnd applies what the damaged frame's header says, once its bytes are past.
func (s *side) damagedFrameEnd() {
	h := s.skipHdr
	s.skipHdr = http2.FrameHeader{}
	if h.Type == http2.FrameData || h.Type == http2.FrameHeaders {
		if h.Type == http2.FrameData {
			if st := s.c.streams[h.StreamID]; st != nil {
				if b := s.bodyOf(st); b != nil {
					b.msg.Truncated = true
				}
			}
		}
		if h.Flags.Has(http2.FlagDataEndStream) {
			st := s.c.getStream(h.StreamID)
			b := s.open(st)
			b.msg.Truncated = true
			s.finishBody(st, b, false)
		}
	}
}

func (s *side) bodyOf(st *stream) *body {
	if s.dir == ClientToServer {
		return st.req
	}
	return st.resp
}

// frame handles one complete frame.
func (s *side) frame(raw []byte) {
	c := s.c
	c.stats.Frames++
	s.src.b = raw
	f, err := s.framer.ReadFrame()
	s.src.b = nil
	h := parseHeader(raw)
	if s.dir == ClientToServer && (h.Type == http2.FrameHeaders || h.Type == http2.FrameData) {
		c.maxClientStream = max(c.maxClientStream, h.StreamID)
	}
	if s.inBlock && h.Type != http2.FrameContinuation {
		// RFC 9113 §6.10: nothing may interleave a header block. The block is lost, and with it the table state.
		c.stats.FrameErrors++
		s.abandonBlock()
	}
	if err != nil {
		c.stats.FrameErrors++
		switch h.Type {
		case http2.FrameHeaders, http2.FrameContinuation, http2.FramePushPromise:
			s.abandonBlock()
		}
		return
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		st := c.getStream(f.StreamID)
		b := s.open(st)
		s.data(b, f.Data())
		if f.StreamEnded() {
			s.finishBody(st, b, false)
		}
	case *http2.HeadersFrame:
		s.startBlock(f.StreamID, f.StreamEnded(), false, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.PushPromiseFrame:
		c.stats.Pushes++
		s.startBlock(f.StreamID, false, true, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.ContinuationFrame:
		if !s.inBlock || f.StreamID != s.blockStream {
			// Capture joined inside a header block, or a protocol error: the block cannot be decoded.
			c.stats.FrameErrors++
			s.loseTable()
			return
		}
		s.appendBlock(f.HeaderBlockFragment())
		if f.HeadersEnded() {
			s.endBlock()
		}
	case *http2.RSTStreamFrame:
		c.stats.Resets++
		if st := c.streams[f.StreamID]; st != nil {
			c.endStream(st, true)
		}
	case *http2.SettingsFrame:
		if f.IsAck() {
			return
		}
		if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
			// This side's decoder limit governs the other side's encoder. Capped so that a hostile peer cannot make
			// the monitor keep gigabytes of table; real encoders use 4 KiB to 64 KiB.
			other := &c.sides[1-s.dir]
			other.dec.SetAllowedMaxDynamicTableSize(min(v, maxTable))
		}
	case *http2.GoAwayFrame:
		c.stats.GoAways++
	}
}

func (s *side) startBlock(id uint32, endStream, push bool, frag []byte, ended bool) {
	s.inBlock = true
	s.blockStream, s.blockEnd, s.blockPush, s.blockOver = id, endStream, push, false
	s.block = s.block[:0]
	s.appendBlock(frag)
	if ended {
		s.endBlock()
	}
}

func (s *side) appendBlock(frag []byte) {
	if s.blockOver {
		return
	}
	if len(s.block)+len(frag) > s.c.cfg.MaxHeaderBytes {
		s.blockOver = true
		s.block = nil
		return
	}
	s.block = append(s.block, frag...)
}

// loseTable records that header blocks were missed: from now on blocks are decoded only as far as partial can.
func (s *side) loseTable() {
	s.unknown = true
	s.partial.reset()
}

func (s *side) abandonBlock() {
	if s.inBlock {
		s.loseTable()
	}
	s.inBlock = false
	s.block = nil
}

// endBlock decodes a complete header block and applies it to its stream.
func (s *side) endBlock() {
	c := s.c
	s.inBlock = false
	var fields []hpack.HeaderField
	known := false
	switch {
	case s.blockOver:
		c.stats.Overflow++
		s.loseTable()
	case s.unknown:
		var err error
		fields, known, err = s.partial.decode(s.block)
		if err != nil {
			c.stats.HPACKErrors++
			s.loseTable()
		}
		if !known {
			c.stats.Unknown++
		}
	default:
		var err error
		fields, err = s.dec.DecodeFull(s.block)
		if err != nil {
			c.stats.HPACKErrors++
			s.loseTable()
			fields = nil
		} else {
			known = true
		}
	}
	if cap(s.block) > 64<<10 {
		s.block = nil
	}
	if s.blockPush {
		return
	}
	st := c.getStream(s.blockStream)
	b := s.bodyOf(st)
	if b != nil && !b.done {
		// A second block on an open message: trailers.
		b.msg.Trailers = toHeaders(fields)
		if s.blockEnd {
			s.finishBody(st, b, false)
		}
		return
	}
	m := s.newMessage(st)
	s.applyHeaders(m, fields)
	m.HeadersUnknown = !known
	if m.Kind == httpmsg.KindResponse && m.Status >= 100 && m.Status < 200 {
		c.stats.Interim++
		m.EndOffset, m.LastTime = s.frameEnd, s.t
		var req *httpmsg.Message
		if st.req != nil {
			req = st.req.msg
		}
		c.emit(httpmsg.Event{Kind: httpmsg.EventInterim, Exchange: httpmsg.Exchange{Request: req, Response: m}})
		return
	}
	nb := s.attach(st, m)
	if m.Kind == httpmsg.KindResponse && m.IsEventStream() && m.Status < 300 {
		s.startEvents(nb)
	}
	if s.blockEnd {
		s.finishBody(st, nb, false)
	}
}

func toHeaders(fields []hpack.HeaderField) httpmsg.Headers {
	if fields == nil {
		return nil
	}
	hs := make(httpmsg.Headers, len(fields))
	for i, f := range fields {
		hs[i] = httpmsg.Header{Name: f.Name, Value: f.Value}
	}
	return hs
}

func (s *side) applyHeaders(m *httpmsg.Message, fields []hpack.HeaderField) {
	m.Headers = toHeaders(fields)
	for _, f := range fields {
		switch f.Name {
		case ":method":
			m.Method = f.Value
		case ":path":
			m.SetTarget(f.Value)
		case ":authority":
			m.Host = f.Value
		case ":status":
			if n, err := strconv.Atoi(f.Value); err == nil && n >= 100 && n <= 999 {
				m.Status = n
			}
		}
	}
	if m.Host == "" {
		m.Host = m.Headers.Get("host")
	}
	m.ContentType = httpmsg.MediaType(m.Headers.Get("content-type"))
	m.ContentEncoding = m.Headers.Get("content-encoding")
	m.ExtractMCP()
}

// newMessage starts a message on this side of st, at the current frame.
func (s *side) newMessage(st *stream) *httpmsg.Message {
	kind := httpmsg.KindRequest
	if s.dir == ServerToClient {
		kind = httpmsg.KindResponse
	}
	return &httpmsg.Message{
		Kind: kind, Proto: "HTTP/2", StreamID: st.id,
		FirstOffset: s.frameStart, EndOffset: s.frameEnd, FirstTime: s.t, LastTime: s.t,
	}
}

func (s *side) attach(st *stream, m *httpmsg.Message) *body {
	b := &body{msg: m}
	if n, err := strconv.ParseInt(m.Headers.Get("content-length"), 10, 64); err == nil && n > 0 {
		b.announced = n
	}
	switch strings.ToLower(strings.TrimSpace(m.ContentEncoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		b.gzip = true
	default:
		m.DecodeError = "unsupported content-encoding " + strconv.Quote(m.ContentEncoding)
	}
	if s.dir == ClientToServer {
		st.req = b
	} else {
		st.resp = b
		if st.req != nil {
			b.reqOf = st.req.msg
		}
	}
	return b
}

// open returns the message this side is receiving on st, creating one with unknown headers for a stream whose
// HEADERS were not seen.
func (s *side) open(st *stream) *body {
	if b := s.bodyOf(st); b != nil && !b.done {
		return b
	}
	m := s.newMessage(st)
	m.HeadersUnknown = true
	m.Truncated = true
	// Joined mid-stream with nothing lost since: the stream was open before capture. After a loss, its HEADERS
	// may be among the lost bytes.
	m.BeganBeforeCapture = s.c.cfg.MidStream && !s.lostAny
	return s.attach(st, m)
}

func (s *side) startEvents(b *body) {
	b.msg.Streamed = true
	b.events = sse.NewParser(s.c.cfg.SSE)
	s.c.emit(httpmsg.Event{Kind: httpmsg.EventStreamStart, Exchange: httpmsg.Exchange{Request: b.reqOf, Response: b.msg}})
}

// sseLike reports whether a body whose headers are unknown starts like an event stream: a field or comment line.
func sseLike(p []byte) bool {
	for _, f := range []string{"data:", "event:", "id:", "retry:", ":"} {
		n := min(len(f), len(p))
		if n > 0 && string(p[:n]) == f[:n] {
			return true
		}
	}
	return false
}

func (s *side) data(b *body, p []byte) {
	m := b.msg
	m.LastTime = s.t
	m.EndOffset = s.frameEnd
	if !b.sniffed && len(p) > 0 {
		b.sniffed = true
		if m.HeadersUnknown && m.Kind == httpmsg.KindResponse && b.events == nil && sseLike(p) {
			m.ContentType = "text/event-stream"
			s.startEvents(b)
		}
	}
	m.WireSize += int64(len(p))
	switch {
	case b.gzip:
		if b.gzBroken {
			return
		}
		room := min(s.c.cfg.MaxBody-int64(len(b.comp)), s.c.cfg.MaxConnBody-s.c.held)
		if int64(len(p)) > room {
			m.Truncated = true
			b.gzBroken = true
			p = p[:max(room, 0)]
		}
		b.comp = append(b.comp, p...)
		s.c.charge(b)
	case b.events != nil:
		m.BodySize += int64(len(p))
		b.events.Feed(p, func(ev *sse.Event) {
			s.c.stats.SSEEvents++
			e := httpmsg.SSEEvent(b.reqOf, m, ev)
			e.WireEnd = s.frameEnd
			s.c.emit(e)
		})
	default:
		limit := min(s.c.cfg.MaxBody, int64(len(m.Body))+max(s.c.cfg.MaxConnBody-s.c.held, 0))
		m.ReserveBody(b.announced, limit, len(p))
		before := m.BodyExcess
		m.AppendBody(p, limit)
		s.c.stats.BodyExcess += m.BodyExcess - before
		s.c.charge(b)
	}
}

// charge updates the connection's account of body buffers after b's grew.
func (c *Conn) charge(b *body) {
	now := int64(cap(b.msg.Body) + cap(b.comp))
	c.held += now - b.held
	b.held = now
}

// finishBody delivers a message whose END_STREAM arrived (or that was cut, if incomplete), and forgets the stream
// once both of its messages are done.
func (s *side) finishBody(st *stream, b *body, incomplete bool) {
	s.c.deliver(st, b, incomplete, s.frameEnd)
	if (st.req == nil || st.req.done) && (st.resp == nil || st.resp.done) && st.resp != nil {
		delete(s.c.streams, st.id)
	}
}

func (c *Conn) deliver(st *stream, b *body, incomplete bool, end int64) {
	if b == nil || b.done {
		return
	}
	if b == st.resp && !incomplete && st.req != nil && !st.req.done {
		st.respHeld, st.respEnd = true, end
		return
	}
	b.done = true
	m := b.msg
	// The buffers leave with the message.
	c.held -= b.held
	b.held = 0
	if incomplete {
		m.Incomplete, m.Truncated = true, true
	}
	if m.EndOffset < end {
		m.EndOffset = end
	}
	if b.gzip {
		out, excess, err := httpmsg.Gunzip(b.comp, c.cfg.MaxBody)
		b.comp = nil
		if err != nil {
			m.DecodeError = err.Error()
			m.Truncated = true
			if !errors.Is(err, httpmsg.ErrTooLarge) {
				c.stats.DecodeErr++
			}
		}
		m.BodyExcess += excess
		c.stats.BodyExcess += excess
		m.BodySize += int64(len(out)) + excess
		if b.events != nil {
			b.events.Feed(out, func(ev *sse.Event) {
				c.stats.SSEEvents++
				e := httpmsg.SSEEvent(b.reqOf, m, ev)
				e.WireEnd = end
				c.emit(e)
			})
		} else {
			m.Body = out
		}
	}
	if b.events != nil {
		if b.events.Close() {
			m.Truncated = true
		}
		es := b.events.Stats()
		b.events = nil
		c.stats.SSE.Add(es)
		if es.Excess > 0 || es.Lost > 0 {
			m.Truncated = true
		}
	}
	if m.Truncated {
		c.stats.Truncated++
	}
	if m.Kind == httpmsg.KindRequest {
		c.stats.Requests++
		c.emit(httpmsg.Event{Kind: httpmsg.EventRequest, Exchange: httpmsg.Exchange{Request: m}})
		if st.respHeld {
			st.respHeld = false
			c.deliver(st, st.resp, false, st.respEnd)
		}
		return
	}
	c.stats.Responses++
	req := b.reqOf
	if req == nil && st.req != nil {
		req = st.req.msg
	}
	c.emit(httpmsg.Event{Kind: httpmsg.EventResponse, Exchange: httpmsg.Exchange{Request: req, Response: m}})
}

// endStream delivers what st still holds, incomplete if cut, and forgets it.
func (c *Conn) endStream(st *stream, incomplete bool) {
	c.deliver(st, st.req, incomplete, c.sides[ClientToServer].pos)
	c.deliver(st, st.resp, incomplete, c.sides[ServerToClient].pos)
	delete(c.streams, st.id)
}

// getStream returns the stream with id, creating it; past MaxStreams the lowest-numbered (oldest) stream is
// delivered incomplete and forgotten.
func (c *Conn) getStream(id uint32) *stream {
	if st := c.streams[id]; st != nil {
		return st
	}
	if len(c.streams) >= c.cfg.MaxStreams {
		var oldest *stream
		for _, st := range c.streams {
			if oldest == nil || st.id < oldest.id {
				oldest = st
			}
		}
		c.stats.Evicted++
		c.endStream(oldest, true)
	}
	st := &stream{id: id}
	c.streams[id] = st
	return st
}
