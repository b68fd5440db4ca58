// Package sse parses text/event-stream bodies incrementally, following the WHATWG HTML "server-sent events"
// interpretation rules (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
//
// MCP servers answer over SSE in both HTTP transports: the legacy HTTP+SSE GET stream (`event: endpoint`, then
// `event: message` per JSON-RPC message) and Streamable HTTP responses to a POST or GET. Such a stream may stay open
// for minutes, so a [Parser] is fed bytes as they are captured and emits each event as soon as its terminating
// blank line arrives.
//
// # Rules implemented
//
//   - Lines end with CRLF, LF or a lone CR; a CRLF split across two Feed calls is one line ending.
//   - One leading U+FEFF byte-order mark is removed.
//   - `data:` lines accumulate, joined with "\n"; `event:` sets the type, `id:` the last event id (ignored when it
//     contains NUL, and it persists across events, as in a browser), `retry:` the reconnection time (ASCII digits
//     only); one space after the colon is removed; a line without a colon is a field name with an empty value;
//     lines starting with ':' are comments (counted; MCP 2026-07-28 uses them as keep-alives); unknown fields are
//     ignored.
//   - A blank line dispatches the event, unless no data line was seen (then only the type is reset): an `id:`-only
//     block updates the last event id without an event. The 2025-11-25 priming event (`id: x` + `data: ` + blank
//     line) has an empty data line and is dispatched with Data "" — deciding that it carries no message is the
//     caller's business.
//   - At the end of the stream an event without its blank line is discarded, as a browser does, and counted in
//     [Stats.Discarded].
//
// # Limits and loss
//
// An event's data is kept up to [Config.MaxEvent] bytes; beyond it the event is still dispatched, marked
// [Event.Truncated], and the excess counted. Other field lines (event, id, unknown fields, comments) are kept up to
// [Config.MaxLine] bytes each. After a capture gap ([Parser.Gap]) the event being assembled is dropped (a
// half-event is not a message) and the parser discards bytes up to the next blank line, since the line in progress
// and any lost field cannot be trusted; both are counted (Stats.Discarded, Stats.Skipped).
//
// # Performance
//
// Lines are located with bytes.IndexByte and data copied once into the event's buffer; an event costs three
// allocations (its data string, its id string and the Event). BenchmarkParser on the development VM (2 vCPU,
// go1.26.8, amd64), which other builds shared (load average 7 to 10), so runs varied widely; range over six runs:
// 290 to 670 MB/s for 300-byte MCP events fed in 1500-byte chunks (0.5 µs per event at best) and 0.4 to 2.4 GB/s
// for 64 KiB events.
package sse
