// Package http1 parses captured HTTP/1.x connections incrementally: both byte streams of one TCP connection (or
// the TLS plaintext of one, from uprobes) in, requests, responses and server-sent events out, as
// [httpmsg.Event]s.
//
// It sits after per-connection reassembly and before MCP parsing: capture → reassembly by stream offset →
// [Conn.Feed] → httpmsg.Event → MCP parsing and correlation. [LooksLikeHTTP] is the cheap test that decides
// whether a new connection is followed at all.
//
// # What is parsed
//
//   - Request and status lines; header sections with original names, order and repetitions (obs-fold joined with a
//     space, bare LF line endings accepted, lines without a valid name skipped and counted).
//   - Bodies by Content-Length (repeated values must agree), chunked transfer coding (extensions ignored, trailers
//     kept in Message.Trailers), and, for responses without either, until the connection closes. HEAD, 1xx, 204
//     and 304 responses have no body.
//   - Content-Encoding gzip is decoded when the body ends, bounded by Config.MaxBody (the excess is counted by
//     decompressing into a discard buffer, never kept); other codings are left as they are and noted in
//     Message.DecodeError.
//   - Keep-alive and pipelining: responses are paired with requests in order; interim (1xx) responses are
//     delivered as EventInterim and leave their request waiting. A request's entry in the queue is made when its
//     header section is parsed, so that a server answering before the request body ends is still paired.
//   - Upgrade and CONNECT: after such a request the client side holds its bytes until the response decides: a 101
//     (or 2xx to CONNECT) turns both directions into an opaque tunnel ([Conn.Tunnel], Stats.Tunneled); any other
//     status resumes parsing the held bytes as HTTP.
//   - text/event-stream responses (2xx) are not buffered: EventStreamStart when the headers arrive, one EventSSE
//     per event as soon as its blank line arrives (internal/sse), EventResponse when the stream ends. A gzip event
//     stream is the exception: the decompressor cannot resume mid-stream without a goroutine, so its events come
//     when it ends (MCP servers do not compress event streams, since it defeats streaming).
//
// # Loss, mid-stream start and resynchronisation
//
// Chunks carry stream offsets; a jump declares the bytes between lost (Stats.Lost). A loss inside a body of known
// length (Content-Length, or one chunk's data) keeps the framing: the message is marked Truncated with LostBytes,
// its body has a hole, and parsing continues exactly. Any other loss (a first chunk beyond offset 0 included),
// Config.MidStream (capture started after the connection did), and malformed input make the direction
// resynchronise: it
// skips (and counts) bytes up to the next plausible start line: a known method, an origin-, absolute-, asterisk-
// or authority-form target and HTTP/1.x, or "HTTP/1.x NNN". A start line glued to the end of a previous body
// without a newline ("…}POST /mcp HTTP/1.1", the shape of pipelined JSON bodies) is found too. A message cut by
// a loss is delivered Incomplete if its header section was parsed, and counted otherwise. Skipping to a plausible
// line can be fooled by a body that contains one right after a loss; the cost is one spurious, usually
// malformed, message.
//
// The parser's results do not depend on how the bytes were chunked: the fuzz targets check that the events and
// counters for any input are the same whole and cut into pieces.
//
// # Limits
//
// Header sections beyond Config.MaxHeaderBytes (default 256 KiB) are malformed and skipped; fields beyond
// Config.MaxHeaders (default 256) are counted and not kept, except those that frame the body. Bodies beyond
// Config.MaxBody (default 64 MiB; a 16 MiB body passes whole) keep the framing and count the excess. At most
// Config.MaxPending requests wait for responses. A resynchronising direction holds at most 8 KiB. Memory per
// connection is therefore bounded by about MaxHeaderBytes plus, per direction, 2 × MaxBody (a gzip body's
// compressed and decoded copies), reached only by messages that large.
//
// Pairing assumes the client's bytes of a request are fed before the server's response, which capture order
// gives. When capture starts mid-connection, the first responses may answer requests that were never seen, and
// are then paired with the wrong request or with none (Stats.Unpaired); there is nothing in HTTP/1.1 to tell.
//
// # Performance
//
// Bodies are copied once, into Message.Body, which is sized from Content-Length once 64 KiB of the body have
// arrived (so a peer announcing a large body and sending nothing costs nothing); a header section is converted to
// one string and fields are substrings of it. BenchmarkConn on the development VM (2 vCPU, go1.26.8, amd64),
// which other builds shared (load average 7 to 10), so runs varied widely; range over six runs, 1500-byte chunks:
//
//   - Streamable HTTP tools/call exchanges (POST + chunked SSE response with two events): 27 to 140 MB/s, 6.7 µs
//     per exchange at best, 16 allocations per exchange;
//   - one 16 MiB Content-Length body (64 KiB chunks): 1.5 to 4.5 GB/s, 15 allocations;
//   - a 1 MiB chunked body in 4 KiB chunks: 57 to 270 MB/s, dominated by growing the body by doubling (no length
//     is known).
//
// LooksLikeHTTP takes 20 to 25 ns and does not allocate.
package http1
