// Package record defines the records mcpscope writes: one JSON object per line in JSONL output, and the values
// handed to every sink (console, JSONL, and later the SQL store and exporters). It is the contract documented in
// docs/jsonl.md; change both together and bump SchemaVersion when a field changes meaning or goes away.
package record

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the version of the JSONL schema. Adding optional fields does not bump it.
const SchemaVersion = 1

// Record kinds.
const (
	KindMessage = "message" // one MCP (JSON-RPC) message
	KindStats   = "stats"   // counters: bytes lost in the kernel, junk skipped, ...
	// KindHTTP is one HTTP exchange of an MCP connection that carried no JSON-RPC message back (202 Accepted, an
	// error status, a DELETE of a session, the opening of an SSE stream): what a failing client is debugged with.
	KindHTTP = "http"
	// KindFootprint is what one tool call (tools/call, resources/read, prompts/get) made its server's process tree
	// do on the host: syscalls, files, programs, connections, libraries, CPU.
	KindFootprint = "footprint"
)

// Message types.
const (
	TypeRequest      = "request"
	TypeResponse     = "response" // error responses too; they carry Error
	TypeNotification = "notification"
)

// Transports.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"  // plain HTTP over TCP (Streamable HTTP, the legacy HTTP+SSE transport)
	TransportHTTPS = "https" // the same over TLS, from the TLS library's plaintext
)

// Directions relative to the MCP roles.
const (
	ClientToServer = "client_to_server"
	ServerToClient = "server_to_client"
)

// Eras of the protocol (see docs/jsonl.md): legacy is 2024-11-05 … 2025-11-25, modern is 2026-07-28 and later.
const (
	EraLegacy = "legacy"
	EraModern = "modern"
)

// Endpoint names a process on one side of a message. Pid is the thread-group id (what ps shows as PID).
type Endpoint struct {
	Pid  int    `json:"pid"`
	Comm string `json:"comm"`
	// Addr is the address and port of the process's socket ("127.0.0.1:3001", "[::1]:3001") on the HTTP
	// transports. A remote peer has Pid 0 and only Addr.
	Addr string `json:"addr,omitempty"`
}

// RPCError is a JSON-RPC error object, without its data member (the full object stays in Message.Message).
type RPCError struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}

// Batch places a message inside a JSON-RPC batch (an array; valid only in protocol 2025-03-26).
type Batch struct {
	Index int `json:"index"` // 0-based position in the array
	Count int `json:"count"` // elements in the array
	Size  int `json:"size"`  // bytes of the whole array as written
}

// Message is one MCP message as seen on the wire.
type Message struct {
	Kind      string    `json:"kind"` // KindMessage
	Time      time.Time `json:"ts"`   // when the last byte of the message was written
	Transport string    `json:"transport"`
	// Session identifies the conversation the message belongs to: for stdio, the pair of processes and the
	// kernel streams (pipe or socket inodes) that connect them, e.g. "stdio:4242-4250".
	Session   string `json:"session,omitempty"`
	Direction string `json:"direction,omitempty"` // ClientToServer or ServerToClient, when known
	Type      string `json:"type"`                // TypeRequest, TypeResponse or TypeNotification

	// ID is the JSON-RPC id exactly as sent (number or string); absent on notifications.
	ID json.RawMessage `json:"id,omitempty"`
	// Method is the method; on a response, the method of the request it answers (when that request was seen).
	Method string `json:"method,omitempty"`
	// MethodKind says what the catalogue knows of Method: "" for a method of the protocol, "extension" for a
	// known extension (ui/*, skills/*, ...), "unknown" for anything else. Unknown methods are reported, never dropped.
	MethodKind string `json:"method_kind,omitempty"`

	Tool     string `json:"tool,omitempty"`     // tools/call: params.name
	Resource string `json:"resource,omitempty"` // resources/read, resources/subscribe, ...: params.uri
	Prompt   string `json:"prompt,omitempty"`   // prompts/get: params.name

	From Endpoint `json:"from"` // the process that wrote the message
	To   Endpoint `json:"to"`   // the process that read it (pid 0 when no reader was seen)

	Size      int      `json:"size"`                 // bytes of the message as written, without the newline
	LatencyMs *float64 `json:"latency_ms,omitempty"` // on responses matched to their request

	// IsError is result.isError of a tools/call result: a tool error, kept apart from JSON-RPC errors (Error).
	IsError *bool     `json:"is_error,omitempty"`
	Error   *RPCError `json:"error,omitempty"`

	Era             string `json:"era,omitempty"`
	ProtocolVersion string `json:"protocol_version,omitempty"`
	// ResultType is result.resultType in the modern era ("complete", "input_required", "task").
	ResultType string `json:"result_type,omitempty"`

	// ProgressToken is params._meta.progressToken on requests, params.progressToken on progress notifications.
	ProgressToken json.RawMessage `json:"progress_token,omitempty"`
	// RelatedID is the id of the request a notification refers to (notifications/cancelled requestId, or the
	// request whose progressToken a notifications/progress carries).
	RelatedID json.RawMessage `json:"related_id,omitempty"`
	// Late marks a response that arrived after its request was cancelled (notifications/cancelled).
	Late bool `json:"late,omitempty"`
	// RetryOf is the id of the original request when this request retries it with inputResponses (modern-era
	// multi-round-trip requests); latency of the final response is measured from the original request.
	RetryOf json.RawMessage `json:"retry_of,omitempty"`

	Batch *Batch `json:"batch,omitempty"`

	// HTTP is the HTTP context of a message on the HTTP transports: the request that carried it or that it answers.
	HTTP *HTTPInfo `json:"http,omitempty"`

	// Message is the JSON-RPC message itself, verbatim as written (key order and content as sent). It is absent
	// when bytes were lost (Truncated) and the message cannot be embedded as valid JSON.
	Message json.RawMessage `json:"message,omitempty"`
	// Arguments is params.arguments of a request, a slice of Message (nil when absent), for sinks that keep it apart
	// (the SQL store's tool_calls.arguments). Not a JSONL field: Message holds it.
	Arguments json.RawMessage `json:"-"`
	// Truncated is true only where bytes were lost between the writer and mcpscope; LostBytes says how many.
	Truncated bool  `json:"truncated,omitempty"`
	LostBytes int64 `json:"lost_bytes,omitempty"`
}

// HTTPInfo is the HTTP context of a message or an exchange.
type HTTPInfo struct {
	Proto  string `json:"proto,omitempty"`  // "HTTP/1.1", "HTTP/2"
	Method string `json:"method,omitempty"` // of the request
	Path   string `json:"path,omitempty"`   // of the request, without its query
	Host   string `json:"host,omitempty"`   // Host header or :authority
	// Status is the response's status code: set on messages carried by a response and on exchanges; 0 on requests
	// and when the response was not seen.
	Status int `json:"status,omitempty"`
	// ContentType is the media type of the HTTP message that carried the record's JSON-RPC message (on exchanges:
	// of the response).
	ContentType string `json:"content_type,omitempty"`
	// SessionID is the Mcp-Session-Id header, or the legacy transport's sessionId query parameter. Unless
	// mcpscope runs with --no-redact it is not the value but "redacted:" and the first 12 hex digits of its
	// SHA-256: equal sessions keep equal ids, and the credential is not written out.
	SessionID       string `json:"session_id,omitempty"`
	ProtocolVersion string `json:"protocol_version,omitempty"` // MCP-Protocol-Version header
	MCPMethod       string `json:"mcp_method,omitempty"`       // Mcp-Method header (2026-07-28)
	MCPName         string `json:"mcp_name,omitempty"`         // Mcp-Name header (2026-07-28)
	// SSEEventID is the id: field of the server-sent event that carried the message.
	SSEEventID string `json:"sse_event_id,omitempty"`
	// StreamID is the HTTP/2 stream of the exchange.
	StreamID uint32 `json:"stream_id,omitempty"`
}

// HTTPHeader is one header field as sent; sensitive values (Authorization, cookies, Mcp-Session-Id, API keys) read
// "[redacted]" unless mcpscope runs with --no-redact.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HTTP is one HTTP exchange on an MCP connection whose response carried no JSON-RPC message: a 202 Accepted, an
// error status, the DELETE of a session, the opening of an SSE stream (Event "stream_open") or a request whose
// response was never seen (Event "unanswered").
type HTTP struct {
	Kind      string    `json:"kind"` // KindHTTP
	Time      time.Time `json:"ts"`   // when the last byte of the response (stream_open: of its headers) was sent
	Transport string    `json:"transport"`
	Session   string    `json:"session,omitempty"`
	// Event is "exchange" (a complete request and response), "stream_open" (the headers of a text/event-stream
	// response that carries no JSON-RPC yet: its messages follow as records of their own) or "unanswered".
	Event string   `json:"event"`
	From  Endpoint `json:"from"` // the client
	To    Endpoint `json:"to"`   // the server
	HTTP  HTTPInfo `json:"http"`
	// LatencyMs is from the request's last byte to the response's last byte (stream_open: to its headers).
	LatencyMs *float64 `json:"latency_ms,omitempty"`
	// RequestSize and ResponseSize are the body bytes received (after de-chunking, before decompression).
	RequestSize  int64 `json:"request_size"`
	ResponseSize int64 `json:"response_size"`
	// RequestHeaders and ResponseHeaders are the header fields in wire order, redacted unless --no-redact.
	RequestHeaders  []HTTPHeader `json:"request_headers,omitempty"`
	ResponseHeaders []HTTPHeader `json:"response_headers,omitempty"`
	// ResponseBody is the start of a response body that is not JSON-RPC (an error page, "Invalid session"), at
	// most 1 KiB, as text.
	ResponseBody string `json:"response_body,omitempty"`
	Truncated    bool   `json:"truncated,omitempty"`
	LostBytes    int64  `json:"lost_bytes,omitempty"`
	// BeganBeforeCapture says the exchange was under way when capture joined its connection (an HTTP/2 stream opened
	// before watch started): its request and the start of its response were never seen, so truncated is set too,
	// with no bytes lost.
	BeganBeforeCapture bool `json:"began_before_capture,omitempty"`
}

// Stats is a periodic and final summary of what was captured and what could not be.
type Stats struct {
	Kind string    `json:"kind"` // KindStats
	Time time.Time `json:"ts"`
	// Counters by name, e.g. "messages", "kernel_lost_bytes", "junk_lines". docs/jsonl.md lists them.
	Counters map[string]uint64 `json:"counters"`
}

// Footprint is the kernel footprint of one call: everything the server's process tree did from the read that
// delivered the request to the write that began the response.
type Footprint struct {
	Kind      string          `json:"kind"` // KindFootprint
	Time      time.Time       `json:"ts"`   // when the response began
	Session   string          `json:"session,omitempty"`
	ID        json.RawMessage `json:"id"` // the request's JSON-RPC id as sent
	Method    string          `json:"method"`
	Tool      string          `json:"tool,omitempty"`
	Client    Endpoint        `json:"client"`
	Server    Endpoint        `json:"server"`
	StartedAt time.Time       `json:"started_at"` // the server's read of the request
	// Shared is set when another call of the same server overlapped this one and some of what happened during the
	// overlap could not be given to one call: it is in the footprint of every call that overlapped, in rows marked
	// shared.
	Shared bool `json:"shared,omitempty"`
	// ByThread is set when calls overlapped on a server that runs each task on one thread (CPython): what a thread
	// did for the one call whose answer it wrote is that call's alone (rows not shared), and only what the server's
	// other threads did is shared.
	ByThread    bool               `json:"by_thread,omitempty"`
	UserCPUMs   float64            `json:"user_cpu_ms"`
	SysCPUMs    float64            `json:"sys_cpu_ms"`
	Syscalls    []FootprintSyscall `json:"syscalls,omitempty"`
	Files       []FootprintFile    `json:"files,omitempty"`
	Execs       []FootprintExec    `json:"execs,omitempty"`
	Connections []FootprintConn    `json:"connections,omitempty"`
	Libraries   []FootprintLibrary `json:"libraries,omitempty"`
	GPU         []FootprintGPU     `json:"gpu,omitempty"`
}

// FootprintSyscall counts one syscall of one process during a call.
type FootprintSyscall struct {
	Pid     int               `json:"pid"`
	Shared  bool              `json:"shared,omitempty"`
	Name    string            `json:"name"`
	Count   uint64            `json:"count"`
	Errors  uint64            `json:"errors,omitempty"`
	Errnos  map[string]uint64 `json:"errnos,omitempty"`
	TotalNs uint64            `json:"total_ns"`
}

// FootprintFile is a file a process opened (or failed to) during a call, with how many times.
type FootprintFile struct {
	Pid    int    `json:"pid"`
	Shared bool   `json:"shared,omitempty"`
	Path   string `json:"path"`
	Flags  string `json:"flags"`
	Result string `json:"result"` // "ok" or the errno name
	Count  uint64 `json:"count"`
}

// FootprintExec is a program started during a call.
type FootprintExec struct {
	Pid        int       `json:"pid"`
	Shared     bool      `json:"shared,omitempty"`
	Ppid       int       `json:"ppid"`
	Filename   string    `json:"filename"`
	Argv       []string  `json:"argv"`
	ExitCode   *int      `json:"exit_code,omitempty"` // absent while it runs on after the call
	StartedAt  time.Time `json:"started_at"`
	DurationMs *float64  `json:"duration_ms,omitempty"`
}

// FootprintConn is a connect or listen during a call.
type FootprintConn struct {
	Pid    int    `json:"pid"`
	Shared bool   `json:"shared,omitempty"`
	Op     string `json:"op"`     // connect, listen
	Family string `json:"family"` // ipv4, ipv6, unix
	Addr   string `json:"addr"`   // connect: the remote address (a path for unix); listen: the local one
	Port   *int   `json:"port,omitempty"`
	Result string `json:"result"` // "ok" or the errno name (EINPROGRESS for a non-blocking connect under way)
	Count  uint64 `json:"count"`
}

// FootprintLibrary is a shared library a process opened, or a program it executed.
type FootprintLibrary struct {
	Pid    int    `json:"pid"`
	Shared bool   `json:"shared,omitempty"`
	Path   string `json:"path"`
	Kind   string `json:"kind"` // library, executable
}

// FootprintGPU is a touch of a GPU during a call: a device opened, a GPU library loaded, a GPU tool started.
type FootprintGPU struct {
	Pid    int    `json:"pid"`
	Shared bool   `json:"shared,omitempty"`
	Kind   string `json:"kind"`   // device, library, program, driver_call
	Detail string `json:"detail"` // the device or library path (with the errno when the open failed), the program, the CUDA driver function
	Count  uint64 `json:"count"`
}
