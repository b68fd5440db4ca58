package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// TestFootprintGoServer runs the go-sdk client and server over stdio (gopeer client-modern, server-modern) under
// `mcpscope watch`, calling add, then work: the server's work tool starts `sh -c 'cat FILE >/dev/null; exit 7'`,
// reads FILE, connects to a loopback port this test listens on and burns 200 ms of user and 100 ms of kernel CPU on
// one thread. The work call's footprint must hold each of those (the programs with argv, parent and exit code, the
// files by process, the connection, CPU within a tolerance of what the tool measured itself) and the add call's
// none of them; the store's tables must hold the same.
func TestFootprintGoServer(t *testing.T) {
	requireBPF(t)
	port := closingListener(t)
	file := filepath.Join(testEnv.repo, "go.mod")
	work, _ := json.Marshal(map[string]any{"file": file, "port": port, "user_ms": 200, "sys_ms": 100, "gpu": true,
		"rel_file": "go.sum"}) // relative to the server's working directory, the repository (watch runs there)
	db := filepath.Join(t.TempDir(), "fp.db")
	res := watch(t, 60*time.Second, []string{"--db", db}, testEnv.gopeer, "client-modern", "-steps", "add,work",
		"-work", string(work), "--", testEnv.gopeer, "server-modern", "-legacy", "-work")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	add, fp := twoFootprints(t, res, "add", "work")
	server := fp.Server.Pid
	if server == 0 || fp.Method != "tools/call" || string(fp.ID) != "3" || fp.Shared {
		t.Errorf("work footprint: server %d, method %q, id %s, shared %v", server, fp.Method, fp.ID, fp.Shared)
	}

	measuredUser, measuredSys := workMeasured(t, res.stderr)
	checkWorkFootprint(t, fp, server, file, port, measuredUser, measuredSys, true)

	// Nothing of work in add's footprint. add's own CPU is the SDK's handling of a first call: a few ms here, 30 to
	// 85 ms under emulation (the kernel matrix, 5.10 and 7.2); work's 300 ms would more than double it.
	if len(add.Execs)+len(add.Files)+len(add.Connections) != 0 || add.UserCPUMs+add.SysCPUMs > (measuredUser+measuredSys)/2 {
		t.Errorf("add's footprint holds work's (work measured %.0f ms itself): %+v", measuredUser+measuredSys, add)
	}

	// The store holds the same.
	sql := `SELECT c.tool, (SELECT count(*) FROM execs e WHERE e.call_id = c.id),
		(SELECT count(*) FROM files f WHERE f.call_id = c.id AND f.path = '` + file + `'),
		(SELECT count(*) FROM connections n WHERE n.call_id = c.id AND n.remote_port = ` + strconv.Itoa(port) + `),
		(SELECT count(*) FROM gpu g WHERE g.call_id = c.id AND g.kind = 'device'),
		c.user_cpu_ms >= 190 FROM tool_calls c ORDER BY c.id`
	b, err := exec.Command(testEnv.mcpscope, "query", "--db", db, "--format", "csv", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("mcpscope query: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[1] != "add,0,0,0,0,0" || lines[2] != "work,2,2,1,2,1" {
		t.Errorf("store: %q, want add,0,0,0,0,0 and work,2,2,1,2,1", lines)
	}
}

// TestFootprintServerFilesystem has the Inspector CLI (Node, which talks to its server over a Unix socketpair) call
// read_text_file on @modelcontextprotocol/server-filesystem (Node): the call's footprint holds the server's open of
// that file, and the store's files table the same row.
func TestFootprintServerFilesystem(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(file, []byte("hello footprint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "fp.db")
	server := []string{"node", filepath.Join(testEnv.repo, "test", "node", "node_modules", "@modelcontextprotocol",
		"server-filesystem", "dist", "index.js"), dir}
	cmd := append(append(append([]string{}, testEnv.inspector...), "--cli"), server...)
	cmd = append(cmd, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg", "path="+file)
	res := watch(t, 90*time.Second, []string{"--db", db}, cmd...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if len(res.fps) != 1 {
		t.Fatalf("%d footprints, want 1 (read_text_file): %+v", len(res.fps), res.fps)
	}
	fp := res.fps[0]
	if fp.Tool != "read_text_file" || fp.Server.Comm != "node" || fp.Shared {
		t.Errorf("footprint of %q by %+v, shared %v", fp.Tool, fp.Server, fp.Shared)
	}
	var opened bool
	for _, f := range fp.Files {
		if f.Pid == fp.Server.Pid && f.Path == file && f.Result == "ok" && strings.HasPrefix(f.Flags, "O_RDONLY") {
			opened = true
		}
	}
	if !opened {
		t.Errorf("files %+v: want the server's open of %s", fp.Files, file)
	}
	if len(fp.Execs) != 0 || len(fp.Connections) != 0 {
		t.Errorf("programs %+v, connections %+v: want none", fp.Execs, fp.Connections)
	}
	b, err := exec.Command(testEnv.mcpscope, "query", "--db", db, "--format", "csv",
		`SELECT c.tool, f.path, f.result FROM files f JOIN tool_calls c ON c.id = f.call_id WHERE f.path = '`+file+`'`).CombinedOutput()
	if err != nil {
		t.Fatalf("mcpscope query: %v\n%s", err, b)
	}
	if got, want := strings.TrimSpace(string(b)), "tool,path,result\nread_text_file,"+file+",ok"; got != want {
		t.Errorf("store: %q, want %q", got, want)
	}
}

// TestFootprintConcurrentCallsShared has the go-sdk client send two slow calls at once: the go-sdk server runs them
// at the same time, on goroutines that move between threads, so what happened while both ran belongs to neither
// alone: both footprints are marked shared, never given silently to one, and not split by thread.
func TestFootprintConcurrentCallsShared(t *testing.T) {
	requireBPF(t)
	res := watch(t, 60*time.Second, noDB, testEnv.gopeer, "client-modern", "-steps", "pair", "--", testEnv.gopeer, "server-modern")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if len(res.fps) != 2 {
		t.Fatalf("%d footprints, want 2: %+v", len(res.fps), res.fps)
	}
	for _, f := range res.fps {
		if f.Tool != "slow" || !f.Shared || f.ByThread {
			t.Errorf("footprint of %s id %s: shared %v, by thread %v; want shared, not by thread", f.Tool, f.ID, f.Shared, f.ByThread)
		}
		if !slices.ContainsFunc(f.Syscalls, func(s record.FootprintSyscall) bool { return s.Shared }) {
			t.Errorf("footprint of id %s: no syscall row marked shared: %+v", f.ID, f.Syscalls)
		}
	}
}

// TestFootprintConcurrentCallsByThread has a Python server that runs each tools/call on a thread of its own answer
// two calls at once: each call's thread opens the call's file and starts a cat that reads another, while both calls
// run. CPython keeps each task on one thread, so each footprint holds its own thread's files and program, not
// shared, and nothing of the other call's; what the main thread did meanwhile is shared.
func TestFootprintConcurrentCallsByThread(t *testing.T) {
	requireBPF(t)
	py := requireProgram(t, "python3", "the thread-per-call server")
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
	for _, f := range files {
		for _, p := range []string{f, f + ".child"} {
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := filepath.Join(testEnv.repo, "test", "peers", "pythreads", "pythreads.py")
	res := watch(t, 60*time.Second, noDB, py, script, "client", files[0], files[1])
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if len(res.fps) != 2 {
		t.Fatalf("%d footprints, want 2: %+v", len(res.fps), res.fps)
	}
	for _, f := range res.fps {
		own, other := files[0], files[1]
		if string(f.ID) == "3" {
			own, other = other, own
		}
		if f.Tool != "touch" || !f.ByThread || f.Server.Pid == 0 {
			t.Errorf("footprint of %s id %s by %+v: by thread %v, want true", f.Tool, f.ID, f.Server, f.ByThread)
		}
		mine := map[string]bool{}
		for _, x := range f.Files {
			switch {
			case strings.HasPrefix(x.Path, other):
				t.Errorf("call %s: holds %s, the other call's (row %+v)", f.ID, x.Path, x)
			case x.Path == own && x.Pid == f.Server.Pid || x.Path == own+".child" && x.Pid != f.Server.Pid:
				if x.Shared {
					t.Errorf("call %s: its own file %s marked shared", f.ID, x.Path)
				}
				mine[x.Path] = true
			}
		}
		if !mine[own] || !mine[own+".child"] {
			t.Errorf("call %s: files %+v; want %s opened by the server and %s.child by its cat", f.ID, f.Files, own, own)
		}
		var cats int
		for _, x := range f.Execs {
			if filepath.Base(x.Filename) != "cat" {
				continue
			}
			cats++
			if x.Shared || !slices.Contains(x.Argv, own+".child") || x.ExitCode == nil || *x.ExitCode != 0 {
				t.Errorf("call %s: program %+v; want its own cat of %s.child, not shared, exit 0", f.ID, x, own)
			}
		}
		if cats != 1 {
			t.Errorf("call %s: %d cat programs, want its own one: %+v", f.ID, cats, f.Execs)
		}
	}
}

// TestFootprintChildOutlivesCall: a tool starts a child and answers at once; the child reads a file a second later,
// when no call runs, and then a second call reads another. The first call's footprint holds the child's program
// with no exit code (it ran on after the call), the second call's holds its own file only: what the child did
// between the calls is in no footprint.
func TestFootprintChildOutlivesCall(t *testing.T) {
	requireBPF(t)
	py := requireProgram(t, "python3", "the test's own Python MCP server")
	dir := t.TempDir()
	late, file := filepath.Join(dir, "late"), filepath.Join(dir, "file")
	for _, f := range []string{late, file} {
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(testEnv.repo, "test", "peers", "pythreads", "pythreads.py")
	res := watch(t, 60*time.Second, noDB, py, script, "linger", late, file)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if len(res.fps) != 2 || res.fps[0].Tool != "linger" || res.fps[1].Tool != "read" {
		t.Fatalf("footprints %+v, want linger's then read's", res.fps)
	}
	linger, read := res.fps[0], res.fps[1]
	var sh *record.FootprintExec
	for i, x := range linger.Execs {
		if filepath.Base(x.Filename) == "sh" && slices.Contains(x.Argv, late) {
			sh = &linger.Execs[i]
		}
	}
	if sh == nil || sh.ExitCode != nil || sh.DurationMs != nil || sh.Shared {
		t.Errorf("linger's programs %+v: want its sh, running on after the call (no exit code, no duration), not shared", linger.Execs)
	}
	for _, f := range []record.Footprint{linger, read} {
		for _, x := range f.Files {
			if x.Path == late {
				t.Errorf("%s's footprint holds %s, read by the lingering child between the calls: %+v", f.Tool, late, x)
			}
		}
		for _, x := range f.Execs {
			if filepath.Base(x.Filename) == "cat" {
				t.Errorf("%s's footprint holds the lingering child's cat, started between the calls: %+v", f.Tool, x)
			}
		}
	}
	if len(read.Execs) != 0 || !slices.ContainsFunc(read.Files, func(x record.FootprintFile) bool { return x.Path == file && !x.Shared }) {
		t.Errorf("read's footprint: programs %+v, files %+v; want no program and its own %s", read.Execs, read.Files, file)
	}
}

// workMeasured returns the CPU the work tool measured itself, from the report gopeer's client wrote in output (its
// stdout: the JSON object of its steps).
func workMeasured(t *testing.T, output string) (user, sys float64) {
	t.Helper()
	var report struct {
		Steps []struct {
			Step    string `json:"step"`
			Details struct {
				Structured struct {
					UserMS float64 `json:"user_ms"`
					SysMS  float64 `json:"sys_ms"`
				} `json:"structured_content"`
			} `json:"details"`
		} `json:"steps"`
	}
	start := strings.Index(output, "{\n  \"peer\"")
	if start < 0 {
		t.Fatalf("no client report in the output:\n%s", output)
	}
	if err := json.NewDecoder(strings.NewReader(output[start:])).Decode(&report); err != nil {
		t.Fatalf("client report: %v\n%s", err, output)
	}
	for _, s := range report.Steps {
		if s.Step == "work" {
			user, sys = s.Details.Structured.UserMS, s.Details.Structured.SysMS
		}
	}
	if user < 200 || sys < 100 {
		t.Fatalf("the tool measured %.1f ms user and %.1f ms kernel; want at least 200 and 100", user, sys)
	}
	return user, sys
}

// checkWorkFootprint checks the footprint of gopeer's work tool, called with file, port, 200 ms of user and 100 ms
// of kernel CPU (and gpu, rel_file go.sum when full): its programs, files, connection, syscalls and CPU, against
// what the tool measured itself.
func checkWorkFootprint(t *testing.T, fp record.Footprint, server int, file string, port int, measuredUser, measuredSys float64, full bool) {
	t.Helper()
	// The tree's CPU: at least what the burning thread measured, less a few ms of tick sampling (4 ms at HZ=250),
	// and at most 60 ms more (the go-sdk, sh, cat and the runtime's other threads during the call). Under emulation
	// (the kernel matrix) starting sh and cat costs hundreds of ms of kernel time while the burn does not grow:
	// there the bound is what the machine's CPUs could do in the call's time.
	slack := 60.0
	if scaled(time.Second) > time.Second {
		slack = float64(fp.Time.Sub(fp.StartedAt).Milliseconds()) * float64(runtime.NumCPU())
	}
	if fp.UserCPUMs < measuredUser-10 || fp.UserCPUMs > measuredUser+slack {
		t.Errorf("user CPU %.1f ms, the tool measured %.1f ms (tolerance -10/+%.0f ms)", fp.UserCPUMs, measuredUser, slack)
	}
	if fp.SysCPUMs < measuredSys-10 || fp.SysCPUMs > measuredSys+slack {
		t.Errorf("kernel CPU %.1f ms, the tool measured %.1f ms (tolerance -10/+%.0f ms)", fp.SysCPUMs, measuredSys, slack)
	}

	var sh, cat *record.FootprintExec
	for i, x := range fp.Execs {
		switch {
		case strings.HasSuffix(x.Filename, "/sh") && slices.Equal(x.Argv, []string{"sh", "-c", `cat "$0" >/dev/null; exit 7`, file}):
			sh = &fp.Execs[i]
		case strings.HasSuffix(x.Filename, "/cat") && slices.Equal(x.Argv, []string{"cat", file}):
			cat = &fp.Execs[i]
		}
	}
	if sh == nil || cat == nil {
		t.Fatalf("programs %+v: want sh -c ... and cat %s", fp.Execs, file)
	}
	if sh.Ppid != server || sh.ExitCode == nil || *sh.ExitCode != 7 {
		t.Errorf("sh: parent %d (want the server %d), exit %v (want 7)", sh.Ppid, server, sh.ExitCode)
	}
	if cat.Ppid != sh.Pid || cat.ExitCode == nil || *cat.ExitCode != 0 {
		t.Errorf("cat: parent %d (want sh %d), exit %v (want 0)", cat.Ppid, sh.Pid, cat.ExitCode)
	}
	opened := func(pid int, path string) bool {
		for _, f := range fp.Files {
			if f.Pid == pid && f.Path == path && f.Result == "ok" {
				return true
			}
		}
		return false
	}
	if !opened(server, file) || !opened(cat.Pid, file) || !opened(sh.Pid, "/dev/null") {
		t.Errorf("files %+v: want %s opened by the server and by cat, /dev/null by sh", fp.Files, file)
	}
	// A relative path, resolved against the server's working directory in the kernel.
	if rel := filepath.Join(testEnv.repo, "go.sum"); full && !opened(server, rel) {
		t.Errorf("files %+v: want the server's open of go.sum as %s", fp.Files, rel)
	}
	var connected bool
	for _, c := range fp.Connections {
		if c.Pid == server && c.Op == "connect" && c.Family == "ipv4" && c.Addr == "127.0.0.1" && c.Port != nil &&
			*c.Port == port && (c.Result == "ok" || c.Result == "EINPROGRESS") {
			connected = true
		}
	}
	if !connected {
		t.Errorf("connections %+v: want the server's connect to 127.0.0.1:%d", fp.Connections, port)
	}
	counts := map[string]uint64{}
	for _, s := range fp.Syscalls {
		counts[s.Name] += s.Count
	}
	if counts["execve"] < 2 || counts["connect"] < 1 || counts["getrusage"] < 10 {
		t.Errorf("syscalls: execve %d, connect %d, getrusage %d; want at least 2, 1, 10", counts["execve"], counts["connect"], counts["getrusage"])
	}

	// GPU device opens (this machine has no GPU: they fail, and still show).
	var devices []string
	for _, g := range fp.GPU {
		if g.Kind == "device" && g.Pid == server {
			devices = append(devices, g.Detail)
		}
	}
	if full && (len(devices) != 2 || !strings.HasPrefix(devices[0], "/dev/dri/card0") || !strings.HasPrefix(devices[1], "/dev/nvidia0")) {
		t.Errorf("gpu %+v: want the server's opens of /dev/dri/card0 and /dev/nvidia0", fp.GPU)
	}

}

// TestFootprintHTTP calls gopeer's work tool over Streamable HTTP: plain HTTP/1.1 on loopback (the server's socket
// reads and writes mark its epochs) and HTTPS with HTTP/2 (Go's crypto/tls on both ends: the uprobes on the server's
// Read and Write mark them). The server runs before the monitor, which follows it alone (`watch --pid`); its
// responses come as server-sent events. The work call's footprint must hold the tool's programs, files, connection
// and CPU, and the echo call before it none of them; the store the same.
func TestFootprintHTTP(t *testing.T) {
	requireBPF(t)
	port := closingListener(t)
	file := filepath.Join(testEnv.repo, "go.mod")
	work, _ := json.Marshal(map[string]any{"file": file, "port": port, "user_ms": 200, "sys_ms": 100})
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"http", nil},
		{"https-h2", []string{"-tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startGopeerServerHTTP(t, testEnv.gopeer, "streamable", "legacy", append([]string{"-work"}, tc.extra...)...)
			db := filepath.Join(t.TempDir(), "fp.db")
			res, out := watchServerWith(t, srv, []string{"--db", db}, []string{testEnv.gopeer, "client-http", "-big", "0",
				"-progress=false", "-work", string(work), srv.url})
			echo, fp := twoFootprints(t, res, "echo", "work")
			if fp.Server.Pid != srv.pid || fp.Method != "tools/call" || fp.Shared {
				t.Errorf("work footprint: server %d (want %d), method %q, shared %v", fp.Server.Pid, srv.pid, fp.Method, fp.Shared)
			}
			user, sys := workMeasured(t, out)
			checkWorkFootprint(t, fp, srv.pid, file, port, user, sys, false)
			// The echo's own CPU is the SDK's HTTP handling: a few ms here, some 25 ms under emulation.
			if len(echo.Execs)+len(echo.Files)+len(echo.Connections) != 0 || echo.UserCPUMs > 20*float64(scaled(time.Second)/time.Second) {
				t.Errorf("echo's footprint holds work's: %+v", echo)
			}
			sql := `SELECT c.tool, (SELECT count(*) FROM execs e WHERE e.call_id = c.id),
				(SELECT count(*) FROM connections n WHERE n.call_id = c.id AND n.remote_port = ` + strconv.Itoa(port) + `),
				c.user_cpu_ms >= 190 FROM tool_calls c WHERE c.tool IN ('echo', 'work') ORDER BY c.id`
			b, err := exec.Command(testEnv.mcpscope, "query", "--db", db, "--format", "csv", sql).CombinedOutput()
			if err != nil {
				t.Fatalf("mcpscope query: %v\n%s", err, b)
			}
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) != 3 || got[1] != "echo,0,0,0" || got[2] != "work,2,1,1" {
				t.Errorf("store: %q, want echo,0,0,0 and work,2,1,1", got)
			}
		})
	}
}

// closingListener listens on a loopback port for the work tool's connect, closing every connection it accepts.
func closingListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// twoFootprints returns the footprints of the calls of tools a and b, the only two res holds.
func twoFootprints(t *testing.T, res watchResult, a, b string) (record.Footprint, record.Footprint) {
	t.Helper()
	fps := map[string]record.Footprint{}
	for _, f := range res.fps {
		fps[f.Tool] = f
	}
	fa, ok1 := fps[a]
	fb, ok2 := fps[b]
	if !ok1 || !ok2 || len(res.fps) != 2 {
		t.Fatalf("footprints %+v: want one for %s and one for %s\ncounters %v\n%s", res.fps, a, b, res.finalCounters(t), res.stderr)
	}
	return fa, fb
}
