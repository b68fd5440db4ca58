package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

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
