package store

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// SchemaVersion is the version of the database schema, kept in PRAGMA user_version. It changes whenever a table,
// column or view changes; [Open] upgrades older databases through the steps in migrations and refuses newer ones.
const SchemaVersion = 3

// Column describes one column of a table or view.
type Column struct {
	Name string
	// Type is the declared SQL type (INTEGER, REAL or TEXT); empty for view columns, whose type is whatever the
	// view's expression yields.
	Type string
	// Constraint is the rest of the column definition: PRIMARY KEY, NOT NULL, DEFAULT, REFERENCES ...
	Constraint string
	Doc        string
}

// Table describes one table or view. Schema is the single source of truth for the database's DDL, the
// schema_tables and schema_columns tables inside it, `mcpscope query --schema` and docs/sql.md: see [Schema].
type Table struct {
	Name    string
	View    bool
	Doc     string
	Columns []Column
	// Indexes are column lists ("session_id", "ts") to index, each as CREATE INDEX <table>_<cols>.
	Indexes []string
	// Select is the SELECT of a view.
	Select string
}

// Kind is "table" or "view".
func (t *Table) Kind() string {
	if t.View {
		return "view"
	}
	return "table"
}

// Footprint tables: rows the kernel side attributes to one tool call. They share their first columns.
var footprintHead = []Column{
	{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Row id."},
	{Name: "call_id", Type: "INTEGER", Constraint: "NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED", Doc: "The tool call (`tool_calls.id`) this row belongs to."},
	{Name: "pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The process (of the server's process tree) that did it."},
	{Name: "shared", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 when calls of the same server overlapped and the event could not be given to this call alone: it is then recorded for each overlapping call. On a server that keeps each task on one thread (CPython), what the thread that answered a call (or a process it started) did is that call's alone (0); the server's other threads' work is shared."},
}

func footprint(name, doc string, cols ...Column) Table {
	return Table{Name: name, Doc: doc, Columns: append(append([]Column(nil), footprintHead...), cols...), Indexes: []string{"call_id"}}
}

const fk = " DEFERRABLE INITIALLY DEFERRED"

// schema lists every table and view, in creation order. It is never modified; [Schema] hands out copies.
var schema = []Table{
	{
		Name: "schema_tables",
		Doc:  "Every table and view of this database and what it holds (this list).",
		Columns: []Column{
			{Name: "name", Type: "TEXT", Constraint: "PRIMARY KEY", Doc: "Table or view name."},
			{Name: "kind", Type: "TEXT", Constraint: "NOT NULL", Doc: "`table` or `view`."},
			{Name: "description", Type: "TEXT", Constraint: "NOT NULL", Doc: "What it holds."},
		},
	},
	{
		Name: "schema_columns",
		Doc:  "Every column of every table and view, with its meaning.",
		Columns: []Column{
			{Name: "table_name", Type: "TEXT", Constraint: "NOT NULL", Doc: "The table or view (`schema_tables.name`)."},
			{Name: "position", Type: "INTEGER", Constraint: "NOT NULL", Doc: "0-based position of the column."},
			{Name: "name", Type: "TEXT", Constraint: "NOT NULL", Doc: "Column name."},
			{Name: "type", Type: "TEXT", Constraint: "NOT NULL", Doc: "Declared type: `INTEGER`, `REAL`, `TEXT`, or empty for a view column."},
			{Name: "description", Type: "TEXT", Constraint: "NOT NULL", Doc: "What it means."},
		},
	},
	{
		Name: "captures",
		Doc:  "One row per `mcpscope watch` run that recorded into this database.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Capture id."},
			{Name: "started_at", Type: "TEXT", Constraint: "NOT NULL", Doc: "When recording began (RFC 3339 UTC, 9 fractional digits, as every time here)."},
			{Name: "ended_at", Type: "TEXT", Doc: "When it ended; NULL while it runs, or if mcpscope was killed."},
			{Name: "version", Type: "TEXT", Constraint: "NOT NULL", Doc: "The mcpscope version that recorded it."},
			{Name: "hostname", Type: "TEXT", Constraint: "NOT NULL", Doc: "The host it ran on."},
			{Name: "pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "mcpscope's own process id."},
			{Name: "counters", Type: "TEXT", Doc: "The final stats counters as a JSON object (the JSONL `stats` record's `counters`)."},
			{Name: "rows_dropped", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "Messages not recorded because the disk could not keep up (never silently: also on stderr, and `db_messages_dropped` in `counters`)."},
		},
	},
	{
		Name: "processes",
		Doc:  "Processes seen writing or reading MCP messages: one row per process id and command name in a capture.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Row id."},
			{Name: "capture_id", Type: "INTEGER", Constraint: "NOT NULL REFERENCES captures(id) ON DELETE CASCADE" + fk, Doc: "The capture (`captures.id`)."},
			{Name: "pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Process id (thread-group id, as `ps` shows)."},
			{Name: "comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Command name (up to 15 bytes, from the kernel)."},
			{Name: "first_seen", Type: "TEXT", Constraint: "NOT NULL", Doc: "Time of its first message."},
			{Name: "last_seen", Type: "TEXT", Constraint: "NOT NULL", Doc: "Time of its last message."},
		},
		Indexes: []string{"pid", "last_seen"},
	},
	{
		Name: "sessions",
		Doc:  "MCP sessions within one capture: for stdio, a pair of processes and the streams between them; for HTTP, an MCP session id, or one connection while no id is known.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Session id."},
			{Name: "capture_id", Type: "INTEGER", Constraint: "NOT NULL REFERENCES captures(id) ON DELETE CASCADE" + fk, Doc: "The capture (`captures.id`)."},
			{Name: "name", Type: "TEXT", Constraint: "NOT NULL", Doc: "The JSONL `session`: `stdio:4242-4250` (lower pid first); `http:redacted:5e2c1a9b07d4` (the MCP session id, redacted unless `--no-redact`); `http:conn:127.0.0.1:51234-127.0.0.1:3001` (one connection, client first, while no session id is known)."},
			{Name: "transport", Type: "TEXT", Constraint: "NOT NULL", Doc: "`stdio`, `http` or `https`; `trace` for a process tree traced by `mcpscope trace`."},
			{Name: "client_pid", Type: "INTEGER", Doc: "The MCP client's pid, once a message's direction told it; NULL also for a client on another host (see `client_addr`)."},
			{Name: "client_comm", Type: "TEXT", Doc: "The client's command name."},
			{Name: "server_pid", Type: "INTEGER", Doc: "The MCP server's pid."},
			{Name: "server_comm", Type: "TEXT", Doc: "The server's command name."},
			{Name: "era", Type: "TEXT", Doc: "`legacy` or `modern` (see docs/jsonl.md)."},
			{Name: "protocol_version", Type: "TEXT", Doc: "The protocol version negotiated, when seen."},
			{Name: "first_seen", Type: "TEXT", Constraint: "NOT NULL", Doc: "Time of the first message (or HTTP exchange)."},
			{Name: "last_seen", Type: "TEXT", Constraint: "NOT NULL", Doc: "Time of the last message (or HTTP exchange)."},
			{Name: "messages", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Messages recorded in the session (HTTP exchanges without a message not counted)."},
			{Name: "client_addr", Type: "TEXT", Doc: "HTTP: the client's address and port (`127.0.0.1:51234`, `[::1]:51234`), as last seen."},
			{Name: "server_addr", Type: "TEXT", Doc: "HTTP: the server's address and port."},
		},
		Indexes: []string{"capture_id", "name", "last_seen"},
	},
	{
		Name: "tool_calls",
		Doc:  "Every `tools/call`, `resources/read` and `prompts/get`, from its request to its response, and the CPU its server's process tree used meanwhile. Calls never answered stay, with status `running`, `cancelled` or `unanswered`.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Call id (`mcpscope show ID`)."},
			{Name: "session_id", Type: "INTEGER", Constraint: "NOT NULL REFERENCES sessions(id) ON DELETE CASCADE" + fk, Doc: "The session (`sessions.id`)."},
			{Name: "method", Type: "TEXT", Constraint: "NOT NULL", Doc: "`tools/call`, `resources/read` or `prompts/get`; `trace` for a process tree traced by `mcpscope trace` (tool: what was traced), with its footprint."},
			{Name: "tool", Type: "TEXT", Doc: "`tools/call`: the tool's name."},
			{Name: "resource", Type: "TEXT", Doc: "`resources/read`: the resource URI."},
			{Name: "prompt", Type: "TEXT", Doc: "`prompts/get`: the prompt's name."},
			{Name: "rpc_id", Type: "TEXT", Constraint: "NOT NULL", Doc: "The JSON-RPC id of the request as sent (JSON text: `3` or `\"3\"`); of the last retry for a modern-era multi-round-trip call."},
			{Name: "client_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The process that sent the request (0 for an HTTP client on another host)."},
			{Name: "client_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "server_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The process that read the request (0 when no reader was seen, or for an HTTP server on another host)."},
			{Name: "server_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "arguments", Type: "TEXT", Doc: "`params.arguments` as JSON text (tools/call, prompts/get); NULL when absent."},
			{Name: "started_at", Type: "TEXT", Constraint: "NOT NULL", Doc: "When the request was written."},
			{Name: "ended_at", Type: "TEXT", Doc: "When the final response was written; NULL until then."},
			{Name: "duration_ms", Type: "REAL", Doc: "Milliseconds from the request to the final response; NULL until answered."},
			{Name: "status", Type: "TEXT", Constraint: "NOT NULL", Doc: "`running` (no response yet), `ok`, `tool_error` (result.isError), `error` (JSON-RPC error), `cancelled` (cancelled and not answered) or `unanswered` (the capture ended first)."},
			{Name: "is_error", Type: "INTEGER", Doc: "`result.isError` of a tools/call result (1 or 0); NULL otherwise."},
			{Name: "error_code", Type: "INTEGER", Doc: "JSON-RPC error code of an error response."},
			{Name: "error_message", Type: "TEXT", Doc: "JSON-RPC error message of an error response."},
			{Name: "cancelled", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 when the client sent notifications/cancelled for it (a response may still have come, marked `late` in messages)."},
			{Name: "request_message_id", Type: "INTEGER", Doc: "The request (`messages.id`). Not a foreign key: the message may have been pruned, or dropped when the disk could not keep up, while the call stays."},
			{Name: "response_message_id", Type: "INTEGER", Doc: "The final response (`messages.id`); the same caveat."},
			{Name: "user_cpu_ms", Type: "REAL", Doc: "User CPU time of the server's process tree during the call (children that exited included); NULL when not recorded."},
			{Name: "sys_cpu_ms", Type: "REAL", Doc: "Kernel CPU time of the same; NULL when not recorded."},
			{Name: "client_addr", Type: "TEXT", Doc: "HTTP: the client's address and port."},
			{Name: "server_addr", Type: "TEXT", Doc: "HTTP: the server's address and port."},
		},
		Indexes: []string{"session_id", "started_at", "tool", "request_message_id", "response_message_id"},
	},
	{
		Name: "messages",
		Doc:  "Every MCP message, as in the JSONL `message` records (docs/jsonl.md), with its HTTP context on the HTTP transports.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Message id, in capture order."},
			{Name: "session_id", Type: "INTEGER", Constraint: "REFERENCES sessions(id) ON DELETE CASCADE" + fk, Doc: "The session (`sessions.id`); NULL when not known."},
			{Name: "call_id", Type: "INTEGER", Constraint: "REFERENCES tool_calls(id) ON DELETE SET NULL" + fk, Doc: "The tool call it belongs to (`tool_calls.id`): its request, responses, progress and cancel notifications."},
			{Name: "ts", Type: "TEXT", Constraint: "NOT NULL", Doc: "When the last byte of the message was written."},
			{Name: "transport", Type: "TEXT", Constraint: "NOT NULL", Doc: "`stdio`, `http` or `https`."},
			{Name: "direction", Type: "TEXT", Doc: "`client_to_server` or `server_to_client`, when known."},
			{Name: "type", Type: "TEXT", Constraint: "NOT NULL", Doc: "`request`, `response` or `notification`."},
			{Name: "rpc_id", Type: "TEXT", Doc: "The JSON-RPC id as sent (JSON text); NULL on notifications."},
			{Name: "method", Type: "TEXT", Doc: "The method; on a response, that of its request when it was seen."},
			{Name: "method_kind", Type: "TEXT", Doc: "NULL for a protocol method, `extension` or `unknown` otherwise."},
			{Name: "tool", Type: "TEXT", Doc: "tools/call: the tool's name (on the response too)."},
			{Name: "resource", Type: "TEXT", Doc: "The resource URI of resources/read, resources/subscribe, ..."},
			{Name: "prompt", Type: "TEXT", Doc: "prompts/get: the prompt's name."},
			{Name: "from_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The process that wrote the message (0 for an HTTP peer on another host: see `from_addr`)."},
			{Name: "from_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "to_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The process that read it (0 when no reader was seen, or for an HTTP peer on another host)."},
			{Name: "to_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "size", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Bytes of the message as written, without the newline."},
			{Name: "latency_ms", Type: "REAL", Doc: "On responses matched to their request: milliseconds since the request."},
			{Name: "is_error", Type: "INTEGER", Doc: "`result.isError` of a tools/call result (1 or 0); NULL otherwise."},
			{Name: "error_code", Type: "INTEGER", Doc: "JSON-RPC error code of an error response."},
			{Name: "error_message", Type: "TEXT", Doc: "JSON-RPC error message of an error response."},
			{Name: "era", Type: "TEXT", Doc: "`legacy` or `modern`."},
			{Name: "protocol_version", Type: "TEXT", Doc: "The session's protocol version, when known."},
			{Name: "result_type", Type: "TEXT", Doc: "Modern era: `result.resultType` (`complete`, `input_required`, `task`)."},
			{Name: "progress_token", Type: "TEXT", Doc: "The progress token (JSON text) of a request or progress notification."},
			{Name: "related_id", Type: "TEXT", Doc: "Notifications: the id (JSON text) of the request they refer to (cancelled, progress)."},
			{Name: "late", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 for a response that arrived after its request was cancelled."},
			{Name: "retry_of", Type: "TEXT", Doc: "Modern era: the id (JSON text) of the request this one retries."},
			{Name: "batch_index", Type: "INTEGER", Doc: "Position (0-based) in a JSON-RPC batch; NULL when not batched."},
			{Name: "batch_count", Type: "INTEGER", Doc: "Messages in that batch."},
			{Name: "truncated", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 when bytes were lost between the writer and mcpscope."},
			{Name: "lost_bytes", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "How many."},
			{Name: "message", Type: "TEXT", Doc: "The JSON-RPC message, verbatim as written (query it with `json_extract`); NULL when truncated beyond repair."},
			// Added in schema version 2, hence after message: ALTER TABLE appends columns.
			{Name: "from_addr", Type: "TEXT", Doc: "HTTP: the address and port of the writer's socket (`127.0.0.1:3001`, `[::1]:3001`)."},
			{Name: "to_addr", Type: "TEXT", Doc: "HTTP: the address and port of the reader's socket."},
			{Name: "http_proto", Type: "TEXT", Doc: "HTTP: `HTTP/1.1` or `HTTP/2`. This and the `http_` columns below are NULL on stdio, and are the JSONL `http` object: the request that carried the message, or the response that carried it and its request."},
			{Name: "http_method", Type: "TEXT", Doc: "HTTP: the request's method (`POST`, `GET` for an SSE stream)."},
			{Name: "http_path", Type: "TEXT", Doc: "HTTP: the request's path, without its query string."},
			{Name: "http_host", Type: "TEXT", Doc: "HTTP: the `Host` header (HTTP/2 `:authority`)."},
			{Name: "http_status", Type: "INTEGER", Doc: "HTTP: the status of the response that carried the message; NULL on requests."},
			{Name: "http_content_type", Type: "TEXT", Doc: "HTTP: the media type of the HTTP message that carried it (`application/json`, `text/event-stream`)."},
			{Name: "http_session_id", Type: "TEXT", Doc: "HTTP: the `Mcp-Session-Id` (legacy: `sessionId` parameter), as `redacted:` and 12 hex digits of its SHA-256 unless `--no-redact`."},
			{Name: "http_protocol_version", Type: "TEXT", Doc: "HTTP: the `MCP-Protocol-Version` header."},
			{Name: "http_mcp_method", Type: "TEXT", Doc: "HTTP: the `Mcp-Method` header (protocol 2026-07-28)."},
			{Name: "http_mcp_name", Type: "TEXT", Doc: "HTTP: the `Mcp-Name` header (protocol 2026-07-28)."},
			{Name: "http_sse_event_id", Type: "TEXT", Doc: "HTTP: the `id:` of the server-sent event that carried the message."},
			{Name: "http_stream_id", Type: "INTEGER", Doc: "HTTP/2: the stream of the exchange."},
		},
		Indexes: []string{"ts", "session_id", "call_id"},
	},
	{
		Name: "http_exchanges",
		Doc:  "HTTP exchanges of MCP connections whose response carried no JSON-RPC message, as in the JSONL `http` records (docs/jsonl.md): `202 Accepted`, error statuses with the start of their body, SSE streams opened, sessions deleted, requests never answered. Exchanges that carried messages are in `messages`, with their `http_` columns.",
		Columns: []Column{
			{Name: "id", Type: "INTEGER", Constraint: "PRIMARY KEY", Doc: "Row id, in capture order."},
			{Name: "session_id", Type: "INTEGER", Constraint: "REFERENCES sessions(id) ON DELETE CASCADE" + fk, Doc: "The session (`sessions.id`); NULL when not known."},
			{Name: "ts", Type: "TEXT", Constraint: "NOT NULL", Doc: "When the last byte of the response was sent (`stream_open`: of its headers; `unanswered`: when its connection ended)."},
			{Name: "transport", Type: "TEXT", Constraint: "NOT NULL", Doc: "`http` or `https`."},
			{Name: "event", Type: "TEXT", Constraint: "NOT NULL", Doc: "`exchange` (a request and its response), `stream_open` (the headers of an SSE response; its messages are in `messages`) or `unanswered` (no response was seen)."},
			{Name: "client_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The client's pid (0 when on another host)."},
			{Name: "client_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "client_addr", Type: "TEXT", Doc: "Its socket's address and port."},
			{Name: "server_pid", Type: "INTEGER", Constraint: "NOT NULL", Doc: "The server's pid (0 when on another host)."},
			{Name: "server_comm", Type: "TEXT", Constraint: "NOT NULL", Doc: "Its command name."},
			{Name: "server_addr", Type: "TEXT", Doc: "Its socket's address and port."},
			{Name: "proto", Type: "TEXT", Doc: "`HTTP/1.1` or `HTTP/2`."},
			{Name: "method", Type: "TEXT", Doc: "The request's method (`POST`, `GET`, `DELETE`)."},
			{Name: "path", Type: "TEXT", Doc: "The request's path, without its query string."},
			{Name: "host", Type: "TEXT", Doc: "The `Host` header (HTTP/2 `:authority`)."},
			{Name: "status", Type: "INTEGER", Doc: "The response's status code; NULL when unanswered."},
			{Name: "content_type", Type: "TEXT", Doc: "The response's media type."},
			{Name: "http_session_id", Type: "TEXT", Doc: "The `Mcp-Session-Id` (legacy: `sessionId` parameter), redacted unless `--no-redact`."},
			{Name: "protocol_version", Type: "TEXT", Doc: "The `MCP-Protocol-Version` header."},
			{Name: "mcp_method", Type: "TEXT", Doc: "The `Mcp-Method` header (protocol 2026-07-28)."},
			{Name: "mcp_name", Type: "TEXT", Doc: "The `Mcp-Name` header (protocol 2026-07-28)."},
			{Name: "stream_id", Type: "INTEGER", Doc: "HTTP/2: the stream."},
			{Name: "latency_ms", Type: "REAL", Doc: "Milliseconds from the request's last byte to the response's last byte (`stream_open`: to its headers); NULL when unanswered."},
			{Name: "request_size", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Bytes of the request body (after de-chunking, before decompression)."},
			{Name: "response_size", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Bytes of the response body, likewise."},
			{Name: "request_headers", Type: "TEXT", Doc: "The request's header fields in wire order, as a JSON array of `{\"name\",\"value\"}` objects; secret values read `[redacted]` unless `--no-redact`."},
			{Name: "response_headers", Type: "TEXT", Doc: "The response's header fields, likewise."},
			{Name: "response_body", Type: "TEXT", Doc: "The start (at most 1 KiB) of a response body that is not JSON-RPC: an error page, `Session not found`."},
			{Name: "truncated", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 when bytes of the exchange were lost between the peers and mcpscope."},
			{Name: "lost_bytes", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "How many."},
			{Name: "began_before_capture", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 0", Doc: "1 when the exchange was under way when capture joined its connection (an HTTP/2 stream opened before `watch` started): its request and the start of its response were never seen, so `method`, `path` and `status` may be NULL and `truncated` is 1, with no bytes lost."},
		},
		Indexes: []string{"ts", "session_id"},
	},
	footprint("syscalls", "System calls made during a tool call by the server's process tree, counted by name in the kernel.",
		Column{Name: "name", Type: "TEXT", Constraint: "NOT NULL", Doc: "System call name (`openat`, `connect`, ...)."},
		Column{Name: "count", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Calls made."},
		Column{Name: "errors", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Calls that failed."},
		Column{Name: "errnos", Type: "TEXT", Doc: "Failures by errno as a JSON object, e.g. `{\"ENOENT\":3}`."},
		Column{Name: "total_ns", Type: "INTEGER", Constraint: "NOT NULL", Doc: "Time spent in them, nanoseconds."},
	),
	footprint("files", "Files opened during a tool call, by the server or its children.",
		Column{Name: "path", Type: "TEXT", Constraint: "NOT NULL", Doc: "Path as resolved in the kernel (absolute)."},
		Column{Name: "flags", Type: "TEXT", Doc: "Open flags, e.g. `O_RDONLY|O_CLOEXEC`."},
		Column{Name: "result", Type: "TEXT", Constraint: "NOT NULL", Doc: "`ok` or the errno name (`ENOENT`)."},
		Column{Name: "count", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 1", Doc: "Opens with this path, flags and result."},
	),
	footprint("execs", "Programs started during a tool call.",
		Column{Name: "ppid", Type: "INTEGER", Doc: "The parent that started it."},
		Column{Name: "filename", Type: "TEXT", Constraint: "NOT NULL", Doc: "The executable."},
		Column{Name: "argv", Type: "TEXT", Doc: "Its arguments as a JSON array of strings."},
		Column{Name: "exit_code", Type: "INTEGER", Doc: "Its exit status (128+N when killed by signal N); NULL when still running at the end of the call."},
		Column{Name: "started_at", Type: "TEXT", Doc: "When it was executed."},
		Column{Name: "duration_ms", Type: "REAL", Doc: "From exec to exit; NULL when still running."},
	),
	footprint("connections", "Network activity during a tool call: connections made or accepted, sockets listening.",
		Column{Name: "op", Type: "TEXT", Constraint: "NOT NULL", Doc: "`connect`, `accept` or `listen`."},
		Column{Name: "family", Type: "TEXT", Constraint: "NOT NULL", Doc: "`ipv4`, `ipv6` or `unix`."},
		Column{Name: "remote_addr", Type: "TEXT", Doc: "Remote address (the local one for `listen`), or the socket path for `unix`."},
		Column{Name: "remote_port", Type: "INTEGER", Doc: "Remote port (local for `listen`); NULL for `unix`."},
		Column{Name: "result", Type: "TEXT", Constraint: "NOT NULL", Doc: "`ok`, `EINPROGRESS` or the errno name."},
		Column{Name: "count", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 1", Doc: "Times seen with this address and result."},
	),
	footprint("libraries", "Shared libraries and executables mapped during a tool call.",
		Column{Name: "path", Type: "TEXT", Constraint: "NOT NULL", Doc: "The file mapped."},
		Column{Name: "kind", Type: "TEXT", Constraint: "NOT NULL", Doc: "`library` or `executable`."},
	),
	footprint("gpu", "GPU use during a tool call: device opens, CUDA/NVML libraries, nvidia-smi, driver calls.",
		Column{Name: "kind", Type: "TEXT", Constraint: "NOT NULL", Doc: "`device` (open of /dev/nvidia*, /dev/dri/*), `library` (libcuda, libnvidia-ml), `program` (nvidia-smi) or `driver_call` (a libcuda function, by uprobe)."},
		Column{Name: "detail", Type: "TEXT", Constraint: "NOT NULL", Doc: "The device path, library path, program, or function name (`cuLaunchKernel`)."},
		Column{Name: "count", Type: "INTEGER", Constraint: "NOT NULL DEFAULT 1", Doc: "Times seen."},
	),
	{
		Name: "slowest_calls",
		View: true,
		Doc:  "Answered calls, slowest first.",
		Columns: []Column{
			{Name: "call_id", Doc: "`tool_calls.id`."},
			{Name: "method", Doc: "The method."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "server_comm", Doc: "The server's command name."},
			{Name: "started_at", Doc: "When it was called."},
			{Name: "duration_ms", Doc: "How long it took."},
			{Name: "status", Doc: "How it ended."},
		},
		Select: `SELECT id, method, coalesce(tool, prompt, resource), server_comm, started_at, duration_ms, status
FROM tool_calls WHERE duration_ms IS NOT NULL ORDER BY duration_ms DESC`,
	},
	{
		Name: "tool_stats",
		View: true,
		Doc:  "Per tool (prompt, resource) and server: how often it was called, how long it took, how often it failed. Slowest on average first.",
		Columns: []Column{
			{Name: "method", Doc: "The method."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "server_comm", Doc: "The server's command name."},
			{Name: "calls", Doc: "Calls seen."},
			{Name: "answered", Doc: "Calls answered."},
			{Name: "failed", Doc: "Calls answered with a JSON-RPC or tool error."},
			{Name: "avg_ms", Doc: "Mean duration of the answered calls."},
			{Name: "max_ms", Doc: "Longest duration."},
		},
		Select: `SELECT method, coalesce(tool, prompt, resource), server_comm, count(*), count(duration_ms),
  sum(status IN ('error', 'tool_error')), avg(duration_ms), max(duration_ms)
FROM tool_calls GROUP BY method, coalesce(tool, prompt, resource), server_comm ORDER BY avg(duration_ms) DESC`,
	},
	{
		Name: "calls_with_programs",
		View: true,
		Doc:  "Tool calls that started programs, one row per program.",
		Columns: []Column{
			{Name: "call_id", Doc: "`tool_calls.id`."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "server_comm", Doc: "The server's command name."},
			{Name: "started_at", Doc: "When the call began."},
			{Name: "pid", Doc: "The program's pid."},
			{Name: "filename", Doc: "The executable."},
			{Name: "argv", Doc: "Its arguments (JSON array)."},
			{Name: "exit_code", Doc: "Its exit status."},
		},
		Select: `SELECT c.id, coalesce(c.tool, c.prompt, c.resource), c.server_comm, c.started_at, e.pid, e.filename, e.argv, e.exit_code
FROM tool_calls c JOIN execs e ON e.call_id = c.id ORDER BY c.id, e.id`,
	},
	{
		Name: "calls_with_network",
		View: true,
		Doc:  "Tool calls that touched the network (IPv4, IPv6 or Unix sockets), one row per address.",
		Columns: []Column{
			{Name: "call_id", Doc: "`tool_calls.id`."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "server_comm", Doc: "The server's command name."},
			{Name: "started_at", Doc: "When the call began."},
			{Name: "pid", Doc: "The process that did it."},
			{Name: "op", Doc: "`connect`, `accept` or `listen`."},
			{Name: "family", Doc: "`ipv4`, `ipv6` or `unix`."},
			{Name: "remote_addr", Doc: "The address."},
			{Name: "remote_port", Doc: "The port."},
			{Name: "result", Doc: "`ok` or the errno name."},
		},
		Select: `SELECT c.id, coalesce(c.tool, c.prompt, c.resource), c.server_comm, c.started_at, n.pid, n.op, n.family, n.remote_addr, n.remote_port, n.result
FROM tool_calls c JOIN connections n ON n.call_id = c.id ORDER BY c.id, n.id`,
	},
	{
		Name: "calls_with_files",
		View: true,
		Doc:  "Tool calls and the files they opened, one row per path.",
		Columns: []Column{
			{Name: "call_id", Doc: "`tool_calls.id`."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "pid", Doc: "The process that opened it."},
			{Name: "path", Doc: "The file."},
			{Name: "flags", Doc: "Open flags."},
			{Name: "result", Doc: "`ok` or the errno name."},
			{Name: "count", Doc: "Opens."},
		},
		Select: `SELECT c.id, coalesce(c.tool, c.prompt, c.resource), f.pid, f.path, f.flags, f.result, f.count
FROM tool_calls c JOIN files f ON f.call_id = c.id ORDER BY c.id, f.id`,
	},
	{
		Name: "call_footprints",
		View: true,
		Doc:  "Every call with the size of its footprint: what `mcpscope calls` lists.",
		Columns: []Column{
			{Name: "call_id", Doc: "`tool_calls.id`."},
			{Name: "started_at", Doc: "When it was called."},
			{Name: "session", Doc: "`sessions.name`."},
			{Name: "server_pid", Doc: "The server's pid."},
			{Name: "server_comm", Doc: "The server's command name."},
			{Name: "method", Doc: "The method."},
			{Name: "name", Doc: "Tool or prompt name, or resource URI."},
			{Name: "status", Doc: "How it ended (`tool_calls.status`)."},
			{Name: "duration_ms", Doc: "How long it took."},
			{Name: "user_cpu_ms", Doc: "User CPU of the server's tree."},
			{Name: "sys_cpu_ms", Doc: "Kernel CPU of the server's tree."},
			{Name: "syscalls", Doc: "System calls made (sum of `syscalls.count`)."},
			{Name: "files", Doc: "Distinct files opened."},
			{Name: "programs", Doc: "Programs started."},
			{Name: "connections", Doc: "Network rows."},
			{Name: "libraries", Doc: "Libraries mapped."},
			{Name: "gpu", Doc: "GPU rows."},
			{Name: "server_addr", Doc: "HTTP: the server's address and port."},
		},
		Select: `SELECT c.id, c.started_at, s.name, c.server_pid, c.server_comm, c.method, coalesce(c.tool, c.prompt, c.resource),
  c.status, c.duration_ms, c.user_cpu_ms, c.sys_cpu_ms,
  (SELECT coalesce(sum(count), 0) FROM syscalls WHERE call_id = c.id),
  (SELECT count(DISTINCT path) FROM files WHERE call_id = c.id),
  (SELECT count(*) FROM execs WHERE call_id = c.id),
  (SELECT count(*) FROM connections WHERE call_id = c.id),
  (SELECT count(*) FROM libraries WHERE call_id = c.id),
  (SELECT count(*) FROM gpu WHERE call_id = c.id),
  c.server_addr
FROM tool_calls c JOIN sessions s ON s.id = c.session_id`,
	},
	{
		Name: "http_errors",
		View: true,
		Doc:  "HTTP requests answered with an error status (400 and up), whether the response carried a JSON-RPC message (`messages`) or not (`http_exchanges`), in time order: what a failing HTTP client ran into.",
		Columns: []Column{
			{Name: "ts", Doc: "When the response was sent."},
			{Name: "source", Doc: "`http_exchanges` or `messages`: the table of the row."},
			{Name: "row_id", Doc: "Its id there."},
			{Name: "session", Doc: "`sessions.name`."},
			{Name: "method", Doc: "The request's method."},
			{Name: "path", Doc: "The request's path."},
			{Name: "status", Doc: "The status code."},
			{Name: "detail", Doc: "What the server said: the start of the body, or the JSON-RPC error message."},
		},
		Select: `SELECT e.ts, 'http_exchanges', e.id, s.name, e.method, e.path, e.status, e.response_body
FROM http_exchanges e LEFT JOIN sessions s ON s.id = e.session_id WHERE e.status >= 400
UNION ALL
SELECT m.ts, 'messages', m.id, s.name, m.http_method, m.http_path, m.http_status, m.error_message
FROM messages m LEFT JOIN sessions s ON s.id = m.session_id WHERE m.http_status >= 400
ORDER BY 1, 2, 3`,
	},
}

// Schema returns every table and view of the database, in creation order.
func Schema() []Table { return slices.Clone(schema) }

// ddl returns the statements that create the schema in an empty database.
func ddl() []string {
	var out []string
	for i := range schema {
		out = append(out, createSQL(&schema[i])...)
	}
	return out
}

// createSQL returns the statements that create t: the table and its indexes, or the view.
func createSQL(t *Table) []string {
	var b strings.Builder
	if t.View {
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = c.Name
		}
		fmt.Fprintf(&b, "CREATE VIEW %s(%s) AS\n%s", t.Name, strings.Join(names, ", "), t.Select)
		return []string{b.String()}
	}
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", t.Name)
	for i, c := range t.Columns {
		b.WriteString("  " + columnSQL(c))
		if i < len(t.Columns)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(")")
	out := []string{b.String()}
	for _, ix := range t.Indexes {
		out = append(out, fmt.Sprintf("CREATE INDEX %s ON %s(%s)", indexName(t.Name, ix), t.Name, ix))
	}
	return out
}

// columnSQL is the definition of c in CREATE TABLE or ALTER TABLE ADD COLUMN.
func columnSQL(c Column) string {
	def := c.Name + " " + c.Type
	if c.Constraint != "" {
		def += " " + c.Constraint
	}
	return def
}

// indexName is the name of the index of table on the column list ix.
func indexName(table, ix string) string {
	return table + "_" + strings.ReplaceAll(strings.ReplaceAll(ix, ",", "_"), " ", "")
}

// WriteText writes the schema for people, as `mcpscope query --schema` prints it: every table and view, what it
// holds, and each column with its type and meaning.
func WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mcpscope database schema, version %d (PRAGMA user_version). Times are RFC 3339 UTC text with 9 fractional digits.\n", SchemaVersion)
	for _, t := range schema {
		fmt.Fprintf(&b, "\n%s %s: %s\n", t.Kind(), t.Name, stripTicks(t.Doc))
		width := 0
		for _, c := range t.Columns {
			width = max(width, len(c.Name))
		}
		for _, c := range t.Columns {
			typ := c.Type
			if typ == "" {
				typ = "-"
			}
			fmt.Fprintf(&b, "  %-*s  %-7s  %s\n", width, c.Name, typ, stripTicks(c.Doc))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the schema reference of docs/sql.md (between its generated-section markers).
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	for _, t := range schema {
		fmt.Fprintf(&b, "### `%s` (%s)\n\n%s\n\n", t.Name, t.Kind(), t.Doc)
		if t.View {
			b.WriteString("| Column | Meaning |\n|---|---|\n")
			for _, c := range t.Columns {
				fmt.Fprintf(&b, "| `%s` | %s |\n", c.Name, cell(c.Doc))
			}
		} else {
			b.WriteString("| Column | Type | Meaning |\n|---|---|---|\n")
			for _, c := range t.Columns {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Name, c.Type, cell(c.Doc))
			}
		}
		if len(t.Indexes) > 0 {
			ix := make([]string, len(t.Indexes))
			for i, x := range t.Indexes {
				ix[i] = "`" + x + "`"
			}
			fmt.Fprintf(&b, "\nIndexed on %s.\n", strings.Join(ix, ", "))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimSuffix(b.String(), "\n"))
	return err
}

// cell escapes the pipes of a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// stripTicks removes the Markdown backticks of a description for plain-text output.
func stripTicks(s string) string { return strings.ReplaceAll(s, "`", "") }
