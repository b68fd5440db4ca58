// Package httpmsg is the output model shared by the HTTP parsers (internal/http1 for HTTP/1.x, internal/h2 for
// HTTP/2): one [Message] per request or response, and the [Event]s a parser delivers while a connection's two byte
// streams arrive.
//
// It sits between the byte-stream parsers and MCP parsing: kernel capture → per-connection reassembly →
// [internal/http1] or [internal/h2] (using [internal/sse] for text/event-stream bodies) → httpmsg.Event → MCP
// parsing and correlation.
//
// # What a Message carries
//
// The start line (method and target, or status), the header fields with their original names, order and
// repetitions, the decoded body (bounded: the parser's configured maximum, with the excess counted in
// [Message.BodyExcess]), the flags that say the message is not what was sent ([Message.Truncated],
// [Message.LostBytes], [Message.HeadersUnknown]), the stream offsets and capture times of its first and last byte,
// and the MCP bits that travel in HTTP rather than in JSON-RPC ([MCP]: Mcp-Session-Id, MCP-Protocol-Version,
// Mcp-Method, Mcp-Name, the legacy sessionId query parameter).
//
// # Redaction
//
// Messages carry header values as captured, secrets included, because correlation needs the session id. Sinks that
// write headers out call [Redact] (or [Headers.Redacted]) unless the user asked for raw values.
//
// # Limits
//
// The package holds no state and does no I/O. [Gunzip] is the one place that decompresses; it never produces more
// than the limit it is given.
package httpmsg
