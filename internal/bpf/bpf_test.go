package bpf

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// TestLoad checks that the kernel's verifier accepts every program of both objects: the syscall-tracepoint set
// everywhere, the fentry/fexit set where the kernel lets a trivial fentry program attach.
func TestLoad(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("loading BPF programs needs root (set CI=true to make this a failure)")
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	objects := map[string]func() (*ebpf.CollectionSpec, error){"main": Spec, "compat": CompatSpec}
	fentry := fentryWorks(t)
	// The kfuncs of the fast paths, where the kernel has them (capture/load.go probes them the same way).
	kfuncs := map[string]bool{
		VarTaskBTF:    features.HaveProgramHelper(ebpf.TracePoint, asm.FnGetCurrentTaskBtf) == nil,
		VarRdonlyCast: kernelHas(t, "bpf_rdonly_cast"),
		VarPreempt:    kernelHas(t, "bpf_preempt_disable") && kernelHas(t, "bpf_preempt_enable"),
	}
	for obj, load := range objects {
		for _, set := range []string{"tracepoint", "fentry", "tracepoint-fast", "fentry-fast"} {
			t.Run(obj+"/"+set, func(t *testing.T) {
				fast := strings.HasSuffix(set, "-fast")
				set := strings.TrimSuffix(set, "-fast")
				if fast && !kfuncs[VarTaskBTF] && !kfuncs[VarRdonlyCast] && !kfuncs[VarPreempt] {
					t.Skip("this kernel has none of the fast paths' helpers")
				}
				if set == "fentry" && !fentry {
					t.Skip("this kernel refuses fentry programs; capture uses syscall tracepoints here")
				}
				spec, err := load()
				if err != nil {
					t.Fatal(err)
				}
				// The uprobe_multi TLS programs need bpf_get_attach_cookie (5.15+); capture loads them only where the
				// kernel has uprobe_multi links (6.6+), and the perf-event ones elsewhere.
				multi := features.HaveBPFLinkUprobeMulti() == nil
				// The perf-event CUDA program needs attach cookies (5.15+); capture drops it elsewhere.
				if features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) != nil {
					delete(spec.Programs, "mcps_fp_cuda")
				}
				for name, ps := range spec.Programs {
					isFentry := strings.HasPrefix(ps.SectionName, "fentry/") || strings.HasPrefix(ps.SectionName, "fexit/")
					isTracepoint := strings.HasPrefix(ps.SectionName, "tracepoint/syscalls/") || ps.SectionName == "tracepoint"
					isMulti := strings.HasSuffix(ps.SectionName, "probe.multi")
					if (set == "fentry" && isTracepoint) || (set == "tracepoint" && isFentry) || (isMulti && !multi) {
						delete(spec.Programs, name)
					}
				}
				// With TCP and TLS capture, footprints and watch --debug-events on, every code path is live (off,
				// their branches are dead code the verifier skips), so this checks the most the verifier will ever
				// see; -fast adds the kfuncs of the fast paths the kernel has, which replace code or add to it.
				for _, v := range []string{VarTCPOn, VarTLSOn, VarFPOn, VarDebugTLS} {
					if err := spec.Variables[v].Set(uint8(1)); err != nil {
						t.Fatal(err)
					}
				}
				for v, on := range kfuncs {
					if err := spec.Variables[v].Set(boolByte(fast && on)); err != nil {
						t.Fatal(err)
					}
				}
				if p := spec.Programs["mcps_fentry_close"]; p != nil && !kernelHas(t, p.AttachTo) {
					p.AttachTo = "file_close_fd"
				}
				coll, err := ebpf.NewCollection(spec)
				if obj == "main" && KernelLacksMain() && !NeedsCompat(err) {
					t.Errorf("the helper probe says this kernel lacks bpf_for_each_map_elem, so capture skips the main "+
						"object, but the kernel did not refuse it for a feature the compat object does without: %v", err)
				}
				if obj == "main" && NeedsCompat(err) {
					t.Skipf("this kernel lacks a feature of the main object (Linux < 5.13): capture loads the compat object: %v", err)
				}
				if err != nil {
					var verr *ebpf.VerifierError
					if errors.As(err, &verr) {
						t.Fatalf("%v\nverifier log:\n%+v", err, verr)
					}
					t.Fatal(err)
				}
				defer coll.Close()
				for name, p := range coll.Programs {
					info, err := p.Info()
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if n, ok := info.VerifiedInstructions(); ok {
						t.Logf("%-26s verified instructions: %d", name, n)
					}
				}
			})
		}
	}
}

// fentryWorks tells whether the kernel loads and attaches an empty fentry program on vfs_read.
func fentryWorks(t *testing.T) bool {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceFEntry,
		AttachTo:     "vfs_read",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		t.Logf("fentry: %v", err)
		return false
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		t.Logf("fentry attach: %v", err)
		return false
	}
	l.Close()
	return true
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func kernelHas(t *testing.T, fn string) bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var f *btf.Func
	return spec.TypeByName(fn, &f) == nil
}

// TestNeedsCompat: both refusals an old kernel gives the main object send capture to the compat object, whichever
// program it verified first (5.10 guests reported one or the other from run to run); other errors do not.
func TestNeedsCompat(t *testing.T) {
	for msg, want := range map[string]bool{
		"program mcps_fp_sys_exit: load program: invalid argument: BPF_STX uses reserved fields":                                         true,
		"program mcps_tls_go_ret: load program: invalid argument: number of funcs in func_info doesn't match number of subprogs":         true,
		"program mcps_stdio_exit: load program: permission denied: R1 invalid mem access 'scalar'":                                       false,
		"program mcps_fentry_vfs_write: attach tracing: operation not permitted (MEMLOCK may be too low, consider rlimit.RemoveMemlock)": false,
	} {
		if got := NeedsCompat(errors.New(msg)); got != want {
			t.Errorf("NeedsCompat(%q) = %v, want %v", msg, got, want)
		}
	}
	if NeedsCompat(nil) {
		t.Error("NeedsCompat(nil)")
	}
}
