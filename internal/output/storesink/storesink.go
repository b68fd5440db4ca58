// Package storesink records the pipeline's records into the SQL store (package store): every message, every HTTP
// exchange that carried no message (http_exchanges), the sessions and processes they belong to, and one tool_calls
// row per tools/call, resources/read and prompts/get, built from the request and its response.
//
// A [Sink] is an [output.Sink] like the console and JSONL writers, called from the pipeline's one goroutine. It
// turns records into rows, collects them into a [store.Batch], and hands the batch to the store (which writes it
// from its own goroutine) when the batch holds BatchRows rows or BatchBytes bytes, is older than MaxAge, or the
// pipeline calls Flush. It never blocks on the database: when the store's queue is full the batch is dropped and
// counted, a warning goes to the log, and the next batch carries the current rows of the sessions, processes and
// calls the dropped one touched, so they stay right.
//
// # Calls
//
// A call is keyed by session, requesting process and JSON-RPC id, the way the correlator (internal/mcp) pairs
// them, so two sessions that use the same ids never mix. The request opens it (status running); its final
// response closes it (ok, tool_error or error, with the duration the correlator measured); a
// notifications/cancelled for it marks it cancelled (a late response still closes it, keeping cancelled = 1);
// progress notifications are linked to it. A modern-era result with resultType input_required keeps it open for
// the retry that names it in retry_of. At Close, calls still open become unanswered (or stay cancelled). At most
// MaxOpenCalls are kept open; beyond that the oldest is closed as unanswered.
package storesink

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/store"
)

// Defaults for Options.
const (
	DefaultBatchRows    = 2048
	DefaultBatchBytes   = 4 << 20
	DefaultMaxAge       = 500 * time.Millisecond
	DefaultMaxOpenCalls = 65536
	// maxKnown bounds the sessions and the processes the Sink remembers; past it the least recently seen half
	// without open calls is forgotten (a forgotten one that speaks again gets a new row).
	maxKnown  = 16384
	warnEvery = 10 * time.Second
)

// Options configure a Sink.
type Options struct {
	Version  string // mcpscope's version, recorded in captures
	Hostname string // default os.Hostname()
	Pid      int    // default os.Getpid()
	Log      io.Writer
	// Batch bounds: a batch goes to the store when it reaches either size, or is older than MaxAge.
	BatchRows  int
	BatchBytes int64
	MaxAge     time.Duration
	// MaxOpenCalls bounds the calls awaiting their response.
	MaxOpenCalls int
	// CloseWait bounds how long Close waits for room in the store's queue for the last batch (default 1 s); the
	// store's own CloseTimeout then bounds the writing.
	CloseWait time.Duration
	// Now is the clock for capture times and batch ages (default time.Now).
	Now func() time.Time
}

// Sink writes records into a store. It implements [output.Sink] and [output.Flusher]; it is used from one
// goroutine. Close closes the store.
type Sink struct {
	st   *store.Store
	opts Options

	capture store.Capture
	batch   *store.Batch
	born    time.Time // when the batch got its first row
	bytes   int64

	processes map[procKey]*process
	sessions  map[string]*session
	calls     map[callKey]*call // open calls, by the id of their last request
	awaiting  map[callKey]*call // calls whose input_required result awaits its retry
	// answered are the ids of recently answered calls, for their footprints (which follow the response), with
	// answeredOrder to forget the oldest past maxAnswered.
	answered      map[callKey]int64
	answeredOrder []callKey
	age           list.List // open and awaiting calls, oldest first

	// Rows touched since the last batch was accepted; the next batch carries their current state.
	gen          uint64
	touchedProcs []*process
	touchedSess  []*session
	touchedCalls []*call
	lastWarn     time.Time
	closed       bool
	final        bool // the batch being submitted is the last
}

// ErrClosed is returned by a Sink's methods after Close.
var ErrClosed = errors.New("storesink: closed")

var (
	_ output.Sink    = (*Sink)(nil)
	_ output.Flusher = (*Sink)(nil)
)

type process struct {
	row store.Process
	gen uint64
}

// procKey identifies a processes row: a pid and its command name (an exec changes the name). Not the whole
// Endpoint: on HTTP the socket address differs per connection, and it is the process, not the socket, that the
// row describes.
type procKey struct {
	pid  int
	comm string
}

type session struct {
	row  store.Session
	gen  uint64
	open int // calls of the session still open
}

type call struct {
	row  store.Call
	sess *session
	key  callKey
	wait bool // in awaiting rather than calls
	elem *list.Element
	gen  uint64
}

// callKey identifies a request the way the correlator does: session, requesting process, id as sent.
type callKey struct {
	session string
	pid     int
	id      string
}

// New returns a Sink writing into st, and records the start of a capture.
func New(st *store.Store, opts Options) *Sink {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Pid == 0 {
		opts.Pid = os.Getpid()
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultBatchBytes
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.CloseWait <= 0 {
		opts.CloseWait = time.Second
	}
	if opts.MaxOpenCalls <= 0 {
		opts.MaxOpenCalls = DefaultMaxOpenCalls
	}
	s := &Sink{
		st:        st,
		opts:      opts,
		batch:     st.NewBatch(),
		processes: map[procKey]*process{},
		sessions:  map[string]*session{},
		calls:     map[callKey]*call{},
		awaiting:  map[callKey]*call{},
		answered:  map[callKey]int64{},
		gen:       1,
	}
	s.capture = store.Capture{ID: st.NextID(store.IDCapture), StartedAt: opts.Now(), Version: opts.Version, Hostname: opts.Hostname, Pid: opts.Pid}
	s.submit() // the capture row, at once: `mcpscope query` shows a capture in progress
	return s
}

// Store returns the store the Sink writes into.
func (s *Sink) Store() *store.Store { return s.st }

// CaptureID returns the id of the capture row this Sink writes.
func (s *Sink) CaptureID() int64 { return s.capture.ID }

// WriteMessage records m. It never blocks on the database and never fails: rows the database cannot take in
// time are dropped and counted (see [Sink.Dropped]).
func (s *Sink) WriteMessage(m *record.Message) error {
	if s.closed {
		return ErrClosed
	}
	msg := store.Message{ID: s.st.NextID(store.IDMessage), Record: own(m)}
	r := &msg.Record
	if r.Session != "" {
		msg.SessionID = s.messageSession(r).row.ID
	}
	s.process(r.From, r.Time)
	s.process(r.To, r.Time)
	if c := s.callOf(&msg); c != nil {
		msg.CallID = c.row.ID
		s.touchCall(c)
	}
	s.batch.Messages = append(s.batch.Messages, msg)
	s.added(int64(len(r.Message)) + 256)
	return nil
}

// WriteHTTP records h, an HTTP exchange that carried no JSON-RPC message, as a row of http_exchanges, and its
// session and processes as WriteMessage does (without counting it as a message). Like WriteMessage it never
// blocks and never fails.
func (s *Sink) WriteHTTP(h *record.HTTP) error {
	if s.closed {
		return ErrClosed
	}
	e := store.HTTPExchange{ID: s.st.NextID(store.IDHTTPExchange), Record: ownHTTP(h)}
	r := &e.Record
	if r.Session != "" {
		ss := s.session(r.Session, r.Transport, r.Time)
		ss.row.Client, ss.row.Server = r.From, r.To // an exchange always runs from the client to the server
		e.SessionID = ss.row.ID
	}
	s.process(r.From, r.Time)
	s.process(r.To, r.Time)
	s.batch.Exchanges = append(s.batch.Exchanges, e)
	s.added(e.Bytes() + 256)
	return nil
}

// added accounts for a row of n bytes appended to the batch, and submits the batch when it is full or old.
func (s *Sink) added(n int64) {
	s.bytes += n
	if s.born.IsZero() {
		s.born = s.opts.Now()
	}
	if len(s.batch.Messages)+len(s.batch.Exchanges) >= s.opts.BatchRows || s.bytes >= s.opts.BatchBytes || s.opts.Now().Sub(s.born) >= s.opts.MaxAge {
		s.submit()
	}
}

// AddFootprint records the footprint of a call (from the kernel side) with the next batch, in the same
// transaction as the call's own row when the call was touched since the last batch. Rows for a call that is not
// in the database (pruned, or its rows dropped) are skipped by the store and counted.
func (s *Sink) AddFootprint(f store.Footprint) {
	if s.closed {
		return
	}
	s.batch.Footprints = append(s.batch.Footprints, f)
	s.bytes += int64(f.Rows()) * 256
	if s.born.IsZero() {
		s.born = s.opts.Now()
	}
}

// WriteStats keeps the counters for the capture row; the final ones are written at Close.
func (s *Sink) WriteStats(st *record.Stats) error {
	if s.closed {
		return ErrClosed
	}
	s.capture.Counters = make(map[string]uint64, len(st.Counters))
	for k, v := range st.Counters {
		s.capture.Counters[k] = v
	}
	return nil
}

// Flush hands the rows collected so far to the store.
func (s *Sink) Flush() error {
	if s.closed {
		return ErrClosed
	}
	if len(s.batch.Messages) > 0 || len(s.batch.Exchanges) > 0 || len(s.batch.Footprints) > 0 || len(s.touchedCalls) > 0 {
		s.submit()
	}
	return nil
}

// Dropped returns the messages not recorded so far because the database could not keep up.
func (s *Sink) Dropped() uint64 { return s.st.Stats().MessagesDropped }

// Close closes the calls still open (unanswered, or cancelled), records the end of the capture, writes
// everything out and closes the store.
func (s *Sink) Close() error {
	if s.closed {
		return ErrClosed
	}
	for e := s.age.Front(); e != nil; e = e.Next() {
		c := e.Value.(*call)
		if c.row.Status == store.StatusRunning {
			c.row.Status = store.StatusUnanswered
		}
		s.touchCall(c)
	}
	s.capture.EndedAt = s.opts.Now()
	s.capture.RowsDropped = s.st.Stats().MessagesDropped
	s.final = true
	s.submit()
	s.closed = true
	return s.st.Close() // the caller reports the totals (Store().Stats()); the log had the warnings
}

// submit hands the batch, with the current rows of everything it touched, to the store.
func (s *Sink) submit() {
	b := s.batch
	b.Captures = append(b.Captures, s.capture)
	for _, p := range s.touchedProcs {
		b.Processes = append(b.Processes, p.row)
	}
	for _, ss := range s.touchedSess {
		b.Sessions = append(b.Sessions, ss.row)
	}
	for _, c := range s.touchedCalls {
		b.Calls = append(b.Calls, c.row)
	}
	s.batch, s.bytes, s.born = s.st.NewBatch(), 0, time.Time{}
	wait := time.Duration(0)
	if s.final {
		wait = s.opts.CloseWait // the last batch: nothing comes after it to carry its rows
	}
	if !s.st.SubmitWait(b, wait) {
		// Keep the touched lists: the next batch carries those rows again.
		s.warnDropped()
		return
	}
	s.gen++
	s.touchedProcs, s.touchedSess, s.touchedCalls = s.touchedProcs[:0], s.touchedSess[:0], s.touchedCalls[:0]
}

func (s *Sink) warnDropped() {
	now := s.opts.Now()
	if now.Sub(s.lastWarn) < warnEvery {
		return
	}
	s.lastWarn = now
	fmt.Fprintf(s.opts.Log, "mcpscope: database %s cannot keep up: %d messages not recorded so far (the capture and other outputs go on; the final stats count them)\n",
		s.st.Path(), s.st.Stats().MessagesDropped)
}

func (s *Sink) process(e record.Endpoint, at time.Time) {
	if e.Pid == 0 {
		return
	}
	k := procKey{e.Pid, e.Comm}
	p := s.processes[k]
	if p == nil {
		if len(s.processes) >= maxKnown {
			forgetOldest(s.processes, func(p *process) (time.Time, bool) { return p.row.LastSeen, p.gen != s.gen })
		}
		p = &process{row: store.Process{ID: s.st.NextID(store.IDProcess), CaptureID: s.capture.ID, Pid: e.Pid, Comm: e.Comm, FirstSeen: at}}
		s.processes[k] = p
	}
	p.row.LastSeen = at
	if p.gen != s.gen {
		p.gen = s.gen
		s.touchedProcs = append(s.touchedProcs, p)
	}
}

// session returns the session named name, creating it, marks it seen at t, and puts it into the next batch.
func (s *Sink) session(name, transport string, at time.Time) *session {
	ss := s.sessions[name]
	if ss == nil {
		if len(s.sessions) >= maxKnown {
			forgetOldest(s.sessions, func(ss *session) (time.Time, bool) { return ss.row.LastSeen, ss.gen != s.gen && ss.open == 0 })
		}
		ss = &session{row: store.Session{ID: s.st.NextID(store.IDSession), CaptureID: s.capture.ID, Name: name, Transport: transport, FirstSeen: at}}
		s.sessions[name] = ss
	}
	ss.row.LastSeen = at
	if ss.gen != s.gen {
		ss.gen = s.gen
		s.touchedSess = append(s.touchedSess, ss)
	}
	return ss
}

// messageSession is the session of r, updated with what r tells of it.
func (s *Sink) messageSession(r *record.Message) *session {
	ss := s.session(r.Session, r.Transport, r.Time)
	row := &ss.row
	row.Messages++
	// The peers, once the reader is known: on stdio a reader that was not seen has pid 0 (and would hide the real
	// one); on HTTP both ends always have an address, and a remote one has only that.
	if r.To.Pid != 0 || r.To.Addr != "" {
		switch r.Direction {
		case record.ClientToServer:
			row.Client, row.Server = r.From, r.To
		case record.ServerToClient:
			row.Client, row.Server = r.To, r.From
		}
	}
	if r.Era != "" {
		row.Era = r.Era
	}
	if r.ProtocolVersion != "" {
		row.ProtocolVersion = r.ProtocolVersion
	}
	return ss
}

// touchCall puts the call's current row, and its session's, into the next batch: the session row may have been
// pruned meanwhile, and the call's row must not point to nothing.
func (s *Sink) touchCall(c *call) {
	if c.gen != s.gen {
		c.gen = s.gen
		s.touchedCalls = append(s.touchedCalls, c)
	}
	if c.sess.gen != s.gen {
		c.sess.gen = s.gen
		s.touchedSess = append(s.touchedSess, c.sess)
	}
}

// callMethods are the methods whose requests become tool_calls rows.
var callMethods = map[string]bool{"tools/call": true, "resources/read": true, "prompts/get": true}

// callOf returns the call m belongs to, opening, advancing or closing it.
func (s *Sink) callOf(m *store.Message) *call {
	r := &m.Record
	if r.Session == "" {
		return nil // a call belongs to a session
	}
	switch r.Type {
	case record.TypeRequest:
		if !callMethods[r.Method] || len(r.ID) == 0 {
			return nil
		}
		return s.request(m)
	case record.TypeResponse:
		if len(r.ID) == 0 {
			return nil
		}
		c := s.calls[callKey{r.Session, r.To.Pid, string(r.ID)}]
		if c == nil {
			return nil
		}
		s.respond(c, m)
		return c
	case record.TypeNotification:
		switch r.Method {
		case "notifications/cancelled":
			c := s.open(callKey{r.Session, r.From.Pid, string(r.RelatedID)})
			if c != nil {
				c.row.Cancelled = true
				if c.row.Status == store.StatusRunning {
					c.row.Status = store.StatusCancelled
				}
			}
			return c
		case "notifications/progress":
			return s.open(callKey{r.Session, r.To.Pid, string(r.RelatedID)})
		}
	}
	return nil
}

// open returns the open or awaiting call with key k.
func (s *Sink) open(k callKey) *call {
	if k.id == "" {
		return nil
	}
	if c := s.calls[k]; c != nil {
		return c
	}
	return s.awaiting[k]
}

func (s *Sink) request(m *store.Message) *call {
	r := &m.Record
	k := callKey{r.Session, r.From.Pid, string(r.ID)}
	if len(r.RetryOf) > 0 {
		if c := s.awaiting[callKey{r.Session, r.From.Pid, string(r.RetryOf)}]; c != nil {
			delete(s.awaiting, c.key)
			c.key, c.wait = k, false
			c.row.RPCID = string(r.ID)
			s.calls[k] = c
			return c
		}
	}
	if old := s.calls[k]; old != nil { // the id was reused while open: the peer will not answer the old request
		old.row.Status = store.StatusUnanswered
		s.touchCall(old)
		s.forget(old)
	}
	c := &call{key: k, sess: s.sessions[r.Session], row: store.Call{
		ID: s.st.NextID(store.IDCall), SessionID: m.SessionID, Method: r.Method, Tool: r.Tool, Resource: r.Resource, Prompt: r.Prompt,
		RPCID: string(r.ID), Client: r.From, Server: r.To, StartedAt: r.Time, Status: store.StatusRunning, RequestMessageID: m.ID,
	}}
	if r.Method != "resources/read" && !r.Truncated {
		if string(r.Arguments) != "null" {
			c.row.Arguments = r.Arguments // a slice of the message, which the row shares (see own)
		}
	}
	s.calls[k] = c
	c.sess.open++
	c.elem = s.age.PushBack(c)
	if s.age.Len() > s.opts.MaxOpenCalls {
		oldest := s.age.Front().Value.(*call)
		if oldest.row.Status == store.StatusRunning {
			oldest.row.Status = store.StatusUnanswered
		}
		s.touchCall(oldest)
		s.forget(oldest)
	}
	return c
}

func (s *Sink) respond(c *call, m *store.Message) {
	r := &m.Record
	if r.ResultType == "input_required" {
		// Not the end: the client retries with the input, naming this id in retry_of.
		delete(s.calls, c.key)
		c.wait = true
		s.awaiting[c.key] = c
		return
	}
	row := &c.row
	row.EndedAt = r.Time
	if r.LatencyMs != nil {
		d := *r.LatencyMs
		row.DurationMs = &d
	} else {
		d := float64(r.Time.Sub(row.StartedAt)) / float64(time.Millisecond)
		row.DurationMs = &d
	}
	row.ResponseMessageID = m.ID
	row.IsError = r.IsError
	row.Error = r.Error
	switch {
	case r.Error != nil:
		row.Status = store.StatusError
	case r.IsError != nil && *r.IsError:
		row.Status = store.StatusToolError
	default:
		row.Status = store.StatusOK
	}
	if row.Server.Pid == 0 {
		row.Server = r.From
	}
	s.remember(c.key, row.ID)
	s.forget(c)
}

// maxAnswered bounds the answered calls kept for their footprints, which follow the response within a second.
const maxAnswered = 4096

func (s *Sink) remember(k callKey, id int64) {
	if _, ok := s.answered[k]; !ok {
		s.answeredOrder = append(s.answeredOrder, k)
	}
	s.answered[k] = id
	if len(s.answeredOrder) > maxAnswered {
		delete(s.answered, s.answeredOrder[0])
		s.answeredOrder = s.answeredOrder[1:]
	}
}

// MethodTrace is the method of the calls `mcpscope trace` records: a process tree traced for a while, MCP or not,
// in a session of its own (transport "trace"), with its footprint like a tool call's.
const MethodTrace = "trace"

// WriteTrace records a traced process tree as a call of method MethodTrace named command, whose footprint is f
// (f.Session names its session), and returns the call's id (`mcpscope show ID`).
func (s *Sink) WriteTrace(f *record.Footprint, command string) int64 {
	ss := s.session(f.Session, MethodTrace, f.StartedAt)
	ss.row.Server = f.Server
	ss.row.LastSeen = f.Time
	d := float64(f.Time.Sub(f.StartedAt)) / float64(time.Millisecond)
	c := &call{sess: ss, row: store.Call{
		ID: s.st.NextID(store.IDCall), SessionID: ss.row.ID, Method: MethodTrace, Tool: command, RPCID: "",
		Server: f.Server, StartedAt: f.StartedAt, EndedAt: f.Time, DurationMs: &d, Status: store.StatusOK,
	}}
	s.touchCall(c)
	s.AddFootprint(footprintRows(c.row.ID, f))
	return c.row.ID
}

// WriteFootprint records the footprint of an answered call with the next batch; footprints of calls it does not
// know (answered before the sink started, or long ago) are skipped.
func (s *Sink) WriteFootprint(f *record.Footprint) error {
	id, ok := s.answered[callKey{f.Session, f.Client.Pid, string(f.ID)}]
	if ok {
		s.AddFootprint(footprintRows(id, f))
	}
	return nil
}

// footprintRows is f as the rows of call id.
func footprintRows(id int64, f *record.Footprint) store.Footprint {
	user, sys := f.UserCPUMs, f.SysCPUMs
	fp := store.Footprint{CallID: id, UserCPUMs: &user, SysCPUMs: &sys}
	for _, x := range f.Syscalls {
		fp.Syscalls = append(fp.Syscalls, store.Syscall{Pid: x.Pid, Shared: x.Shared, Name: x.Name, Count: x.Count,
			Errors: x.Errors, Errnos: x.Errnos, TotalNs: x.TotalNs})
	}
	for _, x := range f.Files {
		fp.Files = append(fp.Files, store.File{Pid: x.Pid, Shared: x.Shared, Path: x.Path, Flags: x.Flags,
			Result: x.Result, Count: x.Count})
	}
	for _, x := range f.Execs {
		fp.Execs = append(fp.Execs, store.Exec{Pid: x.Pid, Shared: x.Shared, Ppid: x.Ppid, Filename: x.Filename,
			Argv: x.Argv, ExitCode: x.ExitCode, StartedAt: x.StartedAt, DurationMs: x.DurationMs})
	}
	for _, x := range f.Connections {
		fp.Connections = append(fp.Connections, store.Connection{Pid: x.Pid, Shared: x.Shared, Op: x.Op,
			Family: x.Family, RemoteAddr: x.Addr, RemotePort: x.Port, Result: x.Result, Count: x.Count})
	}
	for _, x := range f.Libraries {
		fp.Libraries = append(fp.Libraries, store.Library{Pid: x.Pid, Shared: x.Shared, Path: x.Path, Kind: x.Kind})
	}
	for _, x := range f.GPU {
		fp.GPU = append(fp.GPU, store.GPUUse{Pid: x.Pid, Shared: x.Shared, Kind: x.Kind, Detail: x.Detail, Count: x.Count})
	}
	return fp
}

// forget drops c from the open calls (its row stays as last touched).
func (s *Sink) forget(c *call) {
	if c.wait {
		delete(s.awaiting, c.key)
	} else if s.calls[c.key] == c {
		delete(s.calls, c.key)
	}
	if c.elem != nil {
		s.age.Remove(c.elem)
		c.elem = nil
		c.sess.open--
	}
}

// forgetOldest deletes the least recently seen half of the entries of m that may go (not in the batch being
// built, no open calls), so that a long capture's memory stays bounded. It runs once per maxKnown/2 new entries.
func forgetOldest[K comparable, V any](m map[K]V, state func(V) (lastSeen time.Time, mayGo bool)) {
	type entry struct {
		k K
		t time.Time
	}
	var idle []entry
	for k, v := range m {
		if t, ok := state(v); ok {
			idle = append(idle, entry{k, t})
		}
	}
	slices.SortFunc(idle, func(a, b entry) int { return a.t.Compare(b.t) })
	for _, e := range idle[:(len(idle)+1)/2] {
		delete(m, e.k)
	}
}

// own returns a copy of m that the store can read from another goroutine, after the pipeline may have reused its
// buffers. The message's text is shared, not copied: the pipeline never writes to it again (package output), and
// it is most of a record's bytes.
func own(m *record.Message) record.Message {
	c := *m
	c.ID = clone(m.ID)
	c.ProgressToken = clone(m.ProgressToken)
	c.RelatedID = clone(m.RelatedID)
	c.RetryOf = clone(m.RetryOf)
	if m.LatencyMs != nil {
		v := *m.LatencyMs
		c.LatencyMs = &v
	}
	if m.IsError != nil {
		v := *m.IsError
		c.IsError = &v
	}
	if m.Error != nil {
		v := *m.Error
		c.Error = &v
	}
	if m.Batch != nil {
		v := *m.Batch
		c.Batch = &v
	}
	if m.HTTP != nil {
		v := *m.HTTP
		c.HTTP = &v
	}
	return c
}

// ownHTTP is own for an HTTP exchange: the header lists are copied (their strings are immutable).
func ownHTTP(h *record.HTTP) record.HTTP {
	c := *h
	c.RequestHeaders = slices.Clone(h.RequestHeaders)
	c.ResponseHeaders = slices.Clone(h.ResponseHeaders)
	if h.LatencyMs != nil {
		v := *h.LatencyMs
		c.LatencyMs = &v
	}
	return c
}

func clone(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}
