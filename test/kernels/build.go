package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/test/kernels/plan"
)

// hostTools are the programs the runner needs, with the Debian package of each.
var hostTools = []struct{ program, pkg string }{
	{"qemu-system-x86_64", "qemu-system-x86"},
	{"depmod", "kmod"},
	{"modprobe", "kmod"},
	{"xz", "xz-utils"},
	{"zstd", "zstd"},
	{"dpkg", "dpkg"},
	{"apt-get", "apt"},
}

// ensureTools installs with apt-get the packages of the host tools that are missing.
func ensureTools(ctx context.Context) error {
	var missing []string
	seen := map[string]bool{}
	for _, t := range hostTools {
		if _, err := exec.LookPath(t.program); err != nil && !seen[t.pkg] {
			seen[t.pkg] = true
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing %s and no apt-get to install them: this runner needs a Debian or Ubuntu host", strings.Join(missing, ", "))
	}
	logf("installing %s with apt-get", strings.Join(missing, " "))
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", args[0], err, out)
		}
	}
	return nil
}

// binaries are what the host builds for the guests.
type binaries struct {
	dir       string // mcpscope, gopeer and gopeer-stripped: MCPSCOPE_E2E_BINDIR of the e2e tests
	mcpscope  string
	gopeer    string
	guestinit []byte            // the guests' /init
	tests     map[string]string // test binary by suite name
}

// testSuites are the packages whose tests run in the guests, by suite name, in the order they run.
var testSuites = []struct{ name, pkg string }{
	{"bpf", "./internal/bpf"},
	{"capture", "./internal/capture"},
	{"e2e", "./test/e2e"},
}

// build compiles, on the host, everything the guests run: nothing is compiled under emulation.
func build(ctx context.Context, repo, dir string) (binaries, error) {
	b := binaries{dir: dir, mcpscope: filepath.Join(dir, "mcpscope"), gopeer: filepath.Join(dir, "gopeer"),
		tests: map[string]string{}}
	gobuild := func(env []string, args ...string) error {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	args := []string{"test", "-c", "-o", dir + "/"}
	for _, s := range testSuites {
		args = append(args, s.pkg)
		b.tests[s.name] = filepath.Join(dir, filepath.Base(s.pkg)+".test")
	}
	if err := gobuild(nil, args...); err != nil {
		return b, err
	}
	if err := gobuild(nil, "build", "-o", b.mcpscope, "./cmd/mcpscope"); err != nil {
		return b, err
	}
	if err := gobuild(nil, "build", "-o", b.gopeer, "./test/peers/gopeer"); err != nil {
		return b, err
	}
	if err := gobuild(nil, "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "gopeer-stripped"), "./test/peers/gopeer"); err != nil {
		return b, err
	}
	init := filepath.Join(dir, "guestinit")
	if err := gobuild([]string{"CGO_ENABLED=0"}, "build", "-o", init, "./test/kernels/guestinit"); err != nil {
		return b, err
	}
	var err error
	b.guestinit, err = os.ReadFile(init)
	return b, err
}

// defaultE2ERun selects the end-to-end tests that run in every guest. Programs run about 15 times slower under
// emulation than on the host, Node.js programs included. Measured in a sid guest (November 2026), the left-out tests
// cannot pass there for reasons of speed alone: TestInspectorServerEverything (the Inspector gives up connecting to
// server-everything after its 15 s connect timeout), TestSIGINTUnderLoad (its 5 s drain limit after a ping flood),
// and TestJunkFloodBesideValidSession (98 s of its 120 s limit: too close to pass reliably).
// TestGoClientServerEverything (a 1 MiB message each way with server-everything) takes about 60 s of its 90 s.
// TestHTTPGoSDKBothEras is the HTTP capture (TCP on every hook set) with go-sdk peers on both ends, no Node.js;
// TestHTTPSGoSDK the HTTPS capture from Go's crypto/tls (perf-event uprobes before 6.6, uprobe_multi links after);
// TestFootprintGoServer, TestFootprintHTTP and TestTraceCommand the footprints (raw syscall and sched tracepoints,
// the dentry walk, the epoch marks of the TCP and TLS hooks); TestHTTPSConnectionEndsBeforeExit the TCP state
// tracepoint that ends TLS connections, TestHTTPSPeersStartedBeforeMonitor the HTTP/2 frame check (a global BPF
// function) on connections opened before the probes (about a minute each in a 7.2 guest).
const defaultE2ERun = "^(TestGoClientServerEverything|TestModernEraGoSDK|TestSixteenMiBSingleWrite|TestWatchByCommThenSIGINT|TestDemo|TestHTTPGoSDKBothEras|TestHTTPSGoSDK|TestFootprintGoServer|TestFootprintHTTP|TestTraceCommand|TestHTTPSConnectionEndsBeforeExit|TestHTTPSPeersStartedBeforeMonitor)$"

// ciE2ERun is the end-to-end set of `-kernels ci`, which `make test` runs: about half of defaultE2ERun's time
// (some 10 of 21 minutes in a 7.2 guest), so that the matrix fits in CI beside the host's tests. It keeps one test
// of each kernel path: stdio through pipes with a Node.js peer and large messages, the chunked copy of a 16 MiB
// write, TCP in both eras and transports, HTTPS with the HTTP/2 frame check on connections opened before the
// probes, the footprints of an HTTP and an HTTPS server, the sched tracepoints of trace, and a watch by name ended
// by SIGINT. The stdio session of the 2026-07-28 era is the plan's session modern-gosdk, compared with the host's.
const ciE2ERun = "^(TestGoClientServerEverything|TestSixteenMiBSingleWrite|TestHTTPGoSDKBothEras|TestHTTPSPeersStartedBeforeMonitor|TestFootprintHTTP|TestTraceCommand|TestWatchByCommThenSIGINT)$"

// benchDDCount is the size of BenchmarkHookCost's dd run: a fifth of its default, for emulation.
const benchDDCount = 200_000

// nodePeers is server-everything, installed by `make test-deps`; the guests see it through the host's root.
const nodePeers = "test/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"

// sessions are the MCP sessions recorded with `mcpscope watch -o` on the host and in each guest, whose records are
// compared. Arguments are relative to the repository; "{bin}" is the directory of the host-built binaries.
var sessions = []struct {
	name string
	node bool
	args []string
}{
	{"modern-gosdk", false, []string{"{bin}/gopeer", "client-modern", "--", "{bin}/gopeer", "server-modern"}},
	{"server-everything-1MiB", true, []string{"{bin}/gopeer", "client", "--", "node", nodePeers, "stdio"}},
}

// newPlan is what the host and every guest run, with outputs in dir.
func newPlan(repo string, b binaries, o options, dir string) plan.Plan {
	env := func(extra ...string) []string { return append([]string{"CI=true"}, extra...) }
	p := plan.Plan{Steps: []plan.Step{{
		Name: "check", Args: []string{b.mcpscope, "check", "--json"}, Dir: repo, Env: env(),
		Timeout: 3 * time.Minute, Output: "check.log", Stdout: "check.json",
	}}}
	for _, s := range testSuites {
		// Under emulation (November 2026, a 2-core VM running two guests): the end-to-end set takes over 30 minutes
		// (5.10: 12 tests, 20 watch runs of about 2 minutes each, mostly loading the programs), TestLoad some 18
		// (7.2: both objects verified in four configurations, 2.5 minutes each, fentry included), the capture
		// tests 14 (5.10). Each gets about half as long again.
		limit := map[string]time.Duration{"e2e": 50 * time.Minute, "bpf": 30 * time.Minute}[s.name]
		if limit == 0 {
			limit = 22 * time.Minute
		}
		args := []string{b.tests[s.name], "-test.v=test2json", "-test.count=1", "-test.timeout=" + limit.String()}
		stepEnv := env()
		if s.name == "e2e" {
			args = append(args, "-test.run", o.e2eRun)
			// The end-to-end tests' hang limits are sized for the host; emulation is up to 15 times slower.
			// A failing test leaves its diagnosis files (a --debug-events log) beside the outputs.
			stepEnv = env("MCPSCOPE_E2E_BINDIR="+b.dir, "MCPSCOPE_E2E_TIMEOUT_SCALE=3", "MCPSCOPE_E2E_ARTIFACTS="+dir)
		}
		p.Steps = append(p.Steps, plan.Step{Name: s.name, Args: args, Dir: filepath.Join(repo, s.pkg), Env: stepEnv,
			Timeout: limit + time.Minute, Output: s.name + ".out"})
	}
	for _, s := range sessions {
		if s.node && !o.node {
			continue
		}
		args := []string{b.mcpscope, "watch", "--no-db", "-o", filepath.Join(dir, "session-"+s.name+".jsonl"), "--"}
		for _, a := range s.args {
			args = append(args, strings.ReplaceAll(a, "{bin}", b.dir))
		}
		p.Steps = append(p.Steps, plan.Step{Name: "session-" + s.name, Args: args, Dir: repo, Env: env(),
			Timeout: 5 * time.Minute, Output: "session-" + s.name + ".log"})
	}
	// Last, so that a slow benchmark never holds up the tests: what the hook sets cost a process that is not MCP
	// (BenchmarkHookCost in internal/capture, with a dd run shrunk for emulation).
	if o.bench {
		p.Steps = append(p.Steps, plan.Step{Name: "bench", Dir: filepath.Join(repo, "internal/capture"),
			Args: []string{b.tests["capture"], "-test.run", "^$", "-test.bench", "^BenchmarkHookCost$", "-test.benchtime", "1x", "-test.v"},
			Env:  env(fmt.Sprintf("MCPSCOPE_BENCH_DD_COUNT=%d", benchDDCount)), Timeout: 20 * time.Minute, Output: "bench.out"})
	}
	return p
}
