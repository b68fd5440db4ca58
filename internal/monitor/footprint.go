package monitor

import (
	"fmt"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/footprint"
	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Footprinter is what the monitor needs of the kernel's footprint programs; *capture.Capture (opened with
// Config.Footprint) implements it. Nil turns footprints off.
type Footprinter interface {
	DrainFootprint() ([]capture.SyscallCount, []capture.CPUCount, error)
}

// fpState is the footprint stage: the servers seen, and the engine that gives calls their footprint.
type fpState struct {
	engine *footprint.Engine
	roots  map[int]bool
	due    bool   // a call was answered: drain the kernel's counters and write what is complete
	lastAt uint64 // when the counters were last drained (kernel clock)
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
		// The kernel made the server a root at its first read of the stream (c/footprint.h, fp_auto_root).
		fp.roots[server] = true
		if footprintMethod(rec.Method) {
			fp.engine.Begin(footprint.Call{
				Ref: footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, ID: rec.ID, Method: rec.Method,
				Tool: rec.Tool, Client: rec.From, Server: rec.To,
			}, server, f.Key, f.Gen, f.Offset+uint64(f.Size)+1)
		}
	case record.TypeResponse:
		if footprintMethod(rec.Method) && fp.roots[rec.From.Pid] {
			if fp.engine.End(footprint.CallRef{Session: rec.Session, ID: string(rec.ID)}, f.Key, f.Gen, f.Offset) {
				fp.due = true
			}
		}
	}
}

// fpDrainEvery is how often the kernel's counters are drained when no call ends, so that its maps stay small.
const fpDrainEvery = uint64(1e9)

// fpFlush drains the kernel's counters when a call was answered (or a second has passed) and writes the
// footprints that are complete.
func (m *Monitor) fpFlush(force bool) {
	fp := m.fp
	if fp == nil || (!fp.due && !force && m.now < fp.lastAt+fpDrainEvery) {
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
