// Package console prints records for people: one line per MCP message or bare HTTP exchange, aligned in columns,
// optionally coloured.
//
//	07:18:12.123456  node[4242] → server-everything[4250]  request       tools/call  echo  id=3  1.0 MiB
//	07:18:12.130001  server-everything[4250] → node[4242]  response      tools/call  echo  id=3  1.0 MiB   6.5 ms
//	07:18:13.000000  node[4242] → server-everything[4250]  notification  notifications/cancelled  (id 7)  81 B
//
// The columns are: local time to the microsecond; sender comm[pid] → receiver comm[pid] ("?" when no reader was
// seen; on the HTTP transports, the address of a peer with no known process, such as a client on another host); message type; method (on a response, the method of its request, "?" if that was not seen); the tool,
// resource or prompt name; the id (on a notification, "(id N)" for the request it refers to, or "(token T)" for
// a progress token); the size as written; the latency of a response; and markers:
//
//	✗ -32602 Unknown tool: nope   a JSON-RPC error response: code and message
//	✗ tool error                  a tools/call result with isError: true
//	⚠ late                        a response that arrived after its request was cancelled
//	✂ truncated: 4096 bytes lost  bytes were lost between the writer and mcpscope
//	? unknown method              a method neither the protocol nor a known extension defines
//	extension                     a method of a known extension (ui/*, skills/*, ...)
//	batch 2/3                     the second of three messages in a JSON-RPC batch
//	retry of id=3                 a modern-era request retried with inputResponses
//	result_type=input_required    a modern-era result other than "complete"
//	✗ HTTP 400 Bad Request        a message carried by an HTTP response with an error status
//
// An HTTP exchange whose response carried no JSON-RPC message (a record of kind "http") takes the same columns:
// type "http", the request's method and path, and its outcome (status, "stream open" or "no response"); an error
// status is marked with the first line of the body the server sent:
//
//	07:18:12.200410  claude[5100] → python3[5200]  http  POST /mcp    202 Accepted      0 B  410 µs
//	07:18:13.000000  claude[5100] → python3[5200]  http  GET /mcp     stream open            800 µs
//	07:18:42.001200  claude[5100] → python3[5200]  http  POST /mcp    404 Not Found    18 B  1.2 ms  ✗ 404 Session not found
//
// Columns widen as longer values appear, so lines stay aligned as the stream goes on. Free-text fields are cut
// to Options.Width characters, and every string that came from the traced processes has control characters,
// bidirectional overrides and invalid UTF-8 escaped (\x1b, \u202e, \xff) so it cannot drive the terminal.
//
// With Options.Verbose, each message line is followed by the message JSON (each HTTP exchange line by the start
// of its response body), indented and cut to Options.MaxJSON bytes, and stats records print as "# stats" lines; otherwise stats are not printed (the caller prints a final
// summary). The Writer buffers like the JSONL writer: call Flush after each batch of records (see package
// output).
package console
