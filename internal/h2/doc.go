// Package h2 parses captured HTTP/2 connections incrementally: both directions of one connection in (cleartext
// h2c, or the TLS plaintext that uprobes see once a Go, Node or curl client negotiated h2 by ALPN), one
// [httpmsg.Event] per request, response and server-sent event out.
//
// It sits beside internal/http1: capture → reassembly by stream offset → [Conn.Feed] → httpmsg.Event → MCP
// parsing. [LooksLikePreface] recognises the client connection preface.
//
// # What is parsed
//
// Frames are cut from the captured bytes here and handed, one complete frame at a time, to golang.org/x/net/http2's
// Framer, which validates them and removes padding and priority fields. Cutting frames ourselves is what makes
// the Framer usable on incremental input: it reads from an io.Reader and cannot resume a half-read frame, and
// feeding it through a pipe would need a goroutine per connection. The Framer's own ordering checks are turned
// off (AllowIllegalReads) because capture can begin inside a header block; this package checks HEADERS and
// CONTINUATION sequencing itself.
//
//   - Header blocks (HEADERS or PUSH_PROMISE plus CONTINUATION, at most Config.MaxHeaderBytes) are decoded with
//     one golang.org/x/net/http2/hpack Decoder per direction, so that the dynamic table follows each encoder. A
//     SETTINGS_HEADER_TABLE_SIZE from one side bounds the other side's decoder. PUSH_PROMISE blocks are decoded to
//     keep the table in step, then ignored.
//   - DATA is reassembled per stream into the request and response bodies (bounded by Config.MaxBody, gzip decoded
//     at the end as in http1). END_STREAM completes a message; a second header block on an open message is its
//     trailers; 1xx responses are EventInterim. RST_STREAM delivers what the stream holds as Incomplete.
//   - text/event-stream responses are streamed as in http1: EventStreamStart, EventSSE per event, EventResponse.
//   - Pairing is exact: a response is the one on its request's stream.
//
// # Mid-connection start and loss
//
// HPACK is stateful: without every header block since the connection began, the dynamic table is unknown and an
// indexed field could decode to a wrong value without any error. So when capture starts mid-connection
// (Config.MidStream, a client stream that does not open with the preface, or a first chunk beyond offset 0), or after
// a loss that may have swallowed a header block, that direction's blocks go to a partial decoder (partial.go)
// that returns only fields it can know exactly: static-table entries, literals, and dynamic entries inserted since
// capture began (an index into the dynamic table counts insertions from the newest, so those resolve whatever came
// before). A block with any other reference gives a message with HeadersUnknown set and only the exact fields in
// Headers; nothing is invented (Stats.Unknown counts such blocks). In practice :method and common :status values
// are recovered, while a field a client inserted before capture and reuses ever after (its :path, its
// Mcp-Session-Id) stays unknown for the life of the connection. DATA is still delivered per stream, and a
// response body whose content type is unknown and that starts like an event stream ("data:", "event:", "id:",
// "retry:" or ":") is parsed as one.
//
// A loss that falls inside one frame keeps the frame boundaries (the frame length is known): a DATA frame's
// stream is marked Truncated with LostBytes, a damaged header block makes its direction's headers unknown from
// then on. A loss that crosses frames makes the parser search for the next frame boundary: a plausible frame
// header (known type, flags, length and stream id that type allows, length at most 16384) followed by another
// one, skipping and counting what precedes. Every message open in that direction is then marked Truncated,
// since any of them may have lost a DATA frame.
//
// # Limits
//
// At most Config.MaxStreams streams are tracked (the oldest is delivered incomplete when a new one would exceed
// it); body buffers of all open streams together stay within about Config.MaxConnBody (default 256 MiB), each
// within Config.MaxBody, the rest counted as excess; a partial frame is buffered up to its length (at most
// 16 MiB, the protocol's maximum); a header block up to Config.MaxHeaderBytes; the HPACK dynamic table a peer may
// ask for is capped at 1 MiB; resynchronisation holds at most 64 KiB. A stream whose response never comes is
// kept until Close or eviction.
//
// # Performance
//
// DATA payloads are copied twice: once by the Framer into its read buffer (from the captured chunk when a frame is
// whole in it, otherwise from this package's frame buffer) and once into the body, which is sized from
// content-length once 64 KiB have arrived. Frame structs are recycled (Framer.SetReuseFrames). BenchmarkConn on the
// development VM (2 vCPU, go1.26.8, amd64), which other builds shared (load average 7 to 10), so runs varied
// widely; range over six runs: 50 to 120 MB/s for Streamable HTTP tools/call exchanges fed in 1500-byte chunks
// (5 µs per exchange at best, 30 allocations, most of them HPACK's field strings), 1.3 to 3.3 GB/s for a 16 MiB
// body in 16 KiB DATA frames fed in 64 KiB chunks.
package h2
