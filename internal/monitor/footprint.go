package monitor

import (
	"fmt"
	"slices"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/footprint"
	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Footprinter is what the monitor needs of the kernel's footprint programs; *capture.Capture (opened with
// Config.Footprint) implements it. Nil turns footprints off.
type Footprinter interface {
	AddFootprintRoot(pid int, members ...int) error
	ForgetFootprintRoot(pid int) error
	DrainFootprint() ([]capture.SyscallCount, []capture.CPUCount, error)
}

// CUDAProber is what the monitor needs to count CUDA driver calls; *capture.CUDAProber implements it.
type CUDAProber interface {
	Opened(e *capture.Event) (path string, funcs []string, err error)
	Mapped(pids ...int) ([]string, error)
}

// fpState is the footprint stage: the servers seen, and the engine that gives calls their footprint.
type fpState struct {
	engine *footprint.Engine
	roots  map[int]fpServer // servers made roots by user space, until they exit (a later process may reuse the pid)
	due    bool             // a call was answered: drain the kernel's counters and write what is complete
	lastAt uint64           // when the counters were last drained (kernel clock)
	errors uint64
	count  uint64 // footprints written
}

// fpServer is what is known of a server made a root.
type fpServer struct {
	// threadBound: its runtime keeps each task on one thread (footprint.ThreadBound), found from its executable when
	// it was made a root.
	threadBound bool
}

// footprintMethods are the calls that get a footprint.
func footprintMethod(method string) bool {
	return method == "tools/call" || method == "resources/read" || method == "prompts/get"
}

// fpPos is where a message lies in a stream of its server, for footprints: the offset just past a request's last byte
// in the stream the server read it from, or a byte of a response in the stream the server wrote it to. gen 0: the
// stream's latest generation (an HTTP server's own copy of the bytes may not have been seen yet).
type fpPos struct {
	key    stream.Key
	gen    uint64
	offset uint64
}

// fpMessage follows one stdio message for footprints.
func (m *Monitor) fpMessage(f stream.Frame, rec *record.Message) {
	pos := fpPos{f.Key, f.Gen, f.Offset}
	if rec.Type == record.TypeRequest {
		pos.offset += uint64(f.Size) + 1 // past the newline
	}
	m.fpCall(rec, pos, true)
}

// fpCall follows one message for footprints: a call's request begins its footprint, and the response from its server
// ends it. at says whether pos is known (an HTTP server's stream may not be).
func (m *Monitor) fpCall(rec *record.Message, pos fpPos, at bool) {
	fp := m.fp
	if fp == nil {
		return
	}
	switch rec.Type {
	case record.TypeRequest:
		server := rec.To.Pid
		if server == 0 || rec.Direction != record.ClientToServer {
			return // a server's request to its client (roots/list, sampling) makes the client no root
		}
		// The reader of a client's request is a server: its tree's footprint is recorded from now on, with the
		// processes already under it. The kernel makes most servers roots before this, at their first read: of a
		// stdio stream that opened a session, or of an HTTP/1 MCP request or HTTP/2 preface (not of anything that
		// looks like JSON-RPC: a junk flood into cat would count every syscall and mark every read). A call whose
		// request the server read before it became a root gets no footprint.
		if _, ok := fp.roots[server]; !ok && m.fpRoot(server, rec.To.Comm) {
			fp.roots[server] = fpServer{threadBound: footprint.ThreadBound(m.opts.Proc.Exe(server))}
		}
		if at && footprintMethod(rec.Method) {
			fp.engine.Begin(footprint.Call{
				Ref: footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, ID: rec.ID, Method: rec.Method,
				Tool: rec.Tool, Client: rec.From, Server: rec.To, ThreadBound: fp.roots[server].threadBound,
			}, server, pos.key, pos.gen, pos.offset)
		}
	case record.TypeResponse:
		if at && footprintMethod(rec.Method) {
			if fp.engine.End(footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, pos.key, pos.gen, pos.offset) {
				fp.due = true
			}
		}
	}
}

// fpHTTP follows one message of an HTTP connection for footprints. wire is the message's place in direction dir's
// byte stream as the parser counts it: the end of a client's request, or a byte of the server's response. The kernel
// marks the server's own socket (or TLS connection), whose copy of the bytes is not necessarily the one parsed: on
// loopback both ends are seen and the first copy is kept, and both copies count from the connection's first byte.
func (m *Monitor) fpHTTP(c *tcpConn, rec *record.Message, dir httpmsg.Dir, wire int64) {
	if m.fp == nil {
		return
	}
	server := rec.To.Pid
	if dir == httpmsg.ServerToClient {
		server = rec.From.Pid
	}
	pos, ok := c.serverPos(dir, server, wire)
	m.fpCall(rec, pos, ok)
}

// fpRoot makes server a root in the kernel, with the processes already under it, and reports whether it did. A
// server that is gone (its request is handled after its exit) is not: its pid could be another process's by then.
func (m *Monitor) fpRoot(server int, comm string) bool {
	if !m.opts.Proc.Alive(server) {
		return false
	}
	members, ok := m.opts.Proc.DescendantsOf(server)
	if !ok { // no children files in this kernel: the whole process table
		procs, err := m.opts.Proc.Processes()
		if err != nil || !slices.ContainsFunc(procs, func(p procfs.Proc) bool { return p.Pid == server }) {
			return false
		}
		members = slices.DeleteFunc(procfs.Descendants(procs, map[int]bool{server: true}), func(p int) bool { return p == server })
	}
	if err := m.opts.Footprints.AddFootprintRoot(server, members...); err != nil {
		m.fp.errors++
		fmt.Fprintf(m.opts.Log, "mcpscope: footprints of %s[%d]: %v\n", comm, server, err)
	}
	if m.opts.CUDA != nil {
		probed, err := m.opts.CUDA.Mapped(append(members, server)...)
		for _, path := range probed {
			fmt.Fprintf(m.opts.Log, "mcpscope: counting the CUDA driver calls of %s (mapped by %s[%d]'s tree)\n", path, comm, server)
		}
		if err != nil {
			fmt.Fprintf(m.opts.Log, "mcpscope: CUDA driver calls of %s[%d]'s tree: %v\n", comm, server, err)
		}
	}
	return true
}

// fpCUDA has the CUDA driver library probed when a process of a tree opens one.
func (m *Monitor) fpCUDA(e *capture.Event) {
	if m.opts.CUDA == nil {
		return
	}
	path, funcs, err := m.opts.CUDA.Opened(e)
	switch {
	case err != nil:
		fmt.Fprintf(m.opts.Log, "mcpscope: CUDA driver calls: %v\n", err)
	case path != "":
		fmt.Fprintf(m.opts.Log, "mcpscope: counting the CUDA driver calls of %s (%d functions)\n", path, len(funcs))
	}
}

// fpNotServer undoes the root the kernel made of the server of an HTTP/2 connection at its preface (tls.c), when the
// connection turns out not to carry MCP and the process was never seen serving MCP.
func (m *Monitor) fpNotServer(c *tcpConn) {
	if m.fp == nil || !c.http2 {
		return
	}
	for _, s := range c.sockets {
		if _, root := m.fp.roots[s.ep.Pid]; s.role == sockRoleServer && s.ep.Pid != 0 && !root {
			if err := m.opts.Footprints.ForgetFootprintRoot(s.ep.Pid); err != nil {
				m.fp.errors++
			}
		}
	}
}

// fpDrainEvery is how often the kernel's counters are drained when no call ends, so that its maps stay small (a
// ping-pong session of 3,000 pings a second made 11,000 syscall counters a second, of the map's 65,536; c/footprint.h);
// fpDrainMin how often at most when calls end (a drain walks the whole counter map).
const (
	fpDrainEvery = uint64(500e6)
	fpDrainMin   = uint64(50e6)
)

// fpFlush drains the kernel's counters when a call was answered (or fpDrainEvery has passed) and writes the
// footprints that are complete; force (at the end) drains now and writes every footprint held back.
func (m *Monitor) fpFlush(force bool) {
	fp := m.fp
	if fp == nil {
		return
	}
	switch {
	case force:
	case fp.due && m.now >= fp.lastAt+fpDrainMin:
	case m.now >= fp.lastAt+fpDrainEvery:
	default:
		return
	}
	fp.due = false
	fp.lastAt = m.now
	sys, cpu, err := m.opts.Footprints.DrainFootprint()
	if err != nil {
		fp.errors++
		return
	}
	fp.engine.Counters(sys, cpu)
	for _, f := range fp.engine.Take(force) {
		fp.count++
		if err := output.WriteFootprint(m.opts.Sink, &f); err != nil && m.err == nil {
			m.err = fmt.Errorf("write footprint: %w", err)
		}
	}
}
