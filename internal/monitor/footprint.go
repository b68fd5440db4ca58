package monitor

import (
	"fmt"
	"slices"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/footprint"
	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Footprinter is what the monitor needs of the kernel's footprint programs; *capture.Capture (opened with
// Config.Footprint) implements it. Nil turns footprints off.
type Footprinter interface {
	AddFootprintRoot(pid int, members ...int) error
	DrainFootprint() ([]capture.SyscallCount, []capture.CPUCount, error)
}

// fpState is the footprint stage: the servers seen, and the engine that gives calls their footprint.
type fpState struct {
	engine *footprint.Engine
	roots  map[int]bool // servers made roots by user space, until they exit (a later process may reuse the pid)
	due    bool         // a call was answered: drain the kernel's counters and write what is complete
	lastAt uint64       // when the counters were last drained (kernel clock)
	errors uint64
	count  uint64 // footprints written
}

// footprintMethods are the calls that get a footprint.
func footprintMethod(method string) bool {
	return method == "tools/call" || method == "resources/read" || method == "prompts/get"
}

// fpMessage follows one stdio message for footprints: a call's request begins its footprint, and the response from
// its server ends it.
func (m *Monitor) fpMessage(f stream.Frame, rec *record.Message) {
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
		// processes already under it. (Not in the kernel at a first read: a reader of anything that looks like
		// JSON-RPC, a junk flood into cat, would count every syscall and mark every read.) The kernel takes its
		// read position at its first marked read, so the requests it read before are no matter; a call whose
		// request it read before it became a root gets no footprint.
		if !fp.roots[server] {
			fp.roots[server] = m.fpRoot(server, rec.To.Comm)
		}
		if footprintMethod(rec.Method) {
			fp.engine.Begin(footprint.Call{
				Ref: footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, ID: rec.ID, Method: rec.Method,
				Tool: rec.Tool, Client: rec.From, Server: rec.To,
			}, server, f.Key, f.Gen, f.Offset+uint64(f.Size)+1)
		}
	case record.TypeResponse:
		if footprintMethod(rec.Method) {
			if fp.engine.End(footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, f.Key, f.Gen, f.Offset) {
				fp.due = true
			}
		}
	}
}

// fpRoot makes server a root in the kernel, with the processes already under it, and reports whether it did. A
// server that is gone (its request is handled after its exit) is not: its pid could be another process's by then.
func (m *Monitor) fpRoot(server int, comm string) bool {
	procs, err := m.opts.Proc.Processes()
	if err != nil || !slices.ContainsFunc(procs, func(p procfs.Proc) bool { return p.Pid == server }) {
		return false
	}
	members := slices.DeleteFunc(procfs.Descendants(procs, map[int]bool{server: true}), func(p int) bool { return p == server })
	if err := m.opts.Footprints.AddFootprintRoot(server, members...); err != nil {
		m.fp.errors++
		fmt.Fprintf(m.opts.Log, "mcpscope: footprints of %s[%d]: %v\n", comm, server, err)
	}
	return true
}

// fpDrainEvery is how often the kernel's counters are drained when no call ends, so that its maps stay small;
// fpDrainMin how often at most when calls end (a drain walks the whole counter map).
const (
	fpDrainEvery = uint64(1e9)
	fpDrainMin   = uint64(50e6)
)

// fpFlush drains the kernel's counters when a call was answered (or a second has passed) and writes the
// footprints that are complete.
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
	for _, f := range fp.engine.Take() {
		fp.count++
		if err := output.WriteFootprint(m.opts.Sink, &f); err != nil && m.err == nil {
			m.err = fmt.Errorf("write footprint: %w", err)
		}
	}
}
