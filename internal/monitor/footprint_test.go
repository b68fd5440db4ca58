package monitor

import (
	"testing"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// fpSink is a memSink that takes footprints too.
type fpSink struct {
	memSink
	fps []record.Footprint
}

func (s *fpSink) WriteFootprint(f *record.Footprint) error { s.fps = append(s.fps, *f); return nil }

// fakeFootprinter hands out the counters it was given, once.
type fakeFootprinter struct {
	sys   []capture.SyscallCount
	cpu   []capture.CPUCount
	roots []int
}

func (f *fakeFootprinter) AddFootprintRoot(pid int, members ...int) error {
	f.roots = append(f.roots, pid)
	return nil
}

func (f *fakeFootprinter) DrainFootprint() ([]capture.SyscallCount, []capture.CPUCount, error) {
	sys, cpu := f.sys, f.cpu
	f.sys, f.cpu = nil, nil
	return sys, cpu, nil
}

// TestFootprintOfStdioCall runs one tools/call through the monitor as the kernel reports it: the server's read
// mark at the request's end, a file opened and a syscall counted in that epoch, the write mark of the response.
// The footprint record follows the response, with the call's identity and what happened in its epoch only.
func TestFootprintOfStdioCall(t *testing.T) {
	sink := &fpSink{}
	kern := &fakeFootprinter{}
	m := New(Options{Sink: sink, Controller: &fakeController{}, Proc: procfs.FS{Root: "/nonexistent"}, Footprints: kern})
	req := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"work"}}` + "\n"
	resp := `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}` + "\n"
	mark := func(k stream.Key, read bool, off, epoch, t uint64) *capture.Event {
		dir := bpf.FPMarkWrite
		if read {
			dir = bpf.FPMarkRead
		}
		return &capture.Event{Kind: capture.KindFPMark, Stream: k, Gen: 1, Offset: off, Time: t, Pid: server,
			FP: capture.Footprint{Root: server, Epoch: epoch, Result: dir}}
	}
	m.Handle(reader(toClient, client, "host", 0))
	m.Handle(reader(toServer, server, "srv", 0))
	m.Handle(data(toServer, client, "host", 0, 1_000_000, req))
	m.Handle(mark(toServer, true, uint64(len(req)), 1, 1_100_000))
	m.Handle(&capture.Event{Kind: capture.KindFPFile, Pid: 21, Time: 1_200_000,
		FP: capture.Footprint{Root: server, Epoch: 1, Result: 3, Data: []byte("/etc/hostname")}})
	kern.sys = []capture.SyscallCount{{Root: server, Pid: 21, Epoch: 1, Nr: 257, Count: 1}, {Root: server, Pid: server, Epoch: 2, Nr: 1, Count: 1}}
	m.Handle(mark(toClient, false, 0, 2, 1_300_000))
	m.Handle(data(toClient, server, "srv", 0, 1_300_000, resp))
	m.tick(100_000_000)
	if len(sink.msgs) != 2 || len(sink.fps) != 1 {
		t.Fatalf("%d messages and %d footprints, want 2 and 1", len(sink.msgs), len(sink.fps))
	}
	f := sink.fps[0]
	if f.Tool != "work" || string(f.ID) != "7" || f.Server.Pid != server || f.Client.Pid != client || f.Session != sink.msgs[0].Session {
		t.Errorf("footprint identity: %+v", f)
	}
	if len(f.Files) != 1 || f.Files[0].Path != "/etc/hostname" || f.Files[0].Pid != 21 {
		t.Errorf("files %+v, want /etc/hostname by pid 21", f.Files)
	}
	if len(f.Syscalls) != 1 || f.Syscalls[0].Count != 1 || f.Syscalls[0].Pid != 21 {
		t.Errorf("syscalls %+v, want the one of epoch 1 only", f.Syscalls)
	}
	if len(kern.roots) != 1 || kern.roots[0] != server {
		t.Errorf("roots %v, want the server %d", kern.roots, server)
	}
	if c := m.Counters(); c["footprints"] != 1 {
		t.Errorf("footprints counter %d, want 1", c["footprints"])
	}
}
