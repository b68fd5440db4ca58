package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// TestTraceCommand traces a shell that starts cat, ls on a missing path and exits 3: `mcpscope trace -- COMMAND`
// exits with COMMAND's status and writes one footprint (--no-db: JSONL on stdout) with the programs, their parent
// and exit codes, the file cat read and ls's failure, and none of mcpscope's own start-up.
func TestTraceCommand(t *testing.T) {
	requireBPF(t)
	script := `cat /etc/hostname >/dev/null; ls /nonexistent-mcpscope-trace 2>/dev/null; exit 3`
	cmd := exec.Command(testEnv.mcpscope, "trace", "--no-db", "--", "sh", "-c", script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	explainSkips(t, stderr.String)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("mcpscope trace: %v, want exit status 3; stderr:\n%s", err, stderr.String())
	}
	var f record.Footprint
	if err := json.Unmarshal(out, &f); err != nil || f.Kind != record.KindFootprint {
		t.Fatalf("output %q: %v, want one footprint record", out, err)
	}
	if f.Method != "trace" || f.Tool != "sh -c "+script || f.Time.Before(f.StartedAt) {
		t.Errorf("footprint %q %q from %v to %v", f.Method, f.Tool, f.StartedAt, f.Time)
	}
	byName := map[string]record.FootprintExec{}
	for _, x := range f.Execs {
		byName[filepath.Base(x.Filename)] = x
	}
	sh, cat, ls := byName["sh"], byName["cat"], byName["ls"]
	if sh.Pid == 0 || cat.Pid == 0 || ls.Pid == 0 {
		t.Fatalf("programs %+v: want sh, cat and ls", f.Execs)
	}
	if !slices.Equal(sh.Argv, []string{"sh", "-c", script}) || sh.ExitCode == nil || *sh.ExitCode != 3 {
		t.Errorf("sh: argv %q, exit %v", sh.Argv, sh.ExitCode)
	}
	if cat.Ppid != sh.Pid || ls.Ppid != sh.Pid || cat.ExitCode == nil || *cat.ExitCode != 0 || ls.ExitCode == nil || *ls.ExitCode != 2 {
		t.Errorf("cat %+v, ls %+v: want children of sh %d exiting 0 and 2", cat, ls, sh.Pid)
	}
	var catRead, lsFailed bool
	for _, s := range f.Syscalls {
		if s.Pid == ls.Pid && s.Errnos["ENOENT"] > 0 {
			lsFailed = true
		}
	}
	for _, fl := range f.Files {
		if fl.Pid == cat.Pid && fl.Path == "/etc/hostname" && fl.Result == "ok" {
			catRead = true
		}
		if strings.HasPrefix(fl.Path, "/proc/self/") || strings.HasPrefix(fl.Path, "/sys/") {
			t.Errorf("file %s: mcpscope's own start-up is in the footprint", fl.Path)
		}
	}
	if !catRead || !lsFailed {
		t.Errorf("cat's open of /etc/hostname %v, ls's ENOENT %v; files %+v", catRead, lsFailed, f.Files)
	}
}

// TestTracePidIntoStore traces a running shell by pid: once tracing is ready the shell goes on, starts cat and
// exits, and the trace ends with it. The footprint is recorded into a database and printed as mcpscope show does;
// mcpscope calls lists it.
func TestTracePidIntoStore(t *testing.T) {
	requireBPF(t)
	target := exec.Command("sh", "-c", `read go; cat /etc/hostname >/dev/null; exit 0`)
	stdin, err := target.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Process.Kill(); _ = target.Wait() })
	pid := strconv.Itoa(target.Process.Pid)
	db := filepath.Join(t.TempDir(), "trace.db")
	tr := startBackground(t, "trace", "--db", db, "--pid", pid, "--duration", "60s")
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if err := target.Wait(); err != nil {
		t.Fatalf("target: %v", err)
	}
	// The trace ends by itself once its root is gone.
	for tr.lines.Scan() {
		tr.log = append(tr.log, tr.lines.Text())
	}
	if err := tr.cmd.Wait(); err != nil {
		t.Fatalf("mcpscope trace: %v\n%s", err, strings.Join(tr.log, "\n"))
	}
	out := tr.stdout.String()
	for _, want := range []string{"trace sh[" + pid + "]", "sh[" + pid + "] and its descendants", "footprint", "cat /etc/hostname", "/etc/hostname"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	calls, err := exec.Command(testEnv.mcpscope, "calls", "--db", db).CombinedOutput()
	if err != nil || !strings.Contains(string(calls), "trace sh["+pid+"]") || !strings.Contains(string(calls), "1 program,") {
		t.Errorf("mcpscope calls: %v\n%s", err, calls)
	}
}

// cudaScript loads the CUDA driver library given as argv[1], waits argv[2] seconds (for mcpscope to probe it when it
// sees the open; a real program spends far longer in cuInit), then calls cuInit once, cuMemAlloc_v2 three times and cuLaunchKernel five times. Without a
// GPU the driver answers CUDA_ERROR_NO_DEVICE and kin; the calls still happen, and they are what is counted.
const cudaScript = `
import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
time.sleep(float(sys.argv[2]))
lib.cuInit(0)
ptr = ctypes.c_uint64()
for _ in range(3):
    lib.cuMemAlloc_v2(ctypes.byref(ptr), 16)
for _ in range(5):
    lib.cuLaunchKernel(None, 1, 1, 1, 1, 1, 1, 0, None, None, None)
`

// TestTraceCUDADriverCalls traces a Python program that calls into NVIDIA's CUDA driver library (Debian's libcuda1,
// fetched by make test-deps) and checks that the footprint counts each function's calls (gpu rows of kind
// driver_call), beside the library load. "on open": mcpscope sees the library opened and probes it then (the program
// waits a moment before its first call); "from the start": --cuda-lib has it probed before the program runs, which
// calls cuInit the instant the library is loaded.
func TestTraceCUDADriverCalls(t *testing.T) {
	requireBPF(t)
	lib := filepath.Join(testEnv.repo, "test", "cuda", "lib", "libcuda.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("the CUDA driver library is missing (%v): run `make test-deps`", err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		wait  time.Duration
	}{
		{"on open", nil, scaled(time.Second)},
		{"from the start", []string{"--cuda-lib", lib}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"trace", "--no-db"}, tc.flags...), "--", "python3", "-c", cudaScript, lib,
				strconv.FormatFloat(tc.wait.Seconds(), 'f', 1, 64))
			cmd := exec.Command(testEnv.mcpscope, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("mcpscope trace: %v; stderr:\n%s", err, stderr.String())
			}
			if strings.Count(stderr.String(), "counting the CUDA driver calls of "+lib) != 1 {
				t.Errorf("the log does not say once that the library was probed:\n%s", stderr.String())
			}
			var f record.Footprint
			if err := json.Unmarshal(out, &f); err != nil {
				t.Fatalf("output %q: %v, want one footprint record", out, err)
			}
			calls := map[string]uint64{}
			var loaded bool
			for _, g := range f.GPU {
				switch g.Kind {
				case "driver_call":
					calls[g.Detail] += g.Count
				case "library":
					loaded = loaded || strings.HasSuffix(g.Detail, "libcuda.so.1")
				}
			}
			want := map[string]uint64{"cuInit": 1, "cuMemAlloc_v2": 3, "cuLaunchKernel": 5}
			for name, n := range want {
				if calls[name] != n {
					t.Errorf("%s called %d times in the footprint, want %d; gpu rows %+v", name, calls[name], n, f.GPU)
				}
			}
			if !loaded {
				t.Errorf("gpu rows %+v: want the library load of libcuda.so.1", f.GPU)
			}
		})
	}
}
