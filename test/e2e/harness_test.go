// Package e2e runs the real mcpscope binary, as a user would, against real MCP peers (server-everything and the
// Inspector CLI from npm, clients and servers on the official go-sdk) and asserts the exact records it writes.
//
// The tests need root (they load BPF programs). Outside CI they skip without it; with CI=true they fail.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// paths of what TestMain builds and finds.
type env struct {
	mcpscope         string // the binary under test
	gopeer           string // test/peers/gopeer
	gopeerStripped   string // the same, built with -ldflags="-s -w" (no symbol table: Go's TLS found from .gopclntab)
	repo             string
	serverEverything []string // command that starts server-everything over stdio
	inspector        []string // command that runs the Inspector CLI
}

var testEnv env

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		os.Exit(1)
	}
	if code >= 0 {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func setup() (int, error) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	testEnv.repo = repo
	nodeModules := filepath.Join(repo, "test", "node", "node_modules")
	testEnv.serverEverything = []string{"node", filepath.Join(nodeModules, "@modelcontextprotocol", "server-everything", "dist", "index.js"), "stdio"}
	testEnv.inspector = []string{"node", filepath.Join(nodeModules, "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js")}
	// MCPSCOPE_E2E_BINDIR names a directory of prebuilt mcpscope and gopeer binaries: the kernel-matrix runner
	// (test/kernels) builds them on the host so that nothing is compiled inside its slow guests.
	if bindir := os.Getenv("MCPSCOPE_E2E_BINDIR"); bindir != "" {
		testEnv.mcpscope = filepath.Join(bindir, "mcpscope")
		testEnv.gopeer = filepath.Join(bindir, "gopeer")
		testEnv.gopeerStripped = filepath.Join(bindir, "gopeer-stripped")
		for _, bin := range []string{testEnv.mcpscope, testEnv.gopeer, testEnv.gopeerStripped} {
			if _, err := os.Stat(bin); err != nil {
				return 0, fmt.Errorf("MCPSCOPE_E2E_BINDIR must hold mcpscope, gopeer and gopeer-stripped: %w", err)
			}
		}
		return -1, nil
	}
	dir, err := os.MkdirTemp("", "mcpscope-e2e-")
	if err != nil {
		return 0, err
	}
	testEnv.mcpscope = filepath.Join(dir, "mcpscope")
	testEnv.gopeer = filepath.Join(dir, "gopeer")
	testEnv.gopeerStripped = filepath.Join(dir, "gopeer-stripped")
	for _, b := range []struct{ bin, pkg, ldflags string }{
		{testEnv.mcpscope, "./cmd/mcpscope", ""},
		{testEnv.gopeer, "./test/peers/gopeer", ""},
		{testEnv.gopeerStripped, "./test/peers/gopeer", "-s -w"},
	} {
		bin, pkg := b.bin, b.pkg
		cmd := exec.Command("go", "build", "-ldflags="+b.ldflags, "-o", bin, pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return -1, nil
}

// requireBPF skips (or, in CI, fails) a test that needs to load BPF programs.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("end-to-end tests load BPF programs and must run as root in CI")
	}
	t.Skip("needs root to load BPF programs (CI=true makes this a failure)")
}

// requireNode fails when the npm peers are missing: `make test` installs them.
func requireNode(t *testing.T) {
	t.Helper()
	for _, p := range []string{testEnv.serverEverything[1], testEnv.inspector[1]} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("npm test peer missing (%v): run `make test-deps`", err)
		}
	}
}

// watchResult is one run of `mcpscope watch -o FILE -- COMMAND`.
type watchResult struct {
	records  []record.Message
	http     []record.HTTP // kind "http": exchanges that carried no JSON-RPC back
	stats    []record.Stats
	fps      []record.Footprint // kind "footprint"
	raw      [][]byte           // the JSONL lines of the message records
	stderr   string
	exitCode int
}

// keepArtifact copies a failed test's diagnosis file into $MCPSCOPE_E2E_ARTIFACTS, when set (the kernel matrix sets
// it to the run's output directory, since a guest's temporary files die with it).
func keepArtifact(t *testing.T, path string) {
	dir := os.Getenv("MCPSCOPE_E2E_ARTIFACTS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("keep %s: %v", path, err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "." + filepath.Base(path)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Logf("keep %s: %v", path, err)
		return
	}
	t.Logf("kept %s as %s", path, filepath.Join(dir, name))
}

// watch runs COMMAND under `mcpscope watch -o FILE [extra flags] -- COMMAND` and returns what it wrote.
func watch(t *testing.T, timeout time.Duration, flags []string, command ...string) watchResult {
	t.Helper()
	return watchTo(t, filepath.Join(t.TempDir(), "out.jsonl"), timeout, flags, command...)
}

// watchTo is watch writing to out, for a COMMAND that reads the records while it runs.
func watchTo(t *testing.T, out string, timeout time.Duration, flags []string, command ...string) watchResult {
	t.Helper()
	timeout = scaled(timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"watch", "-o", out}, flags...)
	args = append(append(args, "--"), command...)
	cmd := exec.CommandContext(ctx, testEnv.mcpscope, args...)
	cmd.Dir = testEnv.repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	res := watchResult{stderr: stderr.String()}
	explainSkips(t, func() string { return res.stderr })
	if ctx.Err() != nil {
		t.Fatalf("mcpscope did not finish within %v; stderr:\n%s", timeout, res.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run mcpscope: %v", err)
	}
	out2 := readJSONL(t, out)
	res.records, res.http, res.stats, res.raw, res.fps = out2.records, out2.http, out2.stats, out2.raw, out2.fps
	return res
}

// readJSONL reads a JSONL output: message, http and stats records; any other kind fails the test.
func readJSONL(t *testing.T, path string) watchResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open JSONL output: %v", err)
	}
	defer f.Close()
	var res watchResult
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var kind struct{ Kind string }
		if err := json.Unmarshal(line, &kind); err != nil {
			t.Fatalf("JSONL line is not JSON: %v: %.200s", err, line)
		}
		switch kind.Kind {
		case record.KindMessage:
			var m record.Message
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("decode message record: %v", err)
			}
			res.records = append(res.records, m)
			res.raw = append(res.raw, append([]byte(nil), line...))
		case record.KindHTTP:
			var h record.HTTP
			if err := json.Unmarshal(line, &h); err != nil {
				t.Fatalf("decode http record: %v", err)
			}
			res.http = append(res.http, h)
		case record.KindStats:
			var s record.Stats
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatalf("decode stats record: %v", err)
			}
			res.stats = append(res.stats, s)
		case record.KindFootprint:
			var f record.Footprint
			if err := json.Unmarshal(line, &f); err != nil {
				t.Fatalf("decode footprint record: %v", err)
			}
			res.fps = append(res.fps, f)
		default:
			t.Fatalf("unexpected record kind %q", kind.Kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read JSONL: %v", err)
	}
	return res
}

// summary renders records one per line for failure messages.
func summary(recs []record.Message) string {
	var b strings.Builder
	for i, r := range recs {
		fmt.Fprintf(&b, "%3d %-13s %-12s %-40s id=%-6s %s[%d]->%s[%d] size=%d tool=%s trunc=%v\n", i, r.Type, r.Direction,
			r.Method, r.ID, r.From.Comm, r.From.Pid, r.To.Comm, r.To.Pid, r.Size, r.Tool, r.Truncated)
	}
	return b.String()
}

// finalCounters returns the counters of the last stats record.
func (w watchResult) finalCounters(t *testing.T) map[string]uint64 {
	t.Helper()
	if len(w.stats) == 0 {
		t.Fatalf("no stats record written; stderr:\n%s", w.stderr)
	}
	return w.stats[len(w.stats)-1].Counters
}

// background is `mcpscope ARGS` running in the background, as in a second terminal, until interrupt stops it.
type background struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  *bufio.Scanner
	log    []string // stderr lines
}

// startBackground starts mcpscope with args and returns once it has printed its ready line.
func startBackground(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(testEnv.mcpscope, args...)}
	b.cmd.Stdout = &b.stdout
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.cmd.Process.Kill() })
	explainSkips(t, func() string { return strings.Join(b.log, "\n") })
	b.lines = bufio.NewScanner(stderr)
	for b.lines.Scan() {
		b.log = append(b.log, b.lines.Text())
		if strings.Contains(b.lines.Text(), "ready") {
			return b
		}
	}
	t.Fatalf("mcpscope ended before it was ready:\n%s", strings.Join(b.log, "\n"))
	return nil
}

// interrupt sends SIGINT and waits for the exit, failing the test unless it is a clean exit within 5 s.
func (b *background) interrupt(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := b.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for b.lines.Scan() { // to EOF: Wait must not run while the pipe is still being read
		b.log = append(b.log, b.lines.Text())
	}
	err := b.cmd.Wait()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("exit took %v after SIGINT, want under 5 s", took)
	}
	if err != nil {
		t.Fatalf("exit after SIGINT: %v; stderr:\n%s", err, strings.Join(b.log, "\n"))
	}
}

// explainSkips repeats, if the test fails, the monitor's line about program runs the kernel skipped (log returns
// its log so far): on a preemptible kernel under emulation (docs/kernel.md, "Skipped runs on preemptible kernels")
// that, rather than the code under test, can be why a record is missing; the log itself is not always printed.
func explainSkips(t *testing.T, log func() string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for line := range strings.Lines(log()) {
			if strings.Contains(line, "the kernel SKIPPED") {
				t.Log(strings.TrimSpace(line))
			}
		}
	})
}

// scaled stretches a test's limit by MCPSCOPE_E2E_TIMEOUT_SCALE (a number, default 1). The kernel-matrix runner sets it
// for its runs under qemu, where programs run many times slower; the limits catch hangs, they do not measure speed.
func scaled(d time.Duration) time.Duration {
	if f, err := strconv.ParseFloat(os.Getenv("MCPSCOPE_E2E_TIMEOUT_SCALE"), 64); err == nil && f > 1 {
		return time.Duration(float64(d) * f)
	}
	return d
}
