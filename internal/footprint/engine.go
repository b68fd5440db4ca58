// Package footprint gives each MCP call its kernel footprint: what its server's process tree did between reading
// the request and beginning the response (syscalls, files, programs, connections, libraries, CPU).
//
// The kernel (internal/bpf/c/footprint.c) counts per epoch of the server (the root): the root's epoch advances at
// each of its reads and writes of an MCP stdio stream, and every boundary is reported as a mark with the stream
// offset it reached. The Engine turns a call's request and response into a range of epochs (the epoch begun by the
// read that delivered the request's last byte, up to the one begun by the write of the response's first byte) and
// sums what the kernel reported for those epochs. It needs no kernel: tests feed it marks, records and counters.
//
// Calls of one server that overlap share epochs. What the kernel counted in a shared epoch is given to every call
// that covers it, marked shared, unless the server's runtime keeps each task on one thread (ThreadBound) and the
// work was done for a thread (the kernel's owner: the thread itself, or the thread that started the process) that
// wrote the answer of exactly one of the calls covering the epoch: that call alone gets it.
package footprint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// CallRef names a call: its session and the JSON text of its request id.
type CallRef struct {
	Session string
	ID      string
}

// Call is what the Engine is told about a call at its request.
type Call struct {
	Ref    CallRef
	ID     []byte // the request's JSON-RPC id as sent
	Method string
	Tool   string
	Client record.Endpoint
	Server record.Endpoint
	// ThreadBound says that the server's runtime runs each task on one thread from start to end (ThreadBound), so
	// that a thread which wrote only this call's answer worked for this call alone.
	ThreadBound bool
}

// pythonExe matches CPython's executables: python, python3, python3.13, python3.13t.
var pythonExe = regexp.MustCompile(`^python[0-9.]*t?$`)

// ThreadBound tells whether a server with executable exe runs each of its tasks on one OS thread from start to end,
// so that its threads can tell its concurrent calls apart: CPython, whose threads are the kernel's (an asyncio server
// runs every call on its loop's thread, which then writes every answer, and stays shared). Not Go, whose goroutines
// move between threads, nor Node (one thread writes every answer, and its pool threads work for any call), nor
// unknown native programs (an async runtime such as Tokio's moves tasks between threads too).
func ThreadBound(exe string) bool {
	return pythonExe.MatchString(filepath.Base(exe))
}

type streamGen struct {
	key stream.Key
	gen uint64
}

type mark struct {
	offset, epoch uint64
	time          uint64
	tid           int // the root's thread that read or wrote
}

// marks are one stream's marks in offset order, and when the last one came (streams of servers that are gone are
// pruned by it).
type marks struct {
	ms   []mark
	seen time.Time
}

// span is the epochs of a call already taken, and the thread that wrote its answer.
type span struct {
	root       int
	start, end uint64
	writer     int
	at         time.Time
}

type epochKey struct {
	root  int
	epoch uint64
}

// epochAge queues an epoch for prune: it is not looked at again before at+keepEpochs, so that prune costs what it
// drops, not what is kept.
type epochAge struct {
	key epochKey
	at  time.Time
}

// epochData is what the kernel reported for one epoch of one root.
type epochData struct {
	sys     []capture.SyscallCount
	cpu     []capture.CPUCount
	records []fpRecord
	seen    time.Time // when data last arrived, for pruning
}

type fpRecord struct {
	kind   uint8
	pid    int
	owner  int
	ppid   int
	result int64
	flags  uint32
	data   string
	time   uint64
}

type pendingCall struct {
	call     Call
	root     int
	req      streamGen
	reqEnd   uint64 // the stream offset the server's read must reach
	start    uint64 // first epoch; 0 until the read mark is seen
	startAt  uint64 // when that read returned (CLOCK_MONOTONIC ns)
	end      uint64 // epoch of the response; 0 until answered
	endAt    uint64
	writer   int // the server's thread that wrote the response
	answered bool
	begun    time.Time
	takenAt  time.Time // when Take first found it answered and drained
}

// writeFrontier follows a root's writes to MCP streams (the kernel's write marks, whatever the method: pings and
// notifications too), so that prune may drop the epochs before them. A write in epoch E, seen keepTaken ago, shows
// that every request the root read before it has been processed by now (the monitor hands frames on in write order,
// within its reorder hold and reader wait): no call to come can claim an epoch before E.
type writeFrontier struct {
	epoch      uint64       // epochs before it may go (with keepTaken's margin already passed)
	candidates [2]writeSeen // later writes waiting for their margin, oldest first; epoch 0 when empty
	last       time.Time    // when the root last wrote
}

type writeSeen struct {
	epoch uint64
	at    time.Time
}

// Engine attributes footprints to calls. Not safe for concurrent use.
type Engine struct {
	reads, writes map[streamGen]*marks
	lastGen       map[stream.Key]uint64 // per stream, the generation of its latest mark (Begin and End with gen 0)
	epochs        map[epochKey]*epochData
	epochAges     []epochAge // every key of epochs once, in the order they were last looked at by prune
	calls         map[CallRef]*pendingCall
	unresolved    map[stream.Key][]*pendingCall // calls whose request's read mark has not come yet, by stream
	answered      map[int][]span                // per root, the epochs of calls already taken, by end: for the overlap check
	wrote         map[int]*writeFrontier        // per root, how far its writes show the monitor has processed its streams
	clockOffset   int64                         // CLOCK_MONOTONIC to Unix ns
	now           func() time.Time
}

// New returns an Engine; clockOffset converts kernel timestamps (CLOCK_MONOTONIC ns) to Unix ns.
func New(clockOffset int64) *Engine {
	return &Engine{
		reads: map[streamGen]*marks{}, writes: map[streamGen]*marks{}, lastGen: map[stream.Key]uint64{},
		epochs: map[epochKey]*epochData{}, calls: map[CallRef]*pendingCall{}, answered: map[int][]span{}, wrote: map[int]*writeFrontier{},
		unresolved:  map[stream.Key][]*pendingCall{},
		clockOffset: clockOffset, now: time.Now,
	}
}

// maxMarks bounds the marks kept per stream: a call's marks are looked up soon after they happen. Past it the
// oldest quarter goes.
const maxMarks = 4096

// Event takes a footprint record from the kernel (capture.KindFP*).
func (e *Engine) Event(ev *capture.Event) {
	switch ev.Kind {
	case capture.KindFPMark:
		sg := streamGen{ev.Stream, ev.Gen}
		m := mark{offset: ev.Offset, epoch: ev.FP.Epoch, time: ev.Time, tid: ev.Tid}
		now := e.now()
		if ev.FP.Read() {
			e.addMark(e.reads, sg, m, now)
			e.resolveStarts(sg)
		} else {
			e.addMark(e.writes, sg, m, now)
			e.noteWrite(ev.FP.Root, m.epoch, now)
		}
	case capture.KindFPFile, capture.KindFPExec, capture.KindFPExit, capture.KindFPConnect, capture.KindFPListen:
		d := e.epoch(ev.FP.Root, ev.FP.Epoch)
		data := string(ev.FP.Data)
		if ev.FP.Dir != "" && data != "" && data[0] != '/' {
			data = path.Join(ev.FP.Dir, data) // as the kernel resolved it, ".." taken lexically
		}
		d.records = append(d.records, fpRecord{kind: ev.Kind, pid: ev.Pid, owner: ev.FP.Owner, ppid: ev.FP.Ppid, result: ev.FP.Result,
			flags: ev.FP.Flags, data: data, time: ev.Time})
	}
}

// noteWrite keeps a write of root in epoch as a candidate for its frontier: the first write, and the first one at
// least keepTaken/2 after it, so that the frontier trails the root's writes by at most 1.5 keepTaken, at the cost of
// two entries per root.
func (e *Engine) noteWrite(root int, epoch uint64, now time.Time) {
	w := e.wrote[root]
	if w == nil {
		w = &writeFrontier{}
		e.wrote[root] = w
	}
	w.last = now
	c := &w.candidates
	switch {
	case epoch <= w.epoch:
	case c[0].epoch == 0:
		c[0] = writeSeen{epoch, now}
	case c[1].epoch == 0 && now.Sub(c[0].at) >= keepTaken/2:
		c[1] = writeSeen{epoch, now}
	}
}

// advance moves the frontier to the candidates whose margin has passed.
func (w *writeFrontier) advance(takenCut time.Time) {
	for w.candidates[0].epoch != 0 && w.candidates[0].at.Before(takenCut) {
		w.epoch = w.candidates[0].epoch
		w.candidates = [2]writeSeen{w.candidates[1]}
	}
}

func (e *Engine) addMark(all map[streamGen]*marks, sg streamGen, m mark, now time.Time) {
	l := all[sg]
	if l == nil {
		l = &marks{}
		all[sg] = l
	}
	l.seen = now
	if sg.gen >= e.lastGen[sg.key] {
		e.lastGen[sg.key] = sg.gen
	}
	i := len(l.ms)
	for i > 0 && l.ms[i-1].offset > m.offset {
		i--
	}
	l.ms = slices.Insert(l.ms, i, m)
	if len(l.ms) > maxMarks {
		// Drop the oldest quarter at once, in place: dropping one mark at a time slid the slice along its array,
		// which then grew into a new one every few thousand marks, under every busy stream.
		l.ms = slices.Delete(l.ms, 0, len(l.ms)-maxMarks*3/4)
	}
}

// marksOf returns the marks of sg, oldest offset first; generation 0 stands for the stream's latest.
func (e *Engine) marksOf(all map[streamGen]*marks, sg streamGen) []mark {
	if sg.gen == 0 {
		sg.gen = e.lastGen[sg.key]
	}
	if l := all[sg]; l != nil {
		return l.ms
	}
	return nil
}

func (e *Engine) epoch(root int, epoch uint64) *epochData {
	k := epochKey{root, epoch}
	d := e.epochs[k]
	now := e.now()
	if d == nil {
		d = &epochData{}
		e.epochs[k] = d
		e.epochAges = append(e.epochAges, epochAge{k, now})
	}
	d.seen = now
	return d
}

// Counters takes counters drained from the kernel (capture.Capture.DrainFootprint).
func (e *Engine) Counters(sys []capture.SyscallCount, cpu []capture.CPUCount) {
	for _, s := range sys {
		d := e.epoch(s.Root, s.Epoch)
		d.sys = append(d.sys, s)
	}
	for _, c := range cpu {
		d := e.epoch(c.Root, c.Epoch)
		d.cpu = append(d.cpu, c)
	}
}

// Begin records a request read by the server root from stream k (generation gen; 0 when user space has not seen
// it: the stream's latest); end is the stream offset just past the request's last byte.
func (e *Engine) Begin(c Call, root int, k stream.Key, gen, end uint64) {
	p := &pendingCall{call: c, root: root, req: streamGen{k, gen}, reqEnd: end, begun: e.now()}
	e.calls[c.Ref] = p
	if e.resolveStart(p); p.start == 0 {
		e.unresolved[k] = append(e.unresolved[k], p)
	}
}

// resolveStarts looks for the starts of the calls waiting on a read mark of stream sg, and forgets those found or
// gone.
func (e *Engine) resolveStarts(sg streamGen) {
	waiting := e.unresolved[sg.key]
	if len(waiting) == 0 {
		return
	}
	waiting = slices.DeleteFunc(waiting, func(p *pendingCall) bool {
		if e.calls[p.call.Ref] != p {
			return true
		}
		if p.req.gen == sg.gen || p.req.gen == 0 {
			e.resolveStart(p)
		}
		return p.start != 0
	})
	if len(waiting) == 0 {
		delete(e.unresolved, sg.key)
	} else {
		e.unresolved[sg.key] = waiting
	}
}

// resolveStart finds the read that delivered the request's last byte: the first read mark at or past its end.
func (e *Engine) resolveStart(p *pendingCall) {
	ms := e.marksOf(e.reads, p.req)
	i := sort.Search(len(ms), func(i int) bool { return ms[i].offset >= p.reqEnd })
	if i < len(ms) {
		p.start, p.startAt = ms[i].epoch, ms[i].time
	}
}

// End records the response to call ref, written by the server to stream k (generation gen) from offset start. It
// reports whether the call is known to the Engine.
func (e *Engine) End(ref CallRef, k stream.Key, gen, start uint64) bool {
	p := e.calls[ref]
	if p == nil {
		return false
	}
	ms := e.marksOf(e.writes, streamGen{k, gen})
	i := sort.Search(len(ms), func(i int) bool { return ms[i].offset > start }) - 1
	if i < 0 {
		delete(e.calls, ref) // the write was not marked (the server was not a root yet): nothing to attribute
		return false
	}
	p.end, p.endAt, p.writer, p.answered = ms[i].epoch, ms[i].time, ms[i].tid, true
	return true
}

// EndSession drops the calls of a session that ended unanswered (its client or server exited): they will get no
// footprint, and their epochs need not be kept.
func (e *Engine) EndSession(session string) {
	for ref, p := range e.calls {
		if ref.Session == session && !p.answered {
			delete(e.calls, ref)
		}
	}
}

// holdFor is how long the footprint of a call of a thread-bound server waits for the answers of the calls that
// overlapped it: until their writers are known, no thread's work in the overlap can be given to one call.
const holdFor = 10 * time.Second

// Take returns the footprints of the answered calls whose epochs have all been drained (the caller drains the
// kernel's counters after End, which ends the call's epochs), and prunes what no call can need any more. A call of
// a thread-bound server that overlaps calls still running waits for their answers (at most holdFor), unless final
// (no answer will come any more).
func (e *Engine) Take(final bool) []record.Footprint {
	var out []record.Footprint
	var done []CallRef
	now := e.now()
	for ref, p := range e.calls {
		if !p.answered {
			continue
		}
		if p.takenAt.IsZero() {
			p.takenAt = now
		}
		if !final && p.call.ThreadBound && now.Sub(p.takenAt) < holdFor && e.overlapsRunning(p) {
			continue
		}
		done = append(done, ref)
		if p.start == 0 || p.end <= p.start {
			continue // the request was read before the server became a root: no epochs to attribute
		}
		out = append(out, e.footprint(p)) // before any is deleted: overlaps with calls answered now count too
	}
	for _, ref := range done {
		p := e.calls[ref]
		if p.start != 0 {
			e.addAnswered(span{p.root, p.start, p.end, p.writer, now})
		}
		delete(e.calls, ref)
	}
	e.prune()
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// keepEpochs is how long drained data and marks no call has claimed are kept: a call's request is processed at most a
// few hundred milliseconds after its read (the monitor's reorder hold and reader wait).
const keepEpochs = 30 * time.Second

// keepTaken is how long an epoch is kept once it lies before the end of a call of its root already taken, or before
// a write of its root seen that long ago (writeFrontier), and no running call covers it. No call still to come can
// claim it: a request the server read before that response or write was written is processed before it (the monitor
// hands frames on in write order, within its 10 ms reorder hold and 200 ms reader wait), so its call has begun by
// now, and running calls are kept apart. The wait is only a margin. Without it every epoch was kept keepEpochs, half
// a kilobyte each: a server answering 4,000 pings a second (none of them a call with a footprint) grew the heap by
// 20 MB, and the garbage collector ran without pause under the monitor's soft memory limit (docs/benchmarks.md).
const keepTaken = time.Second

// keepCalls is how long a call that got no answer, in a session that never ended, is kept.
const keepCalls = 10 * time.Minute

// prune drops what no call can need any more: epochs older than keepEpochs that no running call covers (a tool
// may run for minutes), marks of streams quiet for keepEpochs, and the spans of answered calls no running call
// overlaps.
func (e *Engine) prune() {
	now := e.now()
	cut, takenCut := now.Add(-keepEpochs), now.Add(-keepTaken)
	firstRunning := map[int]uint64{} // per root, the first epoch of its calls still running
	unresolved := map[int]bool{}     // roots with a call whose first epoch is not known yet: it may be any
	for ref, p := range e.calls {
		if !p.answered && p.begun.Before(now.Add(-keepCalls)) { // an answered one is held by Take, briefly
			delete(e.calls, ref)
			continue
		}
		if p.start != 0 {
			if f, ok := firstRunning[p.root]; !ok || p.start < f {
				firstRunning[p.root] = p.start
			}
		} else {
			unresolved[p.root] = true
		}
	}
	// takenBy returns the time before which root's epochs and spans before its last taken call's end may go: after
	// keepTaken, or keepEpochs while a call of root has no first epoch yet.
	takenBy := func(root int) time.Time {
		if unresolved[root] {
			return cut
		}
		return takenCut
	}
	needed := func(root int, end uint64) bool { // whether a running call of root has epochs before end
		f, ok := firstRunning[root]
		return ok && f < end
	}
	// Per root, the epoch before which no call to come can claim anything: the end of its last call taken (spans are
	// in the order of their end), or its write frontier.
	settled := map[int]uint64{}
	for root, w := range e.wrote {
		w.advance(takenCut)
		if w.last.Before(cut) { // no write for keepEpochs: the root is idle or gone
			delete(e.wrote, root)
		}
		settled[root] = w.epoch
	}
	for root, spans := range e.answered {
		settled[root] = max(settled[root], spans[len(spans)-1].end)
		// By end: the first are those no running call needs, and the oldest but for calls held a while by Take.
		i := 0
		for i < len(spans) && spans[i].at.Before(takenBy(root)) && !needed(root, spans[i].end) {
			i++
		}
		if i == len(spans) {
			delete(e.answered, root)
		} else if i > 0 {
			e.answered[root] = slices.Delete(spans, 0, i)
		}
	}
	for k, waiting := range e.unresolved {
		waiting = slices.DeleteFunc(waiting, func(p *pendingCall) bool { return e.calls[p.call.Ref] != p })
		if len(waiting) == 0 {
			delete(e.unresolved, k)
		} else {
			e.unresolved[k] = waiting
		}
	}
	// Entries looked at leave the queue together at the end, so that it keeps its array (those put back are behind
	// takenCut: the walk stops at them).
	looked := 0
	for ; looked < len(e.epochAges) && e.epochAges[looked].at.Before(takenCut); looked++ {
		k := e.epochAges[looked].key
		d := e.epochs[k]
		switch {
		case d == nil:
		case !d.seen.Before(takenCut):
			e.epochAges = append(e.epochAges, epochAge{k, d.seen})
		case needed(k.root, k.epoch+1):
			e.epochAges = append(e.epochAges, epochAge{k, now})
		case d.seen.Before(cut) || k.epoch < settled[k.root] && d.seen.Before(takenBy(k.root)):
			delete(e.epochs, k)
		default: // claimed by no call yet: looked at again in keepTaken, until keepEpochs
			e.epochAges = append(e.epochAges, epochAge{k, now})
		}
	}
	e.epochAges = slices.Delete(e.epochAges, 0, looked)
	for _, all := range []map[streamGen]*marks{e.reads, e.writes} {
		for sg, l := range all {
			if l.seen.Before(cut) {
				delete(all, sg)
				if e.lastGen[sg.key] == sg.gen {
					delete(e.lastGen, sg.key)
				}
			}
		}
	}
}

// addAnswered keeps the span of a call just taken, in the order of its end: calls are mostly taken in that order.
func (e *Engine) addAnswered(a span) {
	spans := e.answered[a.root]
	i := len(spans)
	for i > 0 && spans[i-1].end > a.end {
		i--
	}
	e.answered[a.root] = slices.Insert(spans, i, a)
}

// overlapsRunning returns whether a call of p's root that is not answered yet covers an epoch of p.
func (e *Engine) overlapsRunning(p *pendingCall) bool {
	for _, q := range e.calls {
		if q != p && q.root == p.root && q.start != 0 && !q.answered && q.start < p.end {
			return true
		}
	}
	return false
}

// covering is what is known of the calls of a root that cover one epoch: how many, and how many answers each
// thread wrote.
type covering struct {
	calls   int
	writers map[int]int
	unknown bool // a call not answered yet (its writer unknown) covers it
}

// others returns the spans of the calls of p's root other than p that cover any epoch of p (an unanswered one ends
// never, writer 0): one scan of the answered and running calls per footprint, however many epochs p has. A call
// covers its epochs and the one its answer's write began, in which its thread finishes the write: that is not the
// work of the calls still running.
func (e *Engine) others(p *pendingCall) []span {
	var out []span
	spans := e.answered[p.root]
	first, _ := slices.BinarySearchFunc(spans, p.start, func(a span, start uint64) int { return cmp.Compare(a.end, start) })
	for _, a := range spans[first:] { // those that end before p starts are left out by the search
		if a.start < p.end {
			out = append(out, a)
		}
	}
	for _, q := range e.calls {
		if q == p || q.root != p.root || q.start == 0 || q.start >= p.end || q.answered && q.end < p.start {
			continue
		}
		end, writer := q.end, q.writer
		if !q.answered {
			end, writer = ^uint64(0), 0
		}
		out = append(out, span{root: q.root, start: q.start, end: end, writer: writer})
	}
	return out
}

// coveringCalls returns what is known of the calls that cover epoch ep: p and those of others that do.
func coveringCalls(p *pendingCall, others []span, ep uint64) covering {
	c := covering{calls: 1}
	for _, o := range others {
		if o.start <= ep && ep <= o.end {
			if c.writers == nil { // only for epochs shared: most have none
				c.writers = map[int]int{p.writer: 1}
			}
			c.calls++
			c.writers[o.writer]++
			c.unknown = c.unknown || o.writer == 0
		}
	}
	return c
}

// share says what call p gets of the work done for owner (a thread of the server) in epoch ep: mine, whether p gets
// it; shared, whether it is given to the other calls covering ep too. In an epoch no other call covers, p gets it
// all; in one others cover, a thread-bound server's thread that wrote the answer of exactly one of them (and every
// answer is known) worked for that call alone; the rest is shared.
func share(p *pendingCall, c covering, owner int) (mine, shared bool) {
	if c.calls <= 1 {
		return true, false
	}
	if !p.call.ThreadBound || c.unknown || owner == 0 || c.writers[owner] != 1 {
		return true, true
	}
	return owner == p.writer, false
}

func (e *Engine) footprint(p *pendingCall) record.Footprint {
	f := record.Footprint{
		Kind: record.KindFootprint, Session: p.call.Ref.Session, ID: p.call.ID, Method: p.call.Method,
		Tool: p.call.Tool, Client: p.call.Client, Server: p.call.Server,
		StartedAt: e.wall(p.startAt), Time: e.wall(p.endAt),
	}
	// Rows are kept apart by whether they are shared: a thread-bound server's call has the work of its own thread
	// unshared beside that of its other threads, shared.
	type sysKey struct {
		pid    int
		nr     int
		shared bool
	}
	sys := map[sysKey]*record.FootprintSyscall{}
	type fileKey struct {
		pid         int
		path, flags string
		result      string
		shared      bool
	}
	files := map[fileKey]*record.FootprintFile{}
	type connKey struct {
		pid                      int
		op, family, addr, result string
		port                     int
		shared                   bool
	}
	conns := map[connKey]*record.FootprintConn{}
	type libKey struct {
		pid    int
		path   string
		shared bool
	}
	libs := map[libKey]bool{}
	type cudaKey struct {
		pid    int
		name   string
		shared bool
	}
	cuda := map[cudaKey]uint64{}
	execs := map[int]*record.FootprintExec{}
	execAt := map[int]uint64{} // when each exec of the call happened, for its duration
	var user, sys64, run uint64
	others := e.others(p)
	for ep := p.start; ep < p.end; ep++ {
		d := e.epochs[epochKey{p.root, ep}]
		if d == nil {
			continue
		}
		cover := coveringCalls(p, others, ep)
		take := func(owner int) (mine, shared bool) {
			mine, shared = share(p, cover, owner)
			f.Shared = f.Shared || mine && shared
			f.ByThread = f.ByThread || cover.calls > 1 && !shared
			return mine, shared
		}
		for _, s := range d.sys {
			mine, shared := take(s.Owner)
			if !mine {
				continue
			}
			if name, ok := capture.CUDAFunc(s.Nr); ok { // a CUDA driver call, counted like a syscall
				cuda[cudaKey{s.Pid, name, shared}] += s.Count
				continue
			}
			k := sysKey{s.Pid, s.Nr, shared}
			r := sys[k]
			if r == nil {
				r = &record.FootprintSyscall{Pid: s.Pid, Shared: shared, Name: SyscallName(s.Nr)}
				sys[k] = r
			}
			r.Count += s.Count
			r.TotalNs += s.Ns
			if s.Errno != 0 {
				r.Errors += s.Count
				if r.Errnos == nil {
					r.Errnos = map[string]uint64{}
				}
				r.Errnos[ErrnoName(s.Errno)] += s.Count
			}
		}
		for _, c := range d.cpu {
			if mine, _ := take(c.Owner); !mine {
				continue
			}
			user += c.UserNs
			sys64 += c.SysNs
			run += c.RuntimeNs
		}
		for _, r := range d.records {
			mine, shared := take(r.owner)
			if !mine {
				continue
			}
			switch r.kind {
			case capture.KindFPFile:
				k := fileKey{r.pid, r.data, OpenFlags(r.flags), resultName(r.result), shared}
				if files[k] == nil {
					files[k] = &record.FootprintFile{Pid: r.pid, Shared: shared, Path: r.data, Flags: k.flags, Result: k.result}
				}
				files[k].Count++
				if r.result >= 0 && isLibrary(r.data) {
					libs[libKey{r.pid, r.data, shared}] = true
				}
			case capture.KindFPExec:
				name, argv, _ := strings.Cut(r.data, "\x00")
				x := &record.FootprintExec{Pid: r.pid, Shared: shared, Ppid: r.ppid, Filename: name,
					Argv: splitArgv(argv), StartedAt: e.wall(r.time)}
				execs[r.pid] = x
				execAt[r.pid] = r.time
				f.Libraries = append(f.Libraries, record.FootprintLibrary{Pid: r.pid, Shared: shared, Path: name, Kind: "executable"})
			case capture.KindFPExit:
				if x := execs[r.pid]; x != nil {
					code := int(unix.WaitStatus(r.result).ExitStatus())
					if unix.WaitStatus(r.result).Signaled() {
						code = 128 + int(unix.WaitStatus(r.result).Signal())
					}
					x.ExitCode = &code
					ms := float64(r.time-execAt[r.pid]) / 1e6
					x.DurationMs = &ms
				}
			case capture.KindFPConnect, capture.KindFPListen:
				c := connection(r)
				port := -1
				if c.Port != nil {
					port = *c.Port
				}
				k := connKey{r.pid, c.Op, c.Family, c.Addr, c.Result, port, shared}
				if conns[k] == nil {
					c.Shared = shared
					conns[k] = &c
				}
				conns[k].Count++
			}
		}
	}
	for _, s := range sys {
		f.Syscalls = append(f.Syscalls, *s)
	}
	// Every key of a row takes part in its order, so that the same footprint is always written the same way; an
	// unshared row comes before the shared one of the same thing.
	slices.SortFunc(f.Syscalls, func(a, b record.FootprintSyscall) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Pid, b.Pid), strings.Compare(a.Name, b.Name), cmpBool(a.Shared, b.Shared))
	})
	for _, x := range files {
		f.Files = append(f.Files, *x)
	}
	slices.SortFunc(f.Files, func(a, b record.FootprintFile) int {
		return cmp.Or(cmp.Compare(a.Pid, b.Pid), strings.Compare(a.Path, b.Path), strings.Compare(a.Flags, b.Flags),
			strings.Compare(a.Result, b.Result), cmpBool(a.Shared, b.Shared))
	})
	for _, x := range execs {
		f.Execs = append(f.Execs, *x)
	}
	slices.SortFunc(f.Execs, func(a, b record.FootprintExec) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.Pid, b.Pid))
	})
	for _, c := range conns {
		f.Connections = append(f.Connections, *c)
	}
	slices.SortFunc(f.Connections, func(a, b record.FootprintConn) int {
		return cmp.Or(strings.Compare(a.Addr, b.Addr), cmp.Compare(portOf(a), portOf(b)), cmp.Compare(a.Pid, b.Pid),
			strings.Compare(a.Op, b.Op), strings.Compare(a.Family, b.Family), strings.Compare(a.Result, b.Result),
			cmpBool(a.Shared, b.Shared))
	})
	for k := range libs {
		f.Libraries = append(f.Libraries, record.FootprintLibrary{Pid: k.pid, Shared: k.shared, Path: k.path, Kind: "library"})
	}
	slices.SortFunc(f.Libraries, func(a, b record.FootprintLibrary) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Pid, b.Pid), strings.Compare(a.Kind, b.Kind),
			cmpBool(a.Shared, b.Shared))
	})
	f.GPU = gpuUse(f.Files, f.Execs)
	var calls []record.FootprintGPU
	for k, n := range cuda {
		calls = append(calls, record.FootprintGPU{Pid: k.pid, Shared: k.shared, Kind: "driver_call", Detail: k.name, Count: n})
	}
	slices.SortFunc(calls, func(a, b record.FootprintGPU) int {
		return cmp.Or(cmp.Compare(a.Pid, b.Pid), strings.Compare(a.Detail, b.Detail), cmpBool(a.Shared, b.Shared))
	})
	f.GPU = append(f.GPU, calls...)
	f.UserCPUMs, f.SysCPUMs = splitCPU(user, sys64, run)
	return f
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// portOf returns a connection's port, -1 when it has none (a Unix socket).
func portOf(c record.FootprintConn) int {
	if c.Port == nil {
		return -1
	}
	return *c.Port
}

// gpuUse picks the GPU touches out of a call's files and programs: opens of NVIDIA and DRM devices, GPU libraries
// loaded (CUDA, NVML and their kin), nvidia-smi started. (Counts of CUDA driver calls come from the counters.)
func gpuUse(files []record.FootprintFile, execs []record.FootprintExec) []record.FootprintGPU {
	var out []record.FootprintGPU
	for _, f := range files {
		base := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
		kind := ""
		switch {
		case strings.HasPrefix(f.Path, "/dev/nvidia") || strings.HasPrefix(f.Path, "/dev/dri/"):
			kind = "device"
		case f.Result == "ok" && isLibrary(f.Path) && gpuLibrary(base):
			kind = "library"
		default:
			continue
		}
		detail := f.Path
		if f.Result != "ok" {
			detail += " (" + f.Result + ")"
		}
		out = append(out, record.FootprintGPU{Pid: f.Pid, Shared: f.Shared, Kind: kind, Detail: detail, Count: f.Count})
	}
	for _, x := range execs {
		if base := x.Filename[strings.LastIndexByte(x.Filename, '/')+1:]; base == "nvidia-smi" {
			out = append(out, record.FootprintGPU{Pid: x.Pid, Shared: x.Shared, Kind: "program", Detail: x.Filename, Count: 1})
		}
	}
	return out
}

// gpuLibrary tells whether a library's file name is one of NVIDIA's GPU libraries.
func gpuLibrary(base string) bool {
	for _, p := range []string{"libcuda.", "libcudart.", "libnvidia-ml.", "libnvrtc.", "libcublas", "libcudnn", "libnvcuvid.", "libnvidia-"} {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return false
}

// Whole returns the footprint of everything root's tree did in the epochs the Engine was told of (all of a
// `mcpscope trace`), as call c, between started and ended. Drain the kernel's counters of every epoch first (remove
// the root from the kernel: its epochs then count as ended).
func (e *Engine) Whole(c Call, root int, started, ended time.Time) record.Footprint {
	p := &pendingCall{call: c, root: root, start: ^uint64(0)}
	for k := range e.epochs {
		if k.root != root {
			continue
		}
		p.start = min(p.start, k.epoch)
		p.end = max(p.end, k.epoch+1)
	}
	if p.end == 0 {
		p.start = 0
	}
	f := e.footprint(p)
	f.StartedAt, f.Time = started.UTC(), ended.UTC()
	return f
}

// splitCPU turns the tick-sampled user and system times and the exact run time into milliseconds: the run time,
// split in the sampled proportion (as /proc does for utime and stime). With no tick sampled, all of it counts as
// user time.
func splitCPU(user, sys, run uint64) (userMs, sysMs float64) {
	if run == 0 {
		return float64(user) / 1e6, float64(sys) / 1e6
	}
	if user+sys == 0 {
		return float64(run) / 1e6, 0
	}
	u := float64(run) * float64(user) / float64(user+sys)
	return u / 1e6, (float64(run) - u) / 1e6
}

func (e *Engine) wall(mono uint64) time.Time {
	if mono == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(mono)+e.clockOffset).UTC()
}

func resultName(r int64) string {
	if r >= 0 {
		return "ok"
	}
	return ErrnoName(int(-r))
}

func splitArgv(s string) []string {
	s = strings.TrimRight(s, "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// isLibrary tells whether an opened path is a shared library (libfoo.so, libfoo.so.6, foo.cpython-311.so).
func isLibrary(path string) bool {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if strings.HasSuffix(base, ".so") {
		return true
	}
	i := strings.Index(base, ".so.")
	return i > 0 && i+4 < len(base) && base[i+4] >= '0' && base[i+4] <= '9'
}

// connection decodes a connect's address or a listen's local end.
func connection(r fpRecord) record.FootprintConn {
	c := record.FootprintConn{Pid: r.pid, Op: "connect", Result: resultName(r.result)}
	b := []byte(r.data)
	if r.kind == capture.KindFPListen {
		c.Op = "listen"
		if len(b) >= 40 {
			family := binary.LittleEndian.Uint16(b)
			port := int(binary.LittleEndian.Uint16(b[2:]))
			c.Port = &port
			switch family {
			case unix.AF_INET:
				c.Family, c.Addr = "ipv4", netip.AddrFrom4([4]byte(b[8:12])).String()
			case unix.AF_INET6:
				c.Family, c.Addr = "ipv6", netip.AddrFrom16([16]byte(b[8:24])).String()
			}
		}
		return c
	}
	if len(b) < 2 {
		return c
	}
	switch binary.LittleEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			port := int(binary.BigEndian.Uint16(b[2:]))
			c.Family, c.Addr, c.Port = "ipv4", netip.AddrFrom4([4]byte(b[4:8])).String(), &port
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			port := int(binary.BigEndian.Uint16(b[2:]))
			c.Family, c.Addr, c.Port = "ipv6", netip.AddrFrom16([16]byte(b[8:24])).Unmap().String(), &port
		}
	case unix.AF_UNIX:
		path := b[2:]
		if i := bytes.IndexByte(path, 0); i > 0 {
			path = path[:i]
		} else if i == 0 && len(path) > 1 { // abstract socket
			path = append([]byte("@"), bytes.TrimRight(path[1:], "\x00")...)
		}
		c.Family, c.Addr = "unix", string(path)
	default:
		c.Family = fmt.Sprintf("family_%d", binary.LittleEndian.Uint16(b))
	}
	return c
}

// OpenFlags spells open(2) flags as C does: "O_RDONLY|O_CLOEXEC".
func OpenFlags(flags uint32) string {
	var parts []string
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		parts = append(parts, "O_RDONLY")
	case unix.O_WRONLY:
		parts = append(parts, "O_WRONLY")
	case unix.O_RDWR:
		parts = append(parts, "O_RDWR")
	}
	for _, f := range []struct {
		bit  uint32
		name string
	}{
		{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"}, {unix.O_TRUNC, "O_TRUNC"},
		{unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"}, {unix.O_DSYNC, "O_DSYNC"},
		{unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
		{unix.O_PATH, "O_PATH"}, {unix.O_TMPFILE &^ unix.O_DIRECTORY, "O_TMPFILE"},
	} {
		if flags&f.bit == f.bit && f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, "|")
}
