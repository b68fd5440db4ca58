package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/procfs"
)

// checkResult is one line of `mcpscope check`.
type checkResult struct {
	name     string
	ok       bool
	required bool // capture cannot work without it
	detail   string
}

// checkJSON is one line of `mcpscope check --json`: a stable shape for scripts (the kernel-matrix runner reads it).
type checkJSON struct {
	Capability string `json:"capability"`
	Works      bool   `json:"works"`
	Required   bool   `json:"required"`
	Detail     string `json:"detail"`
}

func newCheckCmd(streams IO) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Load and attach every program for real and report what works on this kernel",
		Long: `Check loads and attaches each of mcpscope's kernel programs for real (a feature can be "available" and still be
refused at load), captures a test message across a pipe, and reports per capability whether it works and why.
It exits non-zero when capture cannot work, naming the missing privilege or feature.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results := runChecks(cmd.Context())
			if err := printChecks(streams.Out, results, asJSON); err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if !r.ok && r.required {
					failed++
				}
			}
			if failed > 0 {
				fmt.Fprintf(streams.Err, "mcpscope: capture cannot work here: %d required capabilities are missing (see above)\n", failed)
				return exitError{code: 1}
			}
			fmt.Fprintln(streams.Err, "mcpscope: capture works on this kernel")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as one JSON array instead of a table")
	return cmd
}

// printChecks prints the results as a table, or as a JSON array of checkJSON.
func printChecks(w io.Writer, results []checkResult, asJSON bool) error {
	if asJSON {
		out := make([]checkJSON, 0, len(results))
		for _, r := range results {
			out = append(out, checkJSON{Capability: r.name, Works: r.ok, Required: r.required, Detail: r.detail})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CAPABILITY\tSTATUS\tDETAIL")
	for _, r := range results {
		status := "works"
		if !r.ok {
			status = "does not work"
			if !r.required {
				status += " (optional)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, status, r.detail)
	}
	return tw.Flush()
}

func runChecks(ctx context.Context) []checkResult {
	// Lift the memlock limit first (a no-op where BPF memory is charged to the cgroup), so that a refusal below is
	// the kernel's real answer and not a memlock artefact.
	_ = rlimit.RemoveMemlock()
	var out []checkResult
	out = append(out, checkPrivileges())
	out = append(out, checkBTF())
	out = append(out, checkRingBuffer())
	out = append(out, checkTracefs())
	out = append(out, checkCapture(ctx)...)
	footprints, cuda := checkFootprint(ctx)
	out = append(out, footprints, checkHTTPPrograms(), checkUprobe(), cuda)
	out = append(out, checkFentry())
	out = append(out, checkKprobe())
	return out
}

func checkPrivileges() checkResult {
	r := checkResult{name: "privileges", required: true}
	caps, err := effectiveCaps()
	if err != nil {
		r.detail = err.Error()
		return r
	}
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	var held, missing []string
	for _, c := range []struct {
		name string
		bit  uint
	}{{"CAP_BPF", unix.CAP_BPF}, {"CAP_PERFMON", unix.CAP_PERFMON}, {"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}} {
		if has(c.bit) {
			held = append(held, c.name)
		} else {
			missing = append(missing, c.name)
		}
	}
	r.ok = has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON))
	r.detail = fmt.Sprintf("uid %d; holds %s", os.Geteuid(), strings.Join(held, ", "))
	if !r.ok {
		r.detail = fmt.Sprintf("uid %d; missing %s: run as root (sudo) or grant CAP_BPF and CAP_PERFMON", os.Geteuid(), strings.Join(missing, ", "))
	}
	return r
}

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
			return caps, err
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

func checkBTF() checkResult {
	r := checkResult{name: "kernel BTF", required: true}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	if _, err := btf.LoadKernelSpec(); err != nil {
		r.detail = fmt.Sprintf("kernel %s has no BTF (%v): use a kernel built with CONFIG_DEBUG_INFO_BTF=y", release, err)
		return r
	}
	r.ok = true
	r.detail = "kernel " + release
	return r
}

func checkRingBuffer() checkResult {
	r := checkResult{name: "BPF ring buffer", required: true}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		r.detail = kernelSaid(err)
		if errors.Is(err, ebpf.ErrNotSupported) {
			r.detail += " (needs Linux 5.8 or later)"
		}
		return r
	}
	r.ok = true
	return r
}

func checkTracefs() checkResult {
	r := checkResult{name: "tracefs", required: true}
	mounted, err := capture.EnsureTracefs()
	switch {
	case err != nil:
		r.detail = err.Error()
	case mounted:
		r.ok = true
		r.detail = "was not mounted: mcpscope mounted it at " + capture.TracefsPath
	default:
		r.ok = true
		r.detail = "mounted"
	}
	return r
}

// checkCapture attaches the real programs, says which hooks, object and helper fast paths this kernel gets and why,
// and captures a ping written across a pipe by a child process.
func checkCapture(ctx context.Context) []checkResult {
	attach := checkResult{name: "stdio programs", required: true}
	helpers := checkResult{name: "helper fast paths (optional)", required: false}
	selftest := checkResult{name: "stdio capture (self-test)", required: true}
	capt, err := capture.Open(capture.Config{Filter: true, RingBufferBytes: 1 << 20})
	if err != nil {
		attach.detail = err.Error()
		helpers.detail = "not checked: the programs did not load"
		selftest.detail = "not run: the programs did not attach"
		return []checkResult{attach, helpers, selftest}
	}
	defer capt.Close()
	fast := capt.FastPaths()
	attach.ok = true
	attach.detail = hookDetail(fast)
	helpers.ok, helpers.detail = helperDetail(fast)
	results := func() []checkResult { return []checkResult{attach, helpers, selftest} }

	const ping = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	child, err := startCommand([]string{"sh", "-c", "printf '%s\\n' '" + ping + "' | cat >/dev/null"},
		IO{In: bytes.NewReader(nil), Out: io.Discard, Err: io.Discard})
	if err != nil {
		selftest.detail = err.Error()
		return results()
	}
	if err := capt.AddPid(child.cmd.Process.Pid); err != nil {
		child.abort()
		selftest.detail = err.Error()
		return results()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go capt.Run(runCtx)
	child.release()
	timeout := time.After(5 * time.Second)
	var got []byte
	for {
		select {
		case e, ok := <-capt.Events():
			if !ok {
				selftest.detail = "the ring buffer closed early"
				return results()
			}
			if e.Kind == capture.KindData {
				got = append(got, e.Data...)
			}
			capt.Release(e)
			if bytes.Equal(got, []byte(ping+"\n")) {
				selftest.ok = true
				selftest.detail = fmt.Sprintf("captured a %d-byte ping written to a pipe by a child process", len(ping))
				return results()
			}
		case <-timeout:
			selftest.detail = fmt.Sprintf("a ping written to a pipe was not captured within 5 s (got %q)", got)
			return results()
		}
	}
}

// checkFootprint loads the footprint programs and records the footprint of a shell that starts cat: the exec must
// be reported, with the tree's root.
// The capabilities checkFootprint reports.
const (
	footprintCheckName = "footprints (syscalls, files, programs, CPU of each call)"
	cudaCheckName      = "CUDA driver calls (footprints)"
)

// checkFootprint checks that a footprint tree's exec is reported, and, with the same programs, CUDA counting.
func checkFootprint(ctx context.Context) (footprints, cuda checkResult) {
	capt, err := capture.Open(capture.Config{Filter: true, Footprint: true, RingBufferBytes: 1 << 20})
	if err != nil {
		r := checkResult{name: footprintCheckName, detail: err.Error() + " (watch runs without footprints)"}
		return r, checkResult{name: cudaCheckName, detail: "needs footprints (see above)"}
	}
	defer capt.Close()
	return checkFootprintTree(ctx, capt), checkCUDA(capt)
}

func checkFootprintTree(ctx context.Context, capt *capture.Capture) checkResult {
	r := checkResult{name: footprintCheckName, required: false}
	child, err := startCommand([]string{"sh", "-c", "cat /dev/null"}, IO{In: bytes.NewReader(nil), Out: io.Discard, Err: io.Discard})
	if err != nil {
		r.detail = err.Error()
		return r
	}
	root := child.cmd.Process.Pid
	if err := capt.AddFootprintRoot(root); err != nil {
		child.abort()
		r.detail = err.Error()
		return r
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go capt.Run(runCtx)
	child.release()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-capt.Events():
			if !ok {
				r.detail = "the ring buffer closed early"
				return r
			}
			found := e.Kind == capture.KindFPExec && e.FP.Root == root && strings.HasSuffix(e.CommString(), "cat")
			capt.Release(e)
			if found {
				r.ok = true
				r.detail = "raw syscall and sched tracepoints (tp_btf); a child's exec was reported with its tree"
				return r
			}
		case <-timeout:
			r.detail = "a traced shell's exec of cat was not reported within 5 s"
			return r
		}
	}
}

// hookDetail says which hook set and object the stdio programs use, and why.
func hookDetail(f capture.FastPaths) string {
	var b strings.Builder
	if f.Fentry {
		b.WriteString("fentry/fexit on vfs_write, vfs_read and kin (the cheapest: no syscall tracepoint is enabled)")
	} else {
		b.WriteString("syscall tracepoints")
		if f.FentryUnavailable != "" {
			first := firstLine(f.FentryUnavailable)
			b.WriteString(" (fentry/fexit not used: " + first + ")")
		}
	}
	if f.Compat {
		b.WriteString("; compat object (this kernel has no BPF atomic fetch-and-add, 5.12, or no callbacks, 5.13)")
	}
	return b.String()
}

// helperDetail says which helper fast paths the fd walk uses.
func helperDetail(f capture.FastPaths) (bool, string) {
	yes := func(on bool, what, needs string) string {
		if on {
			return what + ": yes"
		}
		return what + ": no (" + needs + ")"
	}
	d := yes(f.TaskBTF, "direct task/fdtable loads", "bpf_get_current_task_btf, 5.11+") + "; " +
		yes(f.RdonlyCast, "direct file/inode loads", "bpf_rdonly_cast, 6.2+") + "; " +
		yes(f.PreemptOff, "copies with preemption off", "bpf_preempt_disable, 6.11+")
	if f.Fallback != "" {
		first := firstLine(f.Fallback)
		d += "; refused by the verifier, portable path used: " + first
	}
	return f.TaskBTF || f.RdonlyCast || f.PreemptOff, d
}

// checkHTTPPrograms loads the TCP and TLS programs watch adds for the HTTP transports and HTTPS (the checks above
// load the stdio set only), and, should the kernel refuse them, the TCP ones alone, as watch would.
func checkHTTPPrograms() checkResult {
	r := checkResult{name: "HTTP and HTTPS programs (optional)", required: false}
	capt, err := capture.Open(capture.Config{Filter: true, TCP: true, TLS: true, RingBufferBytes: 1 << 20})
	if err == nil {
		capt.Close()
		r.ok = true
		r.detail = "the TCP and TLS programs load (watch captures HTTP and, through the uprobes below, HTTPS)"
		return r
	}
	first := firstLine(err.Error())
	capt, err2 := capture.Open(capture.Config{Filter: true, TCP: true, RingBufferBytes: 1 << 20})
	if err2 != nil {
		r.detail = "refused (watch fails to start unless run with --no-http, which captures stdio only): " + first
		return r
	}
	capt.Close()
	r.detail = "the TCP programs load, the TLS ones are refused (watch captures HTTP but not HTTPS): " + first
	return r
}

// returnZero is the smallest program: r0 = 0; exit.
var returnZero = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}

func checkUprobe() checkResult {
	r := checkResult{name: "uprobes (for TLS capture)", required: false}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, Instructions: returnZero, License: "GPL"})
	if err != nil {
		r.detail = "load: " + kernelSaid(err)
		return r
	}
	defer prog.Close()
	exe, err := link.OpenExecutable("/proc/self/exe")
	if err != nil {
		r.detail = err.Error()
		return r
	}
	l, err := exe.Uprobe("runtime.main", prog, nil)
	if err != nil {
		r.detail = fmt.Sprintf("attach: %v", err)
		return r
	}
	l.Close()
	r.ok = true
	r.detail = "attached to this executable; no TLS library found to probe, so HTTPS will not be seen"
	if targets := capture.FindTLSTargets(procfs.Default()); len(targets) > 0 {
		r.detail = "attached to this executable; watch probes " + strings.Join(targets, ", ")
	}
	return r
}

// checkCUDA says whose CUDA driver calls the footprints of capt count from the start: it probes the host's
// installed libcuda files as watch and trace do, before any process loads them (others are probed when a traced
// process opens them).
func checkCUDA(capt *capture.Capture) checkResult {
	r := checkResult{name: cudaCheckName, required: false}
	if err := capt.CUDACounting(); err != nil {
		r.detail = err.Error() + "; GPU device opens and CUDA libraries loaded are still recorded"
		return r
	}
	r.ok = true
	probed, skipped, _ := capture.NewCUDAProber(capt, procfs.Default()).Preload() // no user's paths: no error
	switch {
	case len(probed) == 0 && skipped == nil:
		r.detail = "no CUDA driver installed in the usual places: counted in a libcuda a traced process opens (--cuda-lib PATH probes one from the start)"
	case len(probed) == 0:
		r.detail = "no installed CUDA driver could be probed (" + skipped.Error() + "): counted in a libcuda a traced process opens if it can be probed then"
	default:
		r.detail = "counted from the start in " + strings.Join(probed, ", ") + "; in any other libcuda when a traced process opens it"
		if skipped != nil {
			r.detail += "; not in " + skipped.Error()
		}
	}
	return r
}

func checkFentry() checkResult {
	r := checkResult{name: "fentry/fexit (optional fast path)", required: false}
	if err := capture.ProbeFentry(); err != nil {
		r.detail = kernelSaid(err) + "; mcpscope uses syscall tracepoints instead"
		return r
	}
	r.ok = true
	r.detail = "loads and attaches: the stdio programs use it (see above)"
	return r
}

func checkKprobe() checkResult {
	r := checkResult{name: "kprobes (optional)", required: false}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, Instructions: returnZero, License: "GPL"})
	if err != nil {
		r.detail = "load: " + kernelSaid(err)
		return r
	}
	defer prog.Close()
	l, err := link.Kprobe("vfs_write", prog, nil)
	if err != nil {
		r.detail = fmt.Sprintf("attach: %v; not needed", err)
		return r
	}
	l.Close()
	r.ok = true
	r.detail = "attached to vfs_write (not needed)"
	return r
}

// firstLine is the first line of s: a one-line summary of an error whose next lines are a verifier log.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// kernelSaid drops cilium/ebpf's memlock hint from an EPERM: BPF memory is charged to the cgroup on the kernels
// mcpscope supports, so the hint misleads; the refusal is the kernel's policy (e.g. restricted function tracing).
func kernelSaid(err error) string {
	return strings.Replace(err.Error(), " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", "", 1)
}
