package store

import (
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Capture is a row of captures: one `watch` run.
type Capture struct {
	ID          int64
	StartedAt   time.Time
	EndedAt     time.Time // zero while it runs
	Version     string
	Hostname    string
	Pid         int
	Counters    map[string]uint64 // nil until the final stats
	RowsDropped uint64
}

// Process is a row of processes.
type Process struct {
	ID, CaptureID int64
	Pid           int
	Comm          string
	FirstSeen     time.Time
	LastSeen      time.Time
}

// Session is a row of sessions. A zero Client or Server pid is stored as NULL (not known yet, or a peer on
// another host); their Addr, when set, as client_addr and server_addr.
type Session struct {
	ID, CaptureID   int64
	Name, Transport string
	Client, Server  record.Endpoint
	Era             string
	ProtocolVersion string
	FirstSeen       time.Time
	LastSeen        time.Time
	Messages        int64
}

// Message is a row of messages: the record as captured, with the ids that link it. The store reads Record from its
// writer goroutine after Submit returns, so the caller must hand over a record whose byte slices nothing else
// will modify (see the storesink package, which copies them).
type Message struct {
	ID        int64
	SessionID int64 // 0: NULL
	CallID    int64 // 0: NULL
	Record    record.Message
}

// HTTPExchange is a row of http_exchanges: the record as captured, with the id of its session. As with Message,
// the store reads Record from its writer goroutine, so its slices must not be modified after Submit.
type HTTPExchange struct {
	ID        int64
	SessionID int64 // 0: NULL
	Record    record.HTTP
}

// Call statuses (tool_calls.status).
const (
	StatusRunning    = "running"
	StatusOK         = "ok"
	StatusToolError  = "tool_error"
	StatusError      = "error"
	StatusCancelled  = "cancelled"
	StatusUnanswered = "unanswered"
)

// Call is a row of tool_calls. The Addr of Client and Server, when set, is stored as client_addr and server_addr.
type Call struct {
	ID                int64
	SessionID         int64
	Method            string
	Tool              string
	Resource          string
	Prompt            string
	RPCID             string // JSON text
	Client, Server    record.Endpoint
	Arguments         []byte // JSON text; nil: NULL
	StartedAt         time.Time
	EndedAt           time.Time // zero: not answered
	DurationMs        *float64
	Status            string
	IsError           *bool
	Error             *record.RPCError
	Cancelled         bool
	RequestMessageID  int64 // 0: NULL
	ResponseMessageID int64 // 0: NULL
	// CPU of the server's process tree; nil: not recorded. An upsert of the call never clears a recorded value.
	UserCPUMs, SysCPUMs *float64
}

// Footprint is what one tool call did on the host, as the kernel side attributes it: every part is written in
// the same transaction as the rest of its batch. Rows whose call no longer exists (pruned) are skipped and
// counted. CPU, when set, is recorded on the call.
type Footprint struct {
	CallID              int64
	UserCPUMs, SysCPUMs *float64
	Syscalls            []Syscall
	Files               []File
	Execs               []Exec
	Connections         []Connection
	Libraries           []Library
	GPU                 []GPUUse
}

// Rows returns the number of rows f adds.
func (f *Footprint) Rows() int {
	return len(f.Syscalls) + len(f.Files) + len(f.Execs) + len(f.Connections) + len(f.Libraries) + len(f.GPU)
}

// Syscall is a row of syscalls: calls of one system call by one process during a tool call.
type Syscall struct {
	Pid     int
	Shared  bool
	Name    string
	Count   uint64
	Errors  uint64
	Errnos  map[string]uint64 // by errno name; nil: NULL
	TotalNs uint64
}

// File is a row of files.
type File struct {
	Pid    int
	Shared bool
	Path   string
	Flags  string
	Result string // "ok" or the errno name
	Count  uint64 // 0 is stored as 1
}

// Exec is a row of execs.
type Exec struct {
	Pid        int
	Shared     bool
	Ppid       int
	Filename   string
	Argv       []string
	ExitCode   *int
	StartedAt  time.Time
	DurationMs *float64
}

// Connection is a row of connections.
type Connection struct {
	Pid        int
	Shared     bool
	Op         string // connect, accept, listen
	Family     string // ipv4, ipv6, unix
	RemoteAddr string
	RemotePort *int
	Result     string
	Count      uint64 // 0 is stored as 1
}

// Library is a row of libraries.
type Library struct {
	Pid    int
	Shared bool
	Path   string
	Kind   string // library, executable
}

// GPUUse is a row of gpu.
type GPUUse struct {
	Pid    int
	Shared bool
	Kind   string // device, library, program, driver_call
	Detail string
	Count  uint64 // 0 is stored as 1
}

// Batch is a set of rows written in one transaction, in this order: captures, processes, sessions, calls,
// messages, HTTP exchanges, footprints. Rows with an id that exists already update it (captures, processes, sessions, calls):
// a batch should carry the current state of every session and call its messages refer to, so that it stands on
// its own whatever happened to earlier batches (dropped because the database was slow, or pruned).
type Batch struct {
	Captures   []Capture
	Processes  []Process
	Sessions   []Session
	Calls      []Call
	Messages   []Message
	Exchanges  []HTTPExchange
	Footprints []Footprint
}

// reset empties b for reuse. It keeps the room of a slice of up to keptRows rows, and lets larger ones go: a
// flood's batches are rare enough to allocate, and not worth holding on to afterwards.
func (b *Batch) reset() {
	b.Captures = emptied(b.Captures)
	b.Processes = emptied(b.Processes)
	b.Sessions = emptied(b.Sessions)
	b.Calls = emptied(b.Calls)
	b.Messages = emptied(b.Messages)
	b.Exchanges = emptied(b.Exchanges)
	b.Footprints = emptied(b.Footprints)
}

// keptRows bounds the room reset keeps in each slice of a Batch.
const keptRows = 256

func emptied[T any](rows []T) []T {
	if cap(rows) > keptRows {
		return nil
	}
	clear(rows) // let go of the text and the slices the rows point to
	return rows[:0]
}

// Rows returns the number of rows in b.
func (b *Batch) Rows() int {
	n := len(b.Captures) + len(b.Processes) + len(b.Sessions) + len(b.Calls) + len(b.Messages) + len(b.Exchanges)
	for i := range b.Footprints {
		n += b.Footprints[i].Rows()
	}
	return n
}

// Bytes estimates the memory b holds: its message text plus a fixed cost per row.
func (b *Batch) Bytes() int64 {
	n := int64(b.Rows()) * 256
	for i := range b.Messages {
		n += int64(len(b.Messages[i].Record.Message))
	}
	for i := range b.Calls {
		n += int64(len(b.Calls[i].Arguments))
	}
	for i := range b.Exchanges {
		n += b.Exchanges[i].Bytes()
	}
	return n
}

// Bytes estimates the memory of e's variable parts beyond the fixed cost of a row: its body and headers.
func (e *HTTPExchange) Bytes() int64 {
	n := int64(len(e.Record.ResponseBody))
	for _, hs := range [][]record.HTTPHeader{e.Record.RequestHeaders, e.Record.ResponseHeaders} {
		for _, h := range hs {
			n += int64(len(h.Name) + len(h.Value) + 16)
		}
	}
	return n
}
