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
	prog  *ebpf.Program
	links []link.Link
}

func attachEmpty(names []string) (*emptyPrograms, error) {
	// On a fresh boot tracefs is not mounted until mcpscope first runs; these programs may attach before it.
	if _, err := mcpcapture.EnsureTracefs(); err != nil {
		return nil, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "bench_tgids", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
	if err != nil {
		return nil, fmt.Errorf("create map: %w", err)
	}
	e := &emptyPrograms{m: m}
	e.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "bench_empty",
		Type:    ebpf.TracePoint,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("load empty program: %w", err)
	}
	for _, name := range names {
		l, err := link.Tracepoint("syscalls", name, e.prog, nil)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("attach syscalls/%s: %w", name, err)
		}
		e.links = append(e.links, l)
	}
	return e, nil
}

func (e *emptyPrograms) Close() {
	for _, l := range e.links {
		l.Close()
	}
	if e.prog != nil {
		e.prog.Close()
	}
	e.m.Close()
}
