package capture

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/bpf"
)

// Hooks selects the kernel hooks of the stdio programs. Both sets capture the same bytes; they differ in cost.
type Hooks int

const (
	// HooksAuto uses fentry/fexit where the kernel attaches them and syscall tracepoints elsewhere.
	HooksAuto Hooks = iota
	// HooksTracepoint uses the syscall tracepoints, which every supported kernel has.
	HooksTracepoint
	// HooksFentry uses fentry/fexit and fails where the kernel refuses them.
	HooksFentry
)

func (h Hooks) String() string {
	switch h {
	case HooksTracepoint:
		return "tracepoint"
	case HooksFentry:
		return "fentry"
	}
	return "auto"
}

// ParseHooks reads the spelling String gives.
func ParseHooks(s string) (Hooks, error) {
	for _, h := range []Hooks{HooksAuto, HooksTracepoint, HooksFentry} {
		if s == h.String() {
			return h, nil
		}
	}
	return HooksAuto, fmt.Errorf("unknown hooks %q: want auto, tracepoint or fentry", s)
}

// FastPaths reports which optional kernel features the loaded programs use. Every one has a portable fallback that
// captures the same bytes at a higher cost.
type FastPaths struct {
	// Fentry: the stdio programs run on fentry/fexit of vfs_write, vfs_read and their kin instead of on syscall
	// tracepoints, which would slow every syscall of every process (see c/stdio_fentry.c).
	Fentry bool
	// FentryUnavailable says why the fentry programs were not used, when they were tried and failed.
	FentryUnavailable string
	// TaskBTF: the fd walk at every read and write loads task, files and fdtable fields directly
	// (bpf_get_current_task_btf, Linux 5.11+) instead of through bpf_probe_read_kernel calls.
	TaskBTF bool
	// RdonlyCast: the file's inode and mode are direct loads too (the kfunc bpf_rdonly_cast, Linux 6.2+).
	RdonlyCast bool
	// PreemptOff: copies run with preemption off (the kfuncs bpf_preempt_disable/enable, Linux 6.11+), so that a
	// program is rarely preempted midway and its next run on that CPU skipped.
	PreemptOff bool
	// Compat: the kernel has no atomic fetch-and-add (before 5.12) or no callback subprograms (before 5.13), so the
	// compat object is loaded (see reserve in c/mcps.h, bpf.KernelLacksMain and bpf.NeedsCompat).
	Compat bool
	// Fallback says why the helper fast paths the kernel advertised were not used (the verifier refused them).
	Fallback string
	// UprobeMulti: the TLS probes of a file are attached as uprobe_multi links (Linux 6.6+), two per file, rather
	// than one perf-event uprobe per function and return; detaching them at exit waits once per link.
	UprobeMulti bool
}

// Hooks names the hook set in use.
func (f FastPaths) Hooks() Hooks {
	if f.Fentry {
		return HooksFentry
	}
	return HooksTracepoint
}

// earlySuffix ends the name of the scratch array of the early copies of large pipe writes (early_copy in c/stdio.c),
// made on a context switch whatever the hook set.
const earlySuffix = "_early"

// closeFuncs are the kernel functions close(2) calls to drop an fd, newest first; the first the kernel has is hooked.
var closeFuncs = []string{"file_close_fd", "close_fd"}

// loadAndAttach loads and attaches one program set: fentry/fexit where cfg and the kernel allow, else the syscall
// tracepoints, each with the helper fast paths the kernel advertises and, should the verifier refuse those, without
// (loadHookSet). kernel holds the kernel's BTF, decoded once for every question and load.
func loadAndAttach(spec *ebpf.CollectionSpec, cfg Config, kernel *btf.Cache) (*ebpf.Collection, []link.Link, FastPaths, error) {
	var fast FastPaths
	if !cfg.Portable {
		fast = probeHelpers(kernel)
	} else {
		// Not a fast path but a guard: without it, a copy preempted midway shares its scratch slot (see copy_run).
		fast.PreemptOff = probeHelpers(kernel).PreemptOff
	}
	if cfg.Hooks != HooksTracepoint && !cfg.Portable {
		if err := ProbeFentry(); err != nil && cfg.Hooks == HooksAuto {
			// Refused for a trivial program: do not spend a second verifying the whole set to learn the same.
			fast.FentryUnavailable = err.Error()
			return loadHookSet(spec, false, fast, kernel)
		}
		coll, links, used, err := loadHookSet(spec, true, fast, kernel)
		if err == nil {
			used.Fentry = true
			return coll, links, used, nil
		}
		if cfg.Hooks == HooksFentry || bpf.NeedsCompat(err) {
			return nil, nil, used, fmt.Errorf("fentry/fexit programs: %w", err)
		}
		fast.FentryUnavailable = err.Error()
		if errors.Is(err, unix.EPERM) {
			// cilium/ebpf suggests MEMLOCK for any EPERM; for fentry it is the kernel's refusal (lockdown, a
			// hypervisor or a kernel without trampolines), the memlock limit is already lifted.
			fast.FentryUnavailable = "the kernel refuses fentry/fexit programs (operation not permitted)"
		}
	}
	return loadHookSet(spec, false, fast, kernel)
}

// loadHookSet loads and attaches one hook set (fentry or the syscall tracepoints) with the helper fast paths in fast,
// and, should the verifier refuse them, without: a kernel can advertise a helper or kfunc and still refuse it in
// these programs (a verifier limit, a backported helper without the BTF it needs, a rule such as 6.12's against
// global function calls with preemption off). The fentry set is retried so too, before the tracepoints: without the
// fast paths it still costs less than the tracepoints with them (docs/kernels.md: fentry/tracepoints 0.58 to 0.92),
// and 6.12 lost its fentry path to one such refusal. It returns the fast paths used.
func loadHookSet(spec *ebpf.CollectionSpec, fentry bool, fast FastPaths, kernel *btf.Cache) (*ebpf.Collection, []link.Link, FastPaths, error) {
	coll, links, err := loadWith(spec, fentry, fast, kernel)
	if err != nil && (fast.TaskBTF || fast.RdonlyCast || fast.PreemptOff) && !bpf.NeedsCompat(err) {
		fast = FastPaths{FentryUnavailable: fast.FentryUnavailable, Fallback: err.Error()}
		coll, links, err = loadWith(spec, fentry, fast, kernel)
	}
	return coll, links, fast, err
}

// loadWith loads the programs of one hook set with the helper fast paths in fast, and attaches them.
func loadWith(template *ebpf.CollectionSpec, fentry bool, fast FastPaths, kernel *btf.Cache) (*ebpf.Collection, []link.Link, error) {
	spec := template.Copy()
	for name, ps := range spec.Programs {
		uncopied, fentryOnly := strings.HasPrefix(name, uncopiedPrefix), strings.HasPrefix(name, uncopiedFentryPrefix)
		if (isFentry(ps) != fentry && (isFentry(ps) || isSyscallTracepoint(ps)) && !uncopied) || (fentryOnly && !fentry) {
			delete(spec.Programs, name)
		}
	}
	// The other set's scratch arrays (a slot of 32 KiB per CPU each) and prog arrays are not created.
	for name := range spec.Maps {
		for _, prefix := range []string{"mcps_scratch", "mcps_copy_progs"} {
			// The TLS uprobes' maps (suffixes _tls, _tlsm) and the early copies' (_early) serve both hook sets.
			if hook, ok := strings.CutPrefix(name, prefix); ok && hook != tlsSuffix && hook != tlsMultiSuffix && hook != earlySuffix && (hook != "") != fentry {
				delete(spec.Maps, name)
			}
		}
	}
	if fentry {
		fn, err := firstKernelFunc(kernel, closeFuncs)
		if err != nil {
			return nil, nil, err
		}
		spec.Programs["mcps_fentry_close"].AttachTo = fn
	}
	for name, on := range map[string]bool{bpf.VarTaskBTF: fast.TaskBTF, bpf.VarRdonlyCast: fast.RdonlyCast, bpf.VarPreempt: fast.PreemptOff} {
		if err := spec.Variables[name].Set(boolByte(on)); err != nil {
			return nil, nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: kernel})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			// err names the program; the full log (%+v) says why.
			return nil, nil, fmt.Errorf("the kernel's verifier refused mcpscope's programs: %w\n%+v", err, verr)
		}
		return nil, nil, fmt.Errorf("load BPF programs: %w", err)
	}
	links, err := attach(spec, coll)
	if err != nil {
		coll.Close()
		return nil, nil, err
	}
	return coll, links, nil
}

// tcpReadHooks are the fexit hooks of reads: their programs copy only TCP streams.
var tcpReadHooks = []string{"vfs_read", "vfs_readv", "__sys_recvfrom", "__sys_recvmsg"}

// dropTCPOnly removes from spec what only TCP capture uses: the programs on the exits of reads (named mcps_tcp_*),
// their copy continuations, prog arrays and scratch arrays. Reads then cost only their enter program.
func dropTCPOnly(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, "mcps_tcp_") {
			delete(spec.Programs, name)
		}
	}
	for _, hook := range tcpReadHooks {
		delete(spec.Programs, copyMorePrefix+"_"+hook)
		delete(spec.Maps, "mcps_copy_progs_"+hook)
		delete(spec.Maps, "mcps_scratch_"+hook)
	}
}

// uncopiedPrefix names the programs of the syscalls whose bytes no hook can copy (splice, tee, sendfile, sendmmsg):
// they count them as lost, and no fentry program sees them, so both hook sets load them.
const uncopiedPrefix = "mcps_uncopied_"

// uncopiedFentryPrefix names those loaded with the fentry hook set only: vmsplice's, which the tracepoint set copies.
const uncopiedFentryPrefix = uncopiedPrefix + "fentryset_"

// copyMorePrefix names the copy continuations: program mcps_copy_more<hook> is entered by tail call from the prog
// array mcps_copy_progs<hook>, never attached.
const copyMorePrefix = "mcps_copy_more"

// attach installs the copy continuations, then links every other program to the hook its ELF section names, the
// syscall exits first. On error it closes the links it made. The copies come first: an exit program attached before
// its hook's copy program is installed would count the writes it sees meanwhile as lost (its tail call fails). The
// exits come before the entries: a write whose entry was seen and whose exit was not would leave its arguments for
// the thread's next write-family exit, and its stream counted as written to for ever (writing_begin, stdio.c).
func attach(spec *ebpf.CollectionSpec, coll *ebpf.Collection) ([]link.Link, error) {
	for name := range spec.Programs {
		if hook, ok := strings.CutPrefix(name, copyMorePrefix); ok {
			progs := coll.Maps["mcps_copy_progs"+hook]
			if progs == nil {
				return nil, fmt.Errorf("program %s: no prog array mcps_copy_progs%s", name, hook)
			}
			if err := progs.Update(uint32(0), coll.Programs[name], ebpf.UpdateAny); err != nil {
				return nil, fmt.Errorf("install the copy continuation %s: %w", name, err)
			}
		}
	}
	var links []link.Link
	fail := func(err error) ([]link.Link, error) {
		for _, l := range links {
			l.Close()
		}
		return nil, err
	}
	names := slices.SortedFunc(maps.Keys(spec.Programs), func(a, b string) int {
		return cmp.Or(cmp.Compare(hookOrder(spec.Programs[a]), hookOrder(spec.Programs[b])), strings.Compare(a, b))
	})
	for _, name := range names {
		ps, prog := spec.Programs[name], coll.Programs[name]
		if strings.HasPrefix(name, copyMorePrefix) {
			continue // installed above
		}
		if isUprobe(ps) {
			continue // attached per library by AttachTLS
		}
		l, err := attachProgram(ps, prog)
		if err != nil {
			return fail(err)
		}
		links = append(links, l)
	}
	return links, nil
}

// hookOrder ranks a program for attach: syscall exits (tracepoints and fexit) before everything else.
func hookOrder(ps *ebpf.ProgramSpec) int {
	if strings.Contains(ps.SectionName, "/sys_exit") || strings.HasPrefix(ps.SectionName, "fexit/") {
		return 0
	}
	return 1
}

// attachProgram links prog to the hook its ELF section names: a tracepoint, a BTF raw tracepoint or fentry/fexit.
func attachProgram(ps *ebpf.ProgramSpec, prog *ebpf.Program) (link.Link, error) {
	section := ps.SectionName
	var (
		l   link.Link
		err error
	)
	switch {
	case strings.HasPrefix(section, "tracepoint/"):
		group, tp, ok := strings.Cut(strings.TrimPrefix(section, "tracepoint/"), "/")
		if !ok {
			return nil, fmt.Errorf("program %s: malformed section %q", ps.Name, section)
		}
		l, err = link.Tracepoint(group, tp, prog, nil)
	case strings.HasPrefix(section, "tp_btf/"), isFentry(ps):
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	default:
		return nil, fmt.Errorf("program %s: no attach rule for section %q", ps.Name, section)
	}
	if err != nil {
		return nil, fmt.Errorf("attach %s to %s: %w", ps.Name, attachPoint(ps), err)
	}
	return l, nil
}

func attachPoint(ps *ebpf.ProgramSpec) string {
	if ps.AttachTo != "" && isFentry(ps) {
		return ps.SectionName[:strings.IndexByte(ps.SectionName, '/')+1] + ps.AttachTo
	}
	return ps.SectionName
}

func isFentry(ps *ebpf.ProgramSpec) bool {
	return strings.HasPrefix(ps.SectionName, "fentry/") || strings.HasPrefix(ps.SectionName, "fexit/")
}

// isSyscallTracepoint tells the programs of the tracepoint hook set: those on syscall tracepoints and their copy
// continuation (section "tracepoint", entered by tail call only).
func isSyscallTracepoint(ps *ebpf.ProgramSpec) bool {
	return strings.HasPrefix(ps.SectionName, "tracepoint/syscalls/") || ps.SectionName == "tracepoint"
}

// ProbeFentry loads an empty fentry program on vfs_write and attaches it: where the kernel refuses that (EPERM under
// some hypervisors and lockdown policies), it refuses mcpscope's fentry set too. `mcpscope check` reports it.
func ProbeFentry() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceFEntry,
		AttachTo:     "vfs_write",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return errors.New("the kernel refuses fentry/fexit programs (operation not permitted)")
		}
		return fmt.Errorf("fentry: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attach fentry: %w", err)
	}
	return l.Close()
}

// probeHelpers asks the kernel which optional helpers the programs can use. A probe that fails for any reason leaves
// the feature off: the portable path is always correct.
func probeHelpers(kernel *btf.Cache) FastPaths {
	return FastPaths{
		TaskBTF:    features.HaveProgramHelper(ebpf.TracePoint, asm.FnGetCurrentTaskBtf) == nil,
		RdonlyCast: kernelHasFunc(kernel, "bpf_rdonly_cast"),
		PreemptOff: kernelHasFunc(kernel, "bpf_preempt_disable") && kernelHasFunc(kernel, "bpf_preempt_enable"),
	}
}

// kernelHasFunc tells whether the kernel's BTF declares the function.
func kernelHasFunc(kernel *btf.Cache, name string) bool {
	spec, err := kernel.Kernel()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return spec.TypeByName(name, &fn) == nil
}

func firstKernelFunc(kernel *btf.Cache, names []string) (string, error) {
	for _, n := range names {
		if kernelHasFunc(kernel, n) {
			return n, nil
		}
	}
	return "", fmt.Errorf("the kernel has none of %s", strings.Join(names, ", "))
}

func isUprobe(ps *ebpf.ProgramSpec) bool {
	return strings.HasPrefix(ps.SectionName, "uprobe") || strings.HasPrefix(ps.SectionName, "uretprobe")
}
