// Package monitor runs the stages after capture, in one goroutine: kernel records → stream reassembly → MCP parsing
// and correlation → sinks. Keeping them on one goroutine keeps records in capture order, which correlation needs (a
// response must never be handled before its request).
//
// It also owns what joins the stages: which process reads each stream (reported by the kernel when a process first
// reads it, or found in /proc when it has not read since capture began), stdio session identity (the pair of
// processes), junk accounting and quarantine of streams that carry no JSON-RPC, and freeing state when a process
// exits.
package monitor

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/footprint"
	"github.com/mcpscope/mcpscope/internal/mcp"
	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Source is what the monitor needs of the capture stage; *capture.Capture implements it, tests feed recorded
// events.
type Source interface {
	Events() <-chan *capture.Event
	Release(*capture.Event)
}

// Controller lets the monitor tell the kernel programs about streams; *capture.Capture implements it. Nil disables it.
type Controller interface {
	Quarantine(stream.Key) error
	Forget(stream.Key) error
}

// Options configure a Monitor.
type Options struct {
	Sink       output.Sink
	Controller Controller
	Proc       procfs.FS
	Log        io.Writer // human log (stderr)
	// ReaderWait is how long a message waits for the kernel to name its reader before /proc is asked (default 200 ms).
	ReaderWait time.Duration
	// ReorderHold is how long a message waits for writes that began before it but were reported after it
	// (default 10 ms).
	ReorderHold time.Duration
	// QuarantineAfter is how many junk lines a stream may carry, with no valid JSON-RPC message, before the kernel
	// stops copying it (default 32).
	QuarantineAfter int
	// ClockOffset converts CLOCK_MONOTONIC nanoseconds (kernel timestamps) to Unix nanoseconds.
	ClockOffset int64
	Stream      stream.Config
	Limits      mcp.Limits
	// NoRedact writes session ids and secret header values (Authorization, cookies, Mcp-Session-Id) as captured;
	// by default session ids become fingerprints and secret headers "[redacted]".
	NoRedact bool
	// Footprints, when set, gives every tools/call, resources/read and prompts/get its kernel footprint
	// (record.Footprint, to sinks that take them).
	Footprints Footprinter
	// CUDA, with Footprints, probes the CUDA driver libraries the servers' trees use, so that footprints count their
	// driver calls; nil: they are not counted.
	CUDA CUDAProber
	// KernelStats, when set, adds the kernel's counters to the stats record written at the end.
	KernelStats func() map[string]uint64
	// Tap, when set, sees every event before the monitor handles it (watch --debug-events).
	Tap func(*capture.Event)
}

// maxQueued bounds the frames waiting for their reader; past it the head's reader is looked up at once.
const maxQueued = 1024

// Monitor is the pipeline after capture. Not safe for concurrent use: Run owns it.
type Monitor struct {
	opts    Options
	reasm   *stream.Reassembler
	corr    *mcp.Correlator
	streams map[stream.Key]*streamInfo
	comms   map[int]string // comm by pid, from kernel records
	queue   []pending      // frames (and session ends) waiting, in write order, for the reorder hold and their reader
	parsed  []mcp.Parsed   // parse's results, reused from frame to frame
	// rec is the record of each stdio message in turn: sinks may not keep a record past the call (package output,
	// Ownership), and one allocated per message was a seventh of the monitor's allocations under a ping-pong.
	rec    record.Message
	counts Counts
	err    error  // first sink error
	now    uint64 // CLOCK_MONOTONIC ns: the latest record or watermark, or the wall clock until a watermark came
	// watermarked: the source sends capture.KindWatermark records, and ticks no longer move now.
	watermarked bool
	quietTicks  int // ticks since the last record (watermarks aside): Run ticks slowly once it reaches quietAfter
	http        httpStage
	fp          *fpState // nil without Options.Footprints
}

// Counts are the monitor's own counters.
type Counts struct {
	Messages        uint64 // records written
	Frames          uint64 // lines seen
	JunkLines       uint64 // lines that are not JSON-RPC, skipped
	JunkBytes       uint64
	Truncated       uint64 // messages marked truncated
	Quarantined     uint64 // streams set aside for carrying only junk
	ReaderFromProc  uint64 // readers found in /proc
	ReaderUnknown   uint64 // messages written with no reader found
	QueueHighWater  uint64
	ProcessesExited uint64
}

type streamInfo struct {
	reader     record.Endpoint
	writer     int
	valid      uint64 // JSON-RPC messages seen
	junk       uint64 // junk lines seen
	procLooked bool   // /proc was asked for the reader
}

// pending is a frame waiting in the queue, or, with endSession set, the end of a session: it waits in the same
// order so that frames written before the exit are still correlated within the session.
type pending struct {
	at         uint64 // queue order: when the frame's last write began, or when the process exited
	frame      stream.Frame
	info       *streamInfo // the frame's stream, kept even when the stream is forgotten meanwhile
	since      uint64
	endSession string
}

// New builds a Monitor.
func New(opts Options) *Monitor {
	if opts.ReaderWait == 0 {
		opts.ReaderWait = 200 * time.Millisecond
	}
	if opts.ReorderHold == 0 {
		opts.ReorderHold = 10 * time.Millisecond
	}
	if opts.QuarantineAfter == 0 {
		opts.QuarantineAfter = 32
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	m := &Monitor{
		opts:    opts,
		corr:    mcp.NewCorrelator(opts.Limits),
		streams: map[stream.Key]*streamInfo{},
		comms:   map[int]string{},
	}
	m.reasm = stream.New(opts.Stream, m.onFrame)
	if opts.Footprints != nil {
		m.fp = &fpState{engine: footprint.New(opts.ClockOffset), roots: map[int]fpServer{}}
	}
	return m
}

// tickEvery is how often Run releases held records, drains footprints and flushes the outputs while records come;
// after quietAfter ticks without one it ticks every quietTickEvery instead. An idle watch then wakes 5 times a second
// rather than 50 (with the reader's own back-off, capture.idlePollInterval: docs/benchmarks.md, "an idle watch");
// the first record after a quiet spell brings the fast ticks back.
const (
	tickEvery      = 20 * time.Millisecond
	quietAfter     = 50
	quietTickEvery = 200 * time.Millisecond
)

// Run consumes events until the source's channel closes, then flushes everything. It returns the first sink error.
func (m *Monitor) Run(src Source) error {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	slow := false
	events := src.Events()
	for {
		select {
		case e, ok := <-events:
			if !m.consume(src, events, e, ok) {
				return m.err
			}
			if slow && m.quietTicks == 0 {
				slow = false
				tick.Reset(tickEvery)
				m.tick(m.now) // what the slow ticks would have released late
			}
		case <-tick.C:
			now := m.now
			if !m.watermarked {
				now = capture.MonotonicNow()
			}
			m.tick(now)
			if m.quietTicks++; !slow && m.quietTicks >= quietAfter {
				slow = true
				tick.Reset(quietTickEvery)
			}
		}
	}
}

// consume handles e and every event already queued behind it, then flushes the sinks once, so a flood makes few
// write syscalls. It returns false once the source has closed (after finishing).
func (m *Monitor) consume(src Source, events <-chan *capture.Event, e *capture.Event, ok bool) bool {
	for {
		if !ok {
			m.finish()
			return false
		}
		m.handle(e)
		src.Release(e)
		select {
		case e, ok = <-events:
		default:
			m.release(false)
			m.releaseTCP(false)
			m.flushSinks()
			return true
		}
	}
}

// Handle processes one event; exported for tests that feed recorded events.
func (m *Monitor) Handle(e *capture.Event) { m.handle(e) }

func (m *Monitor) handle(e *capture.Event) {
	if e.Kind == capture.KindWatermark {
		// From the first watermark on, time moves only as far as the source has read: the holds below wait for
		// records, and a wall clock would end them early whenever reading falls behind (a loaded machine).
		m.watermarked = true
		m.now = max(m.now, e.Time)
		return
	}
	m.quietTicks = 0
	if m.opts.Tap != nil {
		m.opts.Tap(e)
	}
	if e.Kind == capture.KindTLSHit { // diagnosis only: the tap has it
		return
	}
	if e.Time > m.now {
		m.now = e.Time
	}
	comm := e.CommString()
	if comm != "" {
		m.comms[e.Pid] = comm
	}
	if e.Kind == capture.KindTCP || isTCPKind(e.Stream.Kind) && e.Kind != capture.KindFPMark {
		m.tcpHandle(e, comm)
		return
	}
	switch e.Kind {
	case capture.KindData:
		info := m.stream(e.Stream)
		info.writer = e.Pid
		m.reasm.Push(stream.Chunk{
			Key: e.Stream, Gen: e.Gen, Offset: e.Offset, Data: e.Data, LostTotal: e.Lost, Time: e.Time,
			Writer: stream.Writer{Pid: e.Pid, Tid: e.Tid, Comm: comm},
		})
	case capture.KindReader:
		info := m.stream(e.Stream)
		if comm == "" { // reported by the writer on the reader's behalf
			comm = m.comm(e.Pid)
		}
		info.reader = record.Endpoint{Pid: e.Pid, Comm: comm}
		m.release(false)
	case capture.KindClose:
		// The writer may hold other copies of the fd; the stream ends for good when the writer exits.
	case capture.KindFPMark, capture.KindFPFile, capture.KindFPExec, capture.KindFPExit, capture.KindFPConnect,
		capture.KindFPListen:
		if m.fp != nil {
			m.fp.engine.Event(e)
			m.fpCUDA(e)
		}
	case capture.KindExit:
		m.processExited(e.Pid, e.Time)
		if len(m.http.sockets) > 0 {
			m.enqueueTCP(tcpPending{at: e.Time, kind: capture.KindExit, pid: e.Pid})
		}
	}
}

func (m *Monitor) stream(k stream.Key) *streamInfo {
	info := m.streams[k]
	if info == nil {
		info = &streamInfo{}
		m.streams[k] = info
	}
	return info
}

// onFrame receives each message from reassembly. Frames wait in a queue ordered by the time their last write began,
// and leave it once (a) ReorderHold has passed, so that no earlier write can still be on its way (a request's
// sys_exit program may run after the response to it was written on another CPU), and (b) their reader is known.
// A response is therefore never handled before the request it answers.
func (m *Monitor) onFrame(f stream.Frame) {
	m.counts.Frames++
	f.Data = append([]byte(nil), f.Data...) // the reassembler reuses its buffer
	m.enqueue(pending{at: f.End, frame: f, info: m.stream(f.Key), since: m.now})
	if len(m.queue) >= maxQueued {
		m.release(true) // bound memory: ask /proc now rather than wait
	}
}

// enqueue inserts p in queue order (almost always at the back).
func (m *Monitor) enqueue(p pending) {
	i := len(m.queue)
	for i > 0 && m.queue[i-1].at > p.at {
		i--
	}
	m.queue = slices.Insert(m.queue, i, p)
	if n := uint64(len(m.queue)); n > m.counts.QueueHighWater {
		m.counts.QueueHighWater = n
	}
}

// release hands queued frames on, in order, while they are old enough and their readers are known; with force, or
// once the head has waited ReaderWait for its reader, /proc is asked and the frame goes on with whatever reader it
// names (possibly none). The frames handed on leave the queue at the end, together, so that what stays moves to the
// front of the array and the queue keeps it (nothing release calls enqueues).
func (m *Monitor) release(force bool) {
	done := 0
	defer func() {
		m.queue = slices.Delete(m.queue, 0, done)
		if len(m.queue) == 0 && cap(m.queue) > maxQueued { // after a burst: let it go
			m.queue = nil
		}
	}()
	for ; done < len(m.queue); done++ {
		p := &m.queue[done]
		if !force && m.now < p.at+uint64(m.opts.ReorderHold) {
			return
		}
		if p.endSession != "" {
			m.corr.EndSession(p.endSession)
			if m.fp != nil {
				m.fp.engine.EndSession(p.endSession)
			}
			continue
		}
		info := p.info
		if info.reader.Pid == 0 {
			waited := time.Duration(m.now-p.since) >= m.opts.ReaderWait
			if !force && !waited {
				return
			}
			m.readerFromProc(p.frame.Key, info)
			if info.reader.Pid == 0 {
				m.counts.ReaderUnknown++
			}
		}
		m.process(p.frame, info)
	}
}

func (m *Monitor) readerFromProc(k stream.Key, info *streamInfo) {
	if info.procLooked {
		return
	}
	info.procLooked = true
	kind := "pipe"
	if k.Kind == stream.KindUnix {
		kind = "socket"
	}
	for _, pid := range m.opts.Proc.Holders(kind, k.Ino) {
		if pid == info.writer && kind == "pipe" {
			continue
		}
		info.reader = record.Endpoint{Pid: pid, Comm: m.comm(pid)}
		m.counts.ReaderFromProc++
		return
	}
}

func (m *Monitor) comm(pid int) string {
	if c, ok := m.comms[pid]; ok {
		return c
	}
	c := m.opts.Proc.Comm(pid)
	m.comms[pid] = c
	return c
}

// process turns one frame into records.
func (m *Monitor) process(f stream.Frame, info *streamInfo) {
	from := record.Endpoint{Pid: f.Writer.Pid, Comm: f.Writer.Comm}
	session := sessionID(from.Pid, info.reader.Pid)
	ts := time.Unix(0, int64(f.End)+m.opts.ClockOffset).UTC()
	if f.Truncated || f.Oversize {
		m.counts.Truncated++
		rec := record.Message{
			Kind: record.KindMessage, Time: ts, Transport: record.TransportStdio, Session: session,
			From: from, To: info.reader, Size: f.Size, Truncated: true, LostBytes: int64(f.LostBytes),
		}
		if msgs, err := m.parse(f.Data); err == nil && !f.Oversize {
			// Lost bytes can leave a line that still parses (the loss fell on a boundary); keep what it says.
			for i := range msgs {
				r := rec
				m.corr.Annotate(session, from.Pid, &msgs[i], ts, &r)
				r.Truncated, r.LostBytes = true, int64(f.LostBytes)
				m.write(&r)
			}
			return
		}
		m.write(&rec)
		return
	}
	msgs, err := m.parse(f.Data)
	if err != nil {
		m.junk(f, info)
		return
	}
	info.valid++
	rec := &m.rec
	for i := range msgs {
		*rec = record.Message{
			Kind: record.KindMessage, Time: ts, Transport: record.TransportStdio, Session: session,
			From: from, To: info.reader, Size: len(msgs[i].Raw),
		}
		m.corr.Annotate(session, from.Pid, &msgs[i], ts, rec)
		m.write(rec)
		m.fpMessage(f, rec)
	}
	*rec = record.Message{} // let go of the message's text
	m.fpFlush(false)
}

// parse parses one frame, a body or an event into the Monitor's slice of results: the values it returns are
// overwritten by the next call, so each caller is done with them before it parses again.
func (m *Monitor) parse(data []byte) ([]mcp.Parsed, error) {
	m.forgetParsed()
	msgs, err := mcp.AppendParse(m.parsed[:0], data)
	if err == nil {
		m.parsed = msgs
	}
	return msgs, err
}

// forgetParsed drops what the last parse's results point into: the results are slices of the frame, and a 16 MiB
// message, whose buffer reassembly releases once it is handed on, must not stay on the heap until the next message
// comes. Every caller of parse is done with its results before the next parse or tick. Only the last results need
// clearing: the slots past them were cleared before (AppendParse clears the ones it discards), so the cost is the
// last frame's, not the largest batch's; and the room of a large batch is let go.
func (m *Monitor) forgetParsed() {
	clear(m.parsed)
	m.parsed = m.parsed[:0]
	if cap(m.parsed) > keptParsed {
		m.parsed = nil
	}
}

// keptParsed bounds the parse results whose room the Monitor keeps (384 bytes each).
const keptParsed = 64

func (m *Monitor) junk(f stream.Frame, info *streamInfo) {
	m.counts.JunkLines++
	m.counts.JunkBytes += uint64(f.Size)
	info.junk++
	if info.valid == 0 && info.junk == uint64(m.opts.QuarantineAfter) && m.opts.Controller != nil {
		if err := m.opts.Controller.Quarantine(f.Key); err != nil {
			fmt.Fprintf(m.opts.Log, "mcpscope: %v\n", err)
			return
		}
		m.counts.Quarantined++
	}
}

func (m *Monitor) write(rec *record.Message) {
	m.counts.Messages++
	if err := m.opts.Sink.WriteMessage(rec); err != nil && m.err == nil {
		m.err = fmt.Errorf("write a record: %w", err)
	}
}

func (m *Monitor) flushSinks() {
	if err := output.Flush(m.opts.Sink); err != nil && m.err == nil {
		m.err = fmt.Errorf("flush output: %w", err)
	}
}

// processExited frees what a process leaves behind: streams it wrote (their partial line is flushed as incomplete)
// and the sessions it took part in. The sessions end through the queue, after the frames written before the exit.
func (m *Monitor) processExited(pid int, at uint64) {
	m.counts.ProcessesExited++
	for k, info := range m.streams {
		switch {
		case info.writer == pid:
			m.reasm.Close(k)
			if m.opts.Controller != nil {
				_ = m.opts.Controller.Forget(k)
			}
			m.enqueue(pending{at: at, endSession: sessionID(pid, info.reader.Pid)})
			delete(m.streams, k)
		case info.reader.Pid == pid:
			m.enqueue(pending{at: at, endSession: sessionID(info.writer, pid)})
			// Queued frames keep the old info (and their reader); the stream goes on with a reader to be found.
			next := *info
			next.reader, next.procLooked = record.Endpoint{}, false
			m.streams[k] = &next
		}
	}
	delete(m.comms, pid)
	if m.fp != nil {
		delete(m.fp.roots, pid)
	}
}

func (m *Monitor) tick(now uint64) {
	if now > m.now {
		m.now = now
	}
	m.reasm.Flush(m.now)
	m.release(false)
	m.releaseTCP(false)
	m.fpFlush(false)
	m.flushSinks()
	m.forgetParsed()
}

// finish flushes every queue at shutdown and writes a final stats record. Partial lines stay unreported: their
// writers are alive and nothing was lost; the stream stats count them.
func (m *Monitor) finish() {
	m.release(true)
	m.releaseTCP(true)
	m.fpFlush(true)
	st := record.Stats{Kind: record.KindStats, Time: time.Now().UTC(), Counters: m.Counters()}
	if err := m.opts.Sink.WriteStats(&st); err != nil && m.err == nil {
		m.err = fmt.Errorf("write stats: %w", err)
	}
	if err := m.opts.Sink.Close(); err != nil && m.err == nil {
		m.err = fmt.Errorf("close output: %w", err)
	}
}

// Counters returns every counter of the pipeline (and of the kernel, with Options.KernelStats) by the names of
// docs/jsonl.md.
func (m *Monitor) Counters() map[string]uint64 {
	c := m.counts
	out := map[string]uint64{
		"messages":         c.Messages,
		"frames":           c.Frames,
		"junk_lines":       c.JunkLines,
		"junk_bytes":       c.JunkBytes,
		"truncated":        c.Truncated,
		"quarantined":      c.Quarantined,
		"reader_from_proc": c.ReaderFromProc,
		"reader_unknown":   c.ReaderUnknown,
		"processes_exited": c.ProcessesExited,
		"queue_high_water": c.QueueHighWater,
	}
	if m.fp != nil {
		out["footprints"] = m.fp.count
		out["footprint_errors"] = m.fp.errors
	}
	m.httpCounters(out)
	if m.opts.KernelStats != nil {
		for k, v := range m.opts.KernelStats() {
			out[k] = v
		}
	}
	return out
}

// Counts returns the monitor's counters.
func (m *Monitor) Counts() Counts { return m.counts }

// StreamStats returns the reassembler's counters.
func (m *Monitor) StreamStats() stream.Stats { return m.reasm.Stats() }

// CorrelatorStats returns the correlator's counters.
func (m *Monitor) CorrelatorStats() mcp.Stats { return m.corr.Stats() }

// sessionID names a stdio session by its two processes, lower pid first, so both directions share it.
func sessionID(a, b int) string {
	if b != 0 && b < a {
		a, b = b, a
	}
	return fmt.Sprintf("stdio:%d-%d", a, b)
}
