// Package demo is the tiny MCP server and client that `mcpscope demo` runs
// under the monitor, so that a newcomer sees a real MCP session within
// seconds on a machine with no MCP host installed.
//
// Both sides use the official Go SDK (github.com/modelcontextprotocol/go-sdk)
// and talk newline-delimited JSON-RPC over the server's stdin and stdout, the
// MCP stdio transport, exactly like an MCP host and a local MCP server do.
//
// [RunServer] serves four tools:
//
//   - weather: a canned forecast for a city, clearly marked as demo data
//     (nothing is fetched from anywhere);
//   - add: adds two numbers (plain text plus structuredContent);
//   - divide: divides two numbers, and returns a tool error (a result with
//     isError: true, not a JSON-RPC error) when dividing by zero;
//   - countdown: counts down, sending notifications/progress on the way.
//
// [RunClient] spawns the server command, initializes a session, lists the
// tools, calls each one once (divide by zero on purpose, countdown with a
// progress token) and closes the session, pausing [DefaultPause] between
// steps so that the live view is readable. It narrates each step to its log
// writer.
//
// The wire traffic of one RunClient run with the default options (protocol
// 2025-11-25), client to server (c>s) and server to client (s>c), in order:
//
//	c>s initialize                id 1
//	s>c result                    id 1
//	c>s notifications/initialized
//	c>s tools/list                id 2
//	s>c result                    id 2
//	c>s tools/call weather        id 3   s>c result id 3
//	c>s tools/call add            id 4   s>c result id 4
//	c>s tools/call divide         id 5   s>c result id 5 (isError: true)
//	c>s tools/call countdown      id 6   s>c notifications/progress x3, then result id 6
//
// then the client closes the server's stdin and the server exits. With
// ClientOptions.ProtocolVersion "2026-07-28" the first exchange is
// server/discover (id 1) instead of initialize and initialized, and every
// request carries the per-request _meta of the stateless protocol.
package demo
