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

	// Message is the JSON-RPC message itself, verbatim as written (key order and content as sent). It is absent
	// when bytes were lost (Truncated) and the message cannot be embedded as valid JSON.
	Message json.RawMessage `json:"message,omitempty"`
	// Truncated is true only where bytes were lost between the writer and mcpscope; LostBytes says how many.
	Truncated bool  `json:"truncated,omitempty"`
	LostBytes int64 `json:"lost_bytes,omitempty"`
}

// Stats is a periodic and final summary of what was captured and what could not be.
type Stats struct {
	Kind string    `json:"kind"` // KindStats
	Time time.Time `json:"ts"`
	// Counters by name, e.g. "messages", "kernel_lost_bytes", "junk_lines". docs/jsonl.md lists them.
	Counters map[string]uint64 `json:"counters"`
}
