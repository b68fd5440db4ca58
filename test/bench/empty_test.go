package bench

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/mcpscope/mcpscope/internal/bpf"
	mcpcapture "github.com/mcpscope/mcpscope/internal/capture"
)

// syscallTracepoints lists the syscalls/* tracepoints that mcpscope's programs attach to, from their section names.
func syscallTracepoints() ([]string, error) {
	spec, err := bpf.Spec()
	if err != nil {
		return nil, err
	}
	const prefix = "tracepoint/syscalls/"
	seen := map[string]bool{}
	var names []string
	for _, p := range spec.Programs {
		if name, ok := strings.CutPrefix(p.SectionName, prefix); ok && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no tracepoint/syscalls/* programs in the mcpscope spec")
	}
	sort.Strings(names)
	return names, nil
}

// emptyPrograms is the floor: on every tracepoint, a program that looks the current tgid up in a hash map (the
// first thing a filtering program does) and returns 0.
type emptyPrograms struct {
	m     *ebpf.Map
	progs []*ebpf.Program
	links []link.Link
}

// attachEmpty attaches the empty program to the syscalls/* tracepoints names and, with rawSyscalls, to the raw
// tracepoints sys_enter and sys_exit as tp_btf programs, where watch attaches its footprint programs.
func attachEmpty(names []string, rawSyscalls bool) (*emptyPrograms, error) {
	// On a fresh boot tracefs is not mounted until mcpscope first runs; these programs may attach before it.
	if _, err := mcpcapture.EnsureTracefs(); err != nil {
		return nil, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "bench_tgids", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
	if err != nil {
		return nil, fmt.Errorf("create map: %w", err)
	}
	e := &emptyPrograms{m: m}
	load := func(spec *ebpf.ProgramSpec) (*ebpf.Program, error) {
		spec.License = "GPL"
		spec.Instructions = asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}
		prog, err := ebpf.NewProgram(spec)
		if err != nil {
			return nil, fmt.Errorf("load empty program %s: %w", spec.Name, err)
		}
		e.progs = append(e.progs, prog)
		return prog, nil
	}
	prog, err := load(&ebpf.ProgramSpec{Name: "bench_empty", Type: ebpf.TracePoint})
	if err != nil {
		e.Close()
		return nil, err
	}
	for _, name := range names {
		l, err := link.Tracepoint("syscalls", name, prog, nil)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("attach syscalls/%s: %w", name, err)
		}
		e.links = append(e.links, l)
	}
	if !rawSyscalls {
		return e, nil
	}
	for _, tp := range []string{"sys_enter", "sys_exit"} {
		prog, err := load(&ebpf.ProgramSpec{Name: "bench_" + tp, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp})
		if err == nil {
			var l link.Link
			if l, err = link.AttachTracing(link.TracingOptions{Program: prog}); err == nil {
				e.links = append(e.links, l)
			}
		}
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("attach tp_btf/%s: %w", tp, err)
		}
	}
	return e, nil
}

func (e *emptyPrograms) Close() {
	for _, l := range e.links {
		l.Close()
	}
	for _, p := range e.progs {
		p.Close()
	}
	e.m.Close()
}
