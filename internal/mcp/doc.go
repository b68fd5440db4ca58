// Package mcp turns frames of MCP traffic into labelled, correlated message records.
//
// # Where it sits
//
// The kernel programs capture the bytes processes write to their stdio pipes; the reassembly stage splits each
// stream into frames on '\n' (MCP's stdio framing: one JSON-RPC message per line). This package takes one frame at
// a time and fills a [record.Message] per JSON-RPC message in it, for the sinks (console, JSONL, ...).
//
//	frame ──Parse──▶ []Parsed ──Correlator.Annotate──▶ record.Message
//
// # Parsing
//
// [Parse] reads a frame in one pass: it validates the whole frame as JSON (so what it accepts, encoding/json accepts,
// nesting limit of 10000 included) and, on the way, picks out the few members the labels need (jsonrpc, id, method,
// params.name/uri/ref/_meta/..., result.isError/resultType/..., error.code/message). Everything else is skipped
// without being decoded. It never recurses, so hostile nesting costs a bit per level rather than a stack frame;
// its time is linear in the frame; and it allocates little beyond the strings it returns. A frame that is not
// JSON-RPC 2.0 (a log line a server printed on stdout, a truncated write, JSON of another shape) is refused with a
// [*ParseError] that wraps [ErrInvalidJSON] or [ErrNotJSONRPC] and says what and where. Member order does not matter (the TS SDK
// writes "result" before "jsonrpc" and "id"); when a member repeats, the last wins, as in encoding/json.
//
// A batch (a JSON array, allowed only by protocol 2025-03-26) yields one Parsed per element, each with its place
// in the batch; elements are then correlated like any other message.
//
// A general-purpose parser was not used on this path: fastjson, for one, does not validate strings it is not asked
// for and builds a tree per message, where a single validating scan can extract the fields directly.
//
// # Correlation
//
// A [Correlator] keeps per-session state; the caller chooses the session key (for stdio, the pipe pair) and names
// the writer of each message (its pid). From these it derives:
//
//   - Request/response pairs, keyed by (session, requesting writer, id). JSON-RPC id spaces are per direction, so a
//     response is looked up among the requests the other writer issued: the client's request 1 and the server's
//     request 1 never mix, nor do two sessions. Ids compare by value: 1 and "1" differ, "a" and "\u0061" match, and
//     so do 1 and 1.0. A response gets its request's method, tool/resource/prompt name and latency; one that
//     matches nothing is still reported, with no method, and counted.
//   - Roles and direction. A writer that sends a method only clients send (initialize, server/discover, tools/call,
//     notifications/initialized, ...) is the client; one that sends a method only servers send (sampling,
//     roots/list, notifications/message, ...) is the server; a response goes opposite to its request, and in the
//     modern era only servers write responses. The first evidence wins. This works when the capture starts
//     mid-session: directions appear as soon as one such message is seen.
//   - Era and protocol version, per session. initialize makes a session legacy, with the version of the
//     InitializeResult (the requested one until then). A per-request _meta "io.modelcontextprotocol/protocolVersion"
//     sets the version and its era (modern from 2026-07-28 on, compared as strings). server/discover makes the
//     session modern provisionally: a legacy server answers it with an error, and the client falls back to
//     initialize.
//   - Cancellation: notifications/cancelled names a request of its sender (or, from a 2026-07-28 server, the
//     client's subscriptions/listen); the record gets RelatedID, and the request's eventual response is marked Late.
//   - Progress: notifications/progress is linked (RelatedID) to the open request of the other writer that issued
//     its progress token. Notifications on a subscriptions/listen stream are linked by their subscriptionId.
//   - Multi-round-trip requests (modern era): a result with resultType "input_required" leaves the operation open;
//     a later request of the same writer, method and name that echoes its requestState exactly, or else whose
//     inputResponses keys equal its inputRequests keys, is its retry (RetryOf names the first request), and
//     latencies of the chain run from the first request. A retry that could belong to more than one open operation
//     is left unlinked and counted rather than guessed.
//
// # Limits, and why nothing expires with time
//
// MCP requests legitimately stay open for a long time: a tool call that runs for ten minutes, a subscriptions/listen
// stream answered only at teardown, an operation waiting for a person to answer an elicitation. A timeout would
// make such responses unmatched and lose their latency, so open requests never expire by age. Memory is bounded by
// count instead ([Limits]: per session, overall, and number of sessions). At a limit the oldest open request goes
// first, except that cancelled requests (which a peer may never answer) go before any other; sessions go least
// recently active first. Every eviction is counted in [Stats], as are requests left open when the caller ends a
// session with [Correlator.EndSession].
//
// A Correlator is not safe for concurrent use. The pipeline calls it from one goroutine, in capture order.
package mcp
