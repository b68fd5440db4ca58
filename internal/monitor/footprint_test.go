package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	sys     []capture.SyscallCount
	cpu     []capture.CPUCount
	roots   []int
	members []int
}

func (f *fakeFootprinter) AddFootprintRoot(pid int, members ...int) error {
	f.roots = append(f.roots, pid)
	f.members = append(f.members, members...)
	return nil
}

func (f *fakeFootprinter) ForgetFootprintRoot(pid int) error {
	f.roots = slices.DeleteFunc(f.roots, func(p int) bool { return p == pid })
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
	// A /proc with the server (and a child of it, which joins its tree) and the client.
	proc := t.TempDir()
	for _, p := range []struct{ pid, ppid int }{{server, 1}, {21, server}, {client, 1}} {
		dir := filepath.Join(proc, strconv.Itoa(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (p) S %d 0 0", p.pid, p.ppid)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := New(Options{Sink: sink, Controller: &fakeController{}, Proc: procfs.FS{Root: proc}, Footprints: kern})
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
	if len(kern.roots) != 1 || kern.roots[0] != server || len(kern.members) != 1 || kern.members[0] != 21 {
		t.Errorf("roots %v with members %v, want the server %d with its child 21", kern.roots, kern.members, server)
	}
	// A server that is gone is not made a root: its pid may be another process's.
	m.processExited(server, 200_000_000)
	if err := os.RemoveAll(filepath.Join(proc, strconv.Itoa(server))); err != nil {
		t.Fatal(err)
	}
	m.Handle(reader(toServer, server, "srv", 200_000_000))
	late := `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"work"}}` + "\n"
	m.Handle(data(toServer, client, "host", uint64(len(req)), 201_000_000, late))
	m.tick(400_000_000)
	if len(kern.roots) != 1 {
		t.Errorf("roots %v after the server exited, want no new one", kern.roots)
	}
	// The pid comes back as another server (its session opens with initialize): it is made a root again.
	if err := os.MkdirAll(filepath.Join(proc, strconv.Itoa(server)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, strconv.Itoa(server), "stat"), []byte(fmt.Sprintf("%d (p) S 1 0 0", server)), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Handle(data(toServer, client, "host", uint64(len(req)+len(late)), 401_000_000, `{"jsonrpc":"2.0","id":9,"method":"initialize","params":{}}`+"\n"))
	m.tick(600_000_000)
	if len(kern.roots) != 2 {
		t.Errorf("roots %v after the pid came back as a server, want it made a root again", kern.roots)
	}
	if c := m.Counters(); c["footprints"] != 1 {
		t.Errorf("footprints counter %d, want 1", c["footprints"])
	}
}
