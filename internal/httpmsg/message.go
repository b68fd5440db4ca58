package httpmsg

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/internal/sse"
)

// Header is one header field as captured: the name keeps its original spelling (HTTP/2 names are lower case on the
// wire), the value has its surrounding whitespace removed.
type Header struct {
	Name  string
	Value string
}

// Headers is a header section in wire order. Repeated fields stay separate entries.
type Headers []Header

// Get returns the value of the first field named name (compared case-insensitively), or "".
func (h Headers) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of every field named name, in order.
func (h Headers) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Has reports whether a field named name is present.
func (h Headers) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// RedactedValue replaces the value of a secret header in the output of [Redact].
const RedactedValue = "[redacted]"

// sensitive lists the fields whose values are credentials or session identifiers. Mcp-Param-* values (2026-07-28)
// are request arguments copied into headers and are treated the same way.
var sensitive = [...]string{"authorization", "proxy-authorization", "cookie", "set-cookie", "mcp-session-id"}

// IsSensitive reports whether the value of the header named name is redacted by [Redact].
func IsSensitive(name string) bool {
	for _, s := range sensitive {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return len(name) > len("mcp-param-") && strings.EqualFold(name[:len("mcp-param-")], "mcp-param-")
}

// Redact returns a copy of h in which the values of Authorization, Proxy-Authorization, Cookie, Set-Cookie,
// Mcp-Session-Id and Mcp-Param-* fields are replaced by [RedactedValue]. h itself is not modified, so the caller
// can still correlate on the session id.
func Redact(h Headers) Headers {
	if h == nil {
		return nil
	}
	out := make(Headers, len(h))
	for i, f := range h {
		if IsSensitive(f.Name) {
			f.Value = RedactedValue
		}
		out[i] = f
	}
	return out
}

// Redacted is [Redact] as a method.
func (h Headers) Redacted() Headers { return Redact(h) }

// Dir is the direction of a byte stream within a connection.
type Dir uint8

const (
	// ClientToServer carries requests.
	ClientToServer Dir = iota
	// ServerToClient carries responses.
	ServerToClient
)

// String names the sending side: "client" or "server".
func (d Dir) String() string {
	if d == ClientToServer {
		return "client"
	}
	return "server"
}

// Kind says whether a Message is a request or a response.
type Kind uint8

const (
	// KindRequest is a request: Method, Target, Path and Host are set.
	KindRequest Kind = iota + 1
	// KindResponse is a response: Status and Reason are set.
	KindResponse
)

// String returns "request" or "response".
func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MCP holds what MCP puts in HTTP rather than in the JSON-RPC body.
type MCP struct {
	// SessionID is the Mcp-Session-Id header (Streamable HTTP, 2025-03-26 … 2025-11-25).
	SessionID string
	// ProtocolVersion is the MCP-Protocol-Version header (2025-06-18 and later).
	ProtocolVersion string
	// Method and Name are the Mcp-Method and Mcp-Name headers (2026-07-28).
	Method string
	Name   string
	// LegacySessionID is the sessionId query parameter of the legacy HTTP+SSE transport's POST URL
	// (/message?sessionId=…), or of the endpoint URL announced by an `event: endpoint` SSE event.
	LegacySessionID string
	// Endpoint is the URL announced by the legacy transport's `event: endpoint` event; set only on the
	// [EventSSE] that carries it.
	Endpoint string
}

// Session returns the session identifier, whichever transport carried it.
func (m MCP) Session() string {
	if m.SessionID != "" {
		return m.SessionID
	}
	return m.LegacySessionID
}

// Message is one HTTP request or response.
//
// A parser hands a Message over in an [Event] and does not touch it afterwards, with two exceptions: a streamed
// (text/event-stream) response is the same Message from its EventStreamStart to its EventResponse and is updated
// in between, and a request may still be receiving its body when a server answers it early. Parsers and their
// callers run on one goroutine, so this needs no locking.
type Message struct {
	Kind  Kind
	Proto string // "HTTP/1.1", "HTTP/1.0" or "HTTP/2"

	// Requests.
	Method string // as sent, e.g. "POST"
	Target string // the request target as sent (HTTP/2: :path), e.g. "/message?sessionId=abc"
	Path   string // Target without its query
	Host   string // Host header, or :authority

	// Responses.
	Status int
	Reason string // HTTP/1 reason phrase

	// Headers are the fields in wire order; HTTP/2 pseudo-header fields (":method", ":status", …) are included.
	// HeadersUnknown says some fields could not be decoded: an HTTP/2 connection whose capture started after its
	// header compression state was set up, or that lost a header block. Headers then holds only the fields that
	// could be decoded exactly (possibly none), and Method, Path, Status, ContentType and MCP are set only from
	// those ("" or 0 otherwise).
	Headers        Headers
	HeadersUnknown bool
	// Trailers are the fields of a chunked body's trailer section or of an HTTP/2 trailing HEADERS block.
	Trailers Headers

	ContentType     string // media type without parameters, lower case: "application/json", "text/event-stream"
	ContentEncoding string // Content-Encoding as sent; Body is decoded when it was gzip

	// Body is the decoded body (de-chunked, gunzipped), at most the parser's limit. It is nil for a streamed
	// text/event-stream body, whose events are delivered one by one as EventSSE instead.
	Body []byte
	// WireSize counts the body bytes received (after de-chunking, before decompression).
	WireSize int64
	// BodySize counts the decoded body bytes, including those beyond the limit.
	BodySize int64
	// BodyExcess counts decoded body bytes that did not fit in Body; Truncated is set when it is not zero.
	BodyExcess int64
	// DecodeError says why the body could not be decoded (corrupt gzip, unsupported Content-Encoding); Body then
	// holds what could be decoded, or the raw bytes for an unsupported encoding.
	DecodeError string

	// Truncated says Body (or the message as a whole) is not what was sent: bytes were lost in capture, the body
	// exceeded the limit, the connection ended early, or the stream was reset.
	Truncated bool
	// Incomplete says the message ended before its end: the connection closed, the stream was reset, or the parser
	// lost its place after a capture gap. Incomplete implies Truncated.
	Incomplete bool
	// LostBytes counts the bytes of this message that capture could not deliver.
	LostBytes int64
	// BeganBeforeCapture says the message was under way when capture joined its connection (an HTTP/2 stream
	// opened before the probes): its headers and first bytes were never seen, though none was lost. Truncated is
	// set too, since the message is not whole.
	BeganBeforeCapture bool

	// Streamed says the body was delivered as EventSSE events rather than in Body.
	Streamed bool

	// StreamID is the HTTP/2 stream identifier (0 for HTTP/1).
	StreamID uint32

	// FirstOffset and EndOffset delimit the message in its direction's byte stream (EndOffset is one past the last
	// byte). FirstTime and LastTime are the capture times of the chunks holding the first and the last byte.
	FirstOffset, EndOffset int64
	FirstTime, LastTime    time.Time

	MCP MCP
}

// Exchange pairs a response with the request it answers. Request is nil when the request was not seen (capture
// started after it, or it was lost).
type Exchange struct {
	Request  *Message
	Response *Message
}

// ExtractMCP fills m.MCP from the headers and the request target. Parsers call it once the headers are known.
func (m *Message) ExtractMCP() {
	m.MCP.SessionID = m.Headers.Get("Mcp-Session-Id")
	m.MCP.ProtocolVersion = m.Headers.Get("Mcp-Protocol-Version")
	m.MCP.Method = m.Headers.Get("Mcp-Method")
	m.MCP.Name = m.Headers.Get("Mcp-Name")
	if m.Kind == KindRequest {
		m.MCP.LegacySessionID = QuerySessionID(m.Target)
	}
}

// SetTarget sets Target and derives Path from it.
func (m *Message) SetTarget(target string) {
	m.Target = target
	m.Path = target
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		m.Path = target[:i]
	}
}

// QuerySessionID returns the sessionId query parameter of a request target or URL (the legacy HTTP+SSE transport's
// POST URL), or "". The name is matched without regard to case: the TypeScript SDK writes sessionId, the Go SDK
// sessionid.
func QuerySessionID(target string) string {
	i := strings.IndexByte(target, '?')
	if i < 0 {
		return ""
	}
	q := target[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	vals, err := url.ParseQuery(q)
	if err != nil && len(vals) == 0 {
		return ""
	}
	if v := vals.Get("sessionId"); v != "" {
		return v
	}
	for k, v := range vals {
		if strings.EqualFold(k, "sessionId") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// MediaType returns the media type of a Content-Type value: lower case, parameters and whitespace removed.
func MediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.ToLower(strings.TrimSpace(contentType))
}

// IsEventStream reports whether the message's body is a text/event-stream.
func (m *Message) IsEventStream() bool { return m.ContentType == "text/event-stream" }

// AppendBody appends decoded body bytes, keeping at most max bytes in Body and counting the rest in BodyExcess.
func (m *Message) AppendBody(b []byte, max int64) {
	m.BodySize += int64(len(b))
	room := max - int64(len(m.Body))
	if room < 0 {
		room = 0
	}
	if int64(len(b)) > room {
		m.BodyExcess += int64(len(b)) - room
		m.Truncated = true
		b = b[:room]
	}
	m.Body = append(m.Body, b...)
}

// reserveAfter is how much of a body must have arrived before ReserveBody trusts its announced length: a peer
// announcing 64 MiB and sending nothing must not cost 64 MiB.
const reserveAfter = 64 << 10

// ReserveBody grows Body's capacity to the body's announced length (Content-Length), bounded by max, once
// reserveAfter bytes of it have arrived; until then, and for bodies of unknown length, append's doubling applies.
// It saves the copies and the garbage of growing a 16 MiB body by doubling. incoming is the size of the bytes
// about to be appended.
func (m *Message) ReserveBody(announced, max int64, incoming int) {
	want := min(announced, max)
	have := int64(len(m.Body))
	if want <= int64(cap(m.Body)) || have+int64(incoming) < reserveAfter {
		return
	}
	grown := make([]byte, have, want)
	copy(grown, m.Body)
	m.Body = grown
}

// AddLost records n bytes of this message that capture could not deliver.
func (m *Message) AddLost(n int64) {
	if n <= 0 {
		return
	}
	m.LostBytes += n
	m.Truncated = true
}

// ErrTooLarge is returned by [Gunzip] when the decompressed data exceeds its limit.
var ErrTooLarge = errors.New("decompressed body exceeds limit")

// Gunzip decompresses a gzip body (several members allowed), returning at most max bytes. When the output would be
// longer it returns the first max bytes, the number of bytes beyond them, and an error wrapping [ErrTooLarge]; a
// corrupt or cut input returns what could be decoded and the decoding error.
//
// The whole excess is counted by decompressing it into a discard buffer, so a decompression bomb costs CPU (bounded
// by the input size times the deflate ratio, at most ~1032:1) but never memory.
func Gunzip(compressed []byte, max int64) (out []byte, excess int64, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, 0, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(zr, max))
	out = buf.Bytes()
	if err != nil {
		return out, 0, fmt.Errorf("gunzip after %d bytes: %w", n, err)
	}
	excess, err = io.Copy(io.Discard, zr)
	if err != nil {
		return out, excess, fmt.Errorf("gunzip after %d bytes: %w", n+excess, err)
	}
	if excess > 0 {
		return out, excess, fmt.Errorf("gunzip: %w (%d bytes over %d)", ErrTooLarge, excess, max)
	}
	return out, 0, nil
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventRequest: a request is complete (headers and body). Exchange.Request is set.
	EventRequest EventKind = iota + 1
	// EventResponse: a response is complete. Exchange.Response is set, Exchange.Request when known. For a streamed
	// text/event-stream response it comes after the last EventSSE and carries sizes and flags, not the body.
	EventResponse
	// EventInterim: an interim (1xx other than 101) response; the request still awaits its final response.
	EventInterim
	// EventStreamStart: the headers of a text/event-stream response; its events follow as EventSSE, then one
	// EventResponse when the stream ends.
	EventStreamStart
	// EventSSE: one server-sent event of a streamed response. SSE is set.
	EventSSE
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case EventRequest:
		return "request"
	case EventResponse:
		return "response"
	case EventInterim:
		return "interim"
	case EventStreamStart:
		return "stream-start"
	case EventSSE:
		return "sse"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is what a parser delivers.
type Event struct {
	Kind EventKind
	Exchange
	// SSE is the server-sent event of an EventSSE.
	SSE *sse.Event
	// MCP is set on an EventSSE whose event announces the legacy transport's endpoint (`event: endpoint`):
	// MCP.Endpoint is the URL and MCP.LegacySessionID its sessionId parameter.
	MCP MCP
	// WireEnd is, for an EventSSE, the offset in its direction's byte stream one past the event's last byte, framing
	// (chunks, HTTP/2 frames) included: the end of the frame that carried it for HTTP/2, and for a gzip body the
	// position the parser had reached when the event was decoded.
	WireEnd int64
}

// SSEEvent builds an EventSSE, recognising the legacy transport's endpoint announcement.
func SSEEvent(req, resp *Message, ev *sse.Event) Event {
	e := Event{Kind: EventSSE, Exchange: Exchange{Request: req, Response: resp}, SSE: ev}
	if ev.Type == "endpoint" {
		e.MCP.Endpoint = strings.TrimSpace(ev.Data)
		e.MCP.LegacySessionID = QuerySessionID(e.MCP.Endpoint)
	}
	return e
}
