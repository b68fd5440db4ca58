// Package bench measures the overhead of mcpscope against the same work untraced, against a logging stdio proxy
// and against empty BPF programs on the same tracepoints. Run as root:
//
//	go test -count=1 -run '^$' -bench . -benchtime 1x ./test/bench/...
//
// Every benchmark runs its variants alternately, several times, in one run, and reports medians and ratios with
// b.ReportMetric. Nothing here asserts a wall-clock time; only loss and capture counts fail a benchmark.
// Method and results: docs/benchmarks.md.
package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	reps         = 5     // alternating repetitions of every variant
	pingN        = 3000  // sequential pings per ping-pong run
	echoN        = 300   // 64 KiB echo calls per throughput run
	echoSize     = 65536 // bytes per echo message
	goPingN      = 20000 // sequential pings per run against the go-sdk server
	goEchoN      = 500   // 64 KiB echo calls per run against the go-sdk server
	ddCount      = 2000000
	serverScript = "test/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)

var (
	root     string // repository root
	binDir   string // built binaries
	buildErr error
	buildMu  sync.Once
)

// setup builds mcpscope, gopeer and the logging proxy once, and skips when not root or without server-everything.
func setup(b *testing.B, needServer bool) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (BPF)")
	}
	buildMu.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			buildErr = err
			return
		}
		root = filepath.Clean(filepath.Join(wd, "..", ".."))
		binDir, err = os.MkdirTemp("", "mcpscope-bench-")
		if err != nil {
			buildErr = err
			return
		}
		for name, pkg := range map[string]string{
			"mcpscope": "./cmd/mcpscope",
			"gopeer":   "./test/peers/gopeer",
			"logproxy": "./test/bench/testdata/logproxy",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	if needServer {
		if _, err := os.Stat(filepath.Join(root, serverScript)); err != nil {
			b.Skipf("server-everything not installed (npm ci --prefix test/node): %v", err)
		}
		if _, err := exec.LookPath("node"); err != nil {
			b.Skip("node not found")
		}
	}
}

func bin(name string) string { return filepath.Join(binDir, name) }

// watcher is a background `mcpscope watch -o FILE` of every process.
type watcher struct {
	cmd    *exec.Cmd
	out    string
	stderr strings.Builder
	mu     sync.Mutex
	done   chan struct{}
	// peakPSS is the largest proportional set size sampled while it ran (KiB): pages shared with other processes
	// (the binary's, the libraries') count for their share.
	peakPSS atomic.Uint64
}

// startWatch starts mcpscope watching everything and waits for its ready line. Without a --db flag it passes
// --no-db: the benchmarks measure capture; the SQL store's cost is measured in internal/output/storesink.
func startWatch(b *testing.B, out string, flags ...string) *watcher {
	b.Helper()
	w := &watcher{out: out, done: make(chan struct{})}
	if !slices.Contains(flags, "--db") {
		flags = append([]string{"--no-db"}, flags...)
	}
	w.cmd = exec.Command(bin("mcpscope"), append([]string{"watch", "-o", out}, flags...)...)
	pipe, err := w.cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pipe)
		signalled := false
		for sc.Scan() {
			w.mu.Lock()
			w.stderr.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "ready") {
				signalled = true
				close(ready)
			}
		}
		if !signalled {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		b.Fatal("mcpscope did not print ready within 30 s")
	}
	go w.samplePSS()
	return w
}

// samplePSS records the monitor's PSS every 100 ms until it exits: the kernel keeps a high-water mark of RSS only.
func (w *watcher) samplePSS() {
	rollup := fmt.Sprintf("/proc/%d/smaps_rollup", w.cmd.Process.Pid)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if kib := statusField(rollup, "Pss:"); kib > w.peakPSS.Load() {
			w.peakPSS.Store(kib)
		}
		select {
		case <-w.done:
			return
		case <-tick.C:
		}
	}
}

// statusField reads the value in KiB of one field of a /proc file of "Name: value kB" lines (0 if absent).
func statusField(path, name string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// hwmKiB reads VmHWM (peak RSS) of the running monitor.
func (w *watcher) hwmKiB() uint64 {
	return statusField(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid), "VmHWM:")
}

// stop interrupts the monitor, waits for it and returns its peak RSS in KiB (the larger of VmHWM and ru_maxrss).
func (w *watcher) stop(b *testing.B) uint64 {
	b.Helper()
	hwm := w.hwmKiB()
	_ = w.cmd.Process.Signal(os.Interrupt)
	<-w.done
	err := w.cmd.Wait()
	if err != nil {
		w.mu.Lock()
		b.Fatalf("mcpscope watch: %v\n%s", err, w.stderr.String())
	}
	if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && uint64(ru.Maxrss) > hwm {
		hwm = uint64(ru.Maxrss)
	}
	return hwm
}

// capture summarises a JSONL file: message records whose method is method, and the final stats counters.
type capture struct {
	methodMsgs   int
	allMsgs      int
	uncorrelated int      // responses (counted in methodMsgs) that carry no method
	others       []string // the first other-method messages of the session, for the log
	counters     map[string]uint64
}

// Only messages of sessions with process pid on one side are counted (other MCP traffic on the host is ignored);
// those of another method are logged.
func readCapture(b *testing.B, path, method string, pid int) capture {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var c capture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	needle := `"method":"` + method + `"`
	p := strconv.Itoa(pid)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `{"kind":"message"`):
			if !strings.Contains(line, `"session":"stdio:`+p+`-`) && !strings.Contains(line, `-`+p+`"`) {
				continue
			}
			c.allMsgs++
			if strings.Contains(line, needle) {
				c.methodMsgs++
			} else if strings.Contains(line, `"type":"response"`) && !strings.Contains(line, `"method":`) {
				// A response the correlator did not match to its request: captured, but without its method.
				c.methodMsgs++
				c.uncorrelated++
			} else if len(c.others) < 20 {
				if len(line) > 300 {
					line = line[:300] + "…"
				}
				c.others = append(c.others, line)
			}
		case strings.HasPrefix(line, `{"kind":"stats"`):
			c.counters = statsCounters(b, line)
		}
	}
	checkStatsRead(b, path, sc.Err(), c.counters)
	return c
}

// peerResult is gopeer pingpong's summary line.
type peerResult struct {
	N           int     `json:"n"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"per_sec"`
	BytesPerSec float64 `json:"bytes_per_sec"`
	pid         int     // gopeer's pid, to pick its session out of a capture of the whole host
}

// pingpong runs gopeer pingpong against server-everything, directly or through the logging proxy.
func pingpong(b *testing.B, n, size int, proxyLog string) peerResult {
	b.Helper()
	return pingpongWith(b, []string{"node", filepath.Join(root, serverScript), "stdio"}, n, size, proxyLog)
}

// goServer is a go-sdk server with the same echo tool: the fastest pair these machines have.
func goServer() []string { return []string{bin("gopeer"), "server-modern", "-legacy"} }

// pingpongWith runs gopeer pingpong against server (a command line).
func pingpongWith(b *testing.B, server []string, n, size int, proxyLog string) peerResult {
	b.Helper()
	args := []string{"pingpong", "-n", strconv.Itoa(n)}
	if size > 0 {
		args = append(args, "-size", strconv.Itoa(size))
	}
	args = append(args, "--")
	if proxyLog != "" {
		args = append(args, bin("logproxy"), "-log", proxyLog, "--")
	}
	args = append(args, server...)
	cmd := exec.Command(bin("gopeer"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	err := cmd.Start()
	pid := 0
	if err == nil {
		pid = cmd.Process.Pid
		err = cmd.Wait()
	}
	out := []byte(stdout.String())
	if err != nil {
		b.Fatalf("gopeer %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var r peerResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("gopeer output %q: %v", out, err)
	}
	r.pid = pid
	return r
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRuns(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}

// BenchmarkPingPong: sequential pings untraced, beside the floor of the default watch's syscall hooks (the empty
// programs of BenchmarkSyscallFloor on its syscall tracepoints and on sys_enter/sys_exit), traced by a background
// mcpscope (capture alone, --no-db; with --no-footprint, which separates the cost of the footprint programs from
// that of the capture; and the default watch, recording into a database), and through a logging proxy. Beside the
// rates it reports the monitor's own CPU per message, which these 2-CPU machines take from the pair it watches.
func BenchmarkPingPong(b *testing.B) {
	setup(b, true)
	dir := b.TempDir()
	names, err := syscallTracepoints()
	if err != nil {
		b.Fatal(err)
	}
	var untraced, empty, traced, tracedNoFP, tracedDB, proxied []float64
	cpuPerMsg := map[string][]float64{}
	uncorrelated := 0
	// tracedRun pings under a watch with flags and checks that it captured every ping.
	tracedRun := func(rep int, name string, flags ...string) float64 {
		out := filepath.Join(dir, fmt.Sprintf("ping-%s-%d.jsonl", name, rep))
		if j := slices.Index(flags, "--db"); j >= 0 {
			flags = slices.Insert(slices.Clone(flags), j+1, filepath.Join(dir, fmt.Sprintf("ping-%d.db", rep)))
		}
		w := startWatch(b, out, flags...)
		before := cpuTicks(b, w.cmd.Process.Pid)
		tr := pingpong(b, pingN, 0, "")
		ticks := cpuTicks(b, w.cmd.Process.Pid) - before
		w.stop(b)
		cpuPerMsg[name] = append(cpuPerMsg[name], float64(ticks)*1e6/clockTicks/(2*pingN))
		c := readCapture(b, out, "ping", tr.pid)
		uncorrelated += c.uncorrelated
		if c.methodMsgs != 2*pingN {
			b.Errorf("rep %d %s: captured %d ping messages, want %d (all messages %d)", rep, name, c.methodMsgs, 2*pingN, c.allMsgs)
		}
		if u, t := c.counters["kernel_undelivered_bytes"], c.counters["truncated"]; u != 0 || t != 0 {
			b.Errorf("rep %d %s: kernel_undelivered_bytes=%d truncated=%d, want 0", rep, name, u, t)
		}
		b.Logf("rep %d %s: %d ping messages (%d responses without method) of %d messages in the session, kernel_undelivered_bytes=%d truncated=%d",
			rep, name, c.methodMsgs, c.uncorrelated, c.allMsgs, c.counters["kernel_undelivered_bytes"], c.counters["truncated"])
		return tr.PerSec
	}
	pingpong(b, 200, 0, "") // warm-up: page cache for node and the server
	for i := 0; i < reps; i++ {
		untraced = append(untraced, pingpong(b, pingN, 0, "").PerSec)
		ep, err := attachEmpty(names, true)
		if err != nil {
			b.Fatal(err)
		}
		empty = append(empty, pingpong(b, pingN, 0, "").PerSec)
		ep.Close()
		traced = append(traced, tracedRun(i, "traced"))
		tracedNoFP = append(tracedNoFP, tracedRun(i, "no-footprint", "--no-footprint"))
		tracedDB = append(tracedDB, tracedRun(i, "db", "--db"))
		proxied = append(proxied, pingpong(b, pingN, 0, filepath.Join(dir, fmt.Sprintf("proxy-%d.log", i))).PerSec)
	}
	mu, me, mt, mn, md, mp := median(untraced), median(empty), median(traced), median(tracedNoFP), median(tracedDB), median(proxied)
	b.Logf("per_sec untraced:     %s", fmtRuns(untraced))
	b.Logf("per_sec empty hooks:  %s", fmtRuns(empty))
	b.Logf("per_sec traced:       %s", fmtRuns(traced))
	b.Logf("per_sec no-footprint: %s", fmtRuns(tracedNoFP))
	b.Logf("per_sec db:           %s", fmtRuns(tracedDB))
	b.Logf("per_sec proxy:        %s", fmtRuns(proxied))
	for _, name := range []string{"traced", "no-footprint", "db"} {
		b.Logf("monitor CPU µs/msg %-12s %s", name+":", fmtRuns(cpuPerMsg[name]))
	}
	b.Logf("median per_sec untraced %.0f empty hooks %.0f traced %.0f no-footprint %.0f db %.0f proxy %.0f; time ratio traced/untraced %.3f traced/empty %.3f no-footprint/untraced %.3f db/untraced %.3f empty/untraced %.3f proxy/untraced %.3f",
		mu, me, mt, mn, md, mp, mu/mt, me/mt, mu/mn, mu/md, mu/me, mu/mp)
	b.ReportMetric(mu, "untraced_msg/s")
	b.ReportMetric(me, "empty_msg/s")
	b.ReportMetric(mt, "traced_msg/s")
	b.ReportMetric(mn, "nofootprint_msg/s")
	b.ReportMetric(md, "db_msg/s")
	b.ReportMetric(mp, "proxy_msg/s")
	b.ReportMetric(median(cpuPerMsg["traced"]), "traced_monitor_cpu_µs/msg")
	b.ReportMetric(median(cpuPerMsg["db"]), "db_monitor_cpu_µs/msg")
	// Ratios of time per ping (inverse of rate): 1.05 means 5 % slower.
	b.ReportMetric(mu/mt, "traced/untraced_time")
	b.ReportMetric(me/mt, "traced/empty_time")
	b.ReportMetric(mu/me, "empty/untraced_time")
	b.ReportMetric(mu/mn, "nofootprint/untraced_time")
	b.ReportMetric(mu/md, "db/untraced_time")
	b.ReportMetric(mu/mp, "proxy/untraced_time")
	b.ReportMetric(float64(uncorrelated), "uncorrelated_responses")
}

// BenchmarkEcho64K: 64 KiB echo calls untraced and traced, with zero loss, and the monitor's peak memory, in three
// configurations: capture alone (--no-db), the watch as users run it (recording into a database), and that with an
// 8 MiB ring buffer.
func BenchmarkEcho64K(b *testing.B) {
	setup(b, true)
	for _, cfg := range []struct {
		name  string
		flags []string
	}{
		{"no-db", nil},
		{"db", []string{"--db"}},
		{"db,ring=8MiB", []string{"--db", "--ring-buffer-mb", "8"}},
	} {
		b.Run(cfg.name, func(b *testing.B) { echo64K(b, cfg.flags) })
	}
}

// echo64K is BenchmarkEcho64K with watch flags; a "--db" flag gets a fresh database in the run's directory.
func echo64K(b *testing.B, flags []string) {
	dir := b.TempDir()
	var untraced, traced []float64
	var peakKiB, peakPSSKiB uint64
	var undelivered, truncated uint64
	pingpong(b, 20, echoSize, "") // warm-up
	for i := 0; i < reps; i++ {
		untraced = append(untraced, pingpong(b, echoN, echoSize, "").BytesPerSec/1e6)

		out := filepath.Join(dir, fmt.Sprintf("echo-%d.jsonl", i))
		runFlags := slices.Clone(flags)
		if j := slices.Index(runFlags, "--db"); j >= 0 {
			runFlags = slices.Insert(runFlags, j+1, filepath.Join(dir, fmt.Sprintf("echo-%d.db", i)))
		}
		w := startWatch(b, out, runFlags...)
		tr := pingpong(b, echoN, echoSize, "")
		traced = append(traced, tr.BytesPerSec/1e6)
		if kib := w.stop(b); kib > peakKiB {
			peakKiB = kib
		}
		peakPSSKiB = max(peakPSSKiB, w.peakPSS.Load())
		c := readCapture(b, out, "tools/call", tr.pid)
		u, t := c.counters["kernel_undelivered_bytes"], c.counters["truncated"]
		undelivered += u
		truncated += t
		if c.methodMsgs != 2*echoN {
			b.Errorf("rep %d: captured %d tools/call messages, want %d", i, c.methodMsgs, 2*echoN)
		}
		if u != 0 || t != 0 {
			b.Errorf("rep %d: kernel_undelivered_bytes=%d truncated=%d, want 0", i, u, t)
		}
		if d := c.counters["db_messages_dropped"]; d != 0 {
			b.Errorf("rep %d: db_messages_dropped=%d, want 0", i, d)
		}
	}
	mu, mt := median(untraced), median(traced)
	b.Logf("MB/s untraced: %s", fmtRuns(untraced))
	b.Logf("MB/s traced:   %s", fmtRuns(traced))
	b.Logf("median MB/s untraced %.1f traced %.1f; time ratio traced/untraced %.3f; kernel_undelivered_bytes %d truncated %d (sum of %d runs); mcpscope peak RSS %.1f MiB, peak PSS %.1f MiB",
		mu, mt, mu/mt, undelivered, truncated, reps, float64(peakKiB)/1024, float64(peakPSSKiB)/1024)
	b.ReportMetric(mu, "untraced_MB/s")
	b.ReportMetric(mt, "traced_MB/s")
	b.ReportMetric(mu/mt, "traced/untraced_time")
	b.ReportMetric(float64(undelivered), "undelivered_bytes")
	b.ReportMetric(float64(truncated), "truncated")
	b.ReportMetric(float64(peakKiB)/1024, "peak_RSS_MiB")
	b.ReportMetric(float64(peakPSSKiB)/1024, "peak_PSS_MiB")
}

// BenchmarkGoPair: the highest rates a pair reaches here — gopeer's client against gopeer's go-sdk server — with
// small pings and with 64 KiB echoes, untraced and traced; every message must be captured, nothing lost.
func BenchmarkGoPair(b *testing.B) {
	setup(b, false)
	dir := b.TempDir()
	for _, v := range []struct {
		name    string
		n, size int
		method  string
		unit    string
		rateOf  func(peerResult) float64
	}{
		{"ping", goPingN, 0, "ping", "msg/s", func(r peerResult) float64 { return 2 * r.PerSec }},
		{"echo64k", goEchoN, echoSize, "tools/call", "MB/s", func(r peerResult) float64 { return 2 * r.BytesPerSec / 1e6 }},
	} {
		var untraced, traced []float64
		var undelivered, truncated uint64
		pingpongWith(b, goServer(), v.n/10, v.size, "") // warm-up
		for i := 0; i < reps; i++ {
			untraced = append(untraced, v.rateOf(pingpongWith(b, goServer(), v.n, v.size, "")))
			out := filepath.Join(dir, fmt.Sprintf("%s-%d.jsonl", v.name, i))
			w := startWatch(b, out)
			tr := pingpongWith(b, goServer(), v.n, v.size, "")
			traced = append(traced, v.rateOf(tr))
			w.stop(b)
			c := readCapture(b, out, v.method, tr.pid)
			u, t := c.counters["kernel_undelivered_bytes"], c.counters["truncated"]
			undelivered += u
			truncated += t
			if c.methodMsgs != 2*v.n {
				b.Errorf("%s rep %d: captured %d %s messages, want %d", v.name, i, c.methodMsgs, v.method, 2*v.n)
			}
		}
		mu, mt := median(untraced), median(traced)
		b.Logf("%s %s (both directions) untraced: %s", v.name, v.unit, fmtRuns(untraced))
		b.Logf("%s %s (both directions) traced:   %s", v.name, v.unit, fmtRuns(traced))
		b.Logf("%s: median untraced %.1f traced %.1f %s; time ratio %.3f; kernel_undelivered_bytes %d truncated %d (sum of %d runs)",
			v.name, mu, mt, v.unit, mu/mt, undelivered, truncated, reps)
		b.ReportMetric(mu, v.name+"_untraced_"+v.unit)
		b.ReportMetric(mt, v.name+"_traced_"+v.unit)
		b.ReportMetric(mu/mt, v.name+"_traced/untraced_time")
		b.ReportMetric(float64(undelivered+truncated), v.name+"_lost")
	}
}

// BenchmarkSyscallFloor: dd with one-byte writes, with nothing attached, with empty programs on mcpscope's
// tracepoints, with mcpscope watching everything without footprints (--no-footprint), with empty programs on those
// and on the raw syscall tracepoints too (the hooks of the default watch), and with mcpscope's default watch (which
// adds its footprint programs there); to /dev/null and into a pipe. dd is in no footprint tree: this is the cost
// every other process on the host pays. Each watch is compared with the floor of its own hooks.
func BenchmarkSyscallFloor(b *testing.B) {
	setup(b, false)
	dir := b.TempDir()
	names, err := syscallTracepoints()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("tracepoints (%d): %s", len(names), strings.Join(names, " "))
	dd := fmt.Sprintf("dd if=/dev/zero bs=1 count=%d status=none", ddCount)
	variants := []struct{ name, sh string }{
		{"devnull", dd + " of=/dev/null"},
		{"pipe", dd + " | cat >/dev/null"},
	}
	run := func(sh string) float64 {
		start := time.Now()
		if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", sh, err, out)
		}
		return time.Since(start).Seconds()
	}
	type series struct{ none, empty, nofp, emptyAll, mcps []float64 }
	res := make([]series, len(variants))
	for _, v := range variants {
		run(strings.Replace(v.sh, "count="+strconv.Itoa(ddCount), "count=100000", 1)) // warm-up
	}
	for i := 0; i < reps; i++ {
		for j, v := range variants {
			res[j].none = append(res[j].none, run(v.sh))
		}
		for _, raw := range []bool{false, true} {
			ep, err := attachEmpty(names, raw)
			if err != nil {
				b.Fatal(err)
			}
			for j, v := range variants {
				if raw {
					res[j].emptyAll = append(res[j].emptyAll, run(v.sh))
				} else {
					res[j].empty = append(res[j].empty, run(v.sh))
				}
			}
			ep.Close()
		}
		w := startWatch(b, filepath.Join(dir, fmt.Sprintf("dd-nofp-%d.jsonl", i)), "--no-footprint")
		for j, v := range variants {
			res[j].nofp = append(res[j].nofp, run(v.sh))
		}
		w.stop(b)
		w = startWatch(b, filepath.Join(dir, fmt.Sprintf("dd-%d.jsonl", i)))
		for j, v := range variants {
			res[j].mcps = append(res[j].mcps, run(v.sh))
		}
		w.stop(b)
	}
	for j, v := range variants {
		a, e, n, ea, m := median(res[j].none), median(res[j].empty), median(res[j].nofp), median(res[j].emptyAll), median(res[j].mcps)
		b.Logf("%s seconds: none [%s] empty [%s] mcpscope --no-footprint [%s] empty+raw [%s] mcpscope [%s]", v.name,
			fmtRuns3(res[j].none), fmtRuns3(res[j].empty), fmtRuns3(res[j].nofp), fmtRuns3(res[j].emptyAll), fmtRuns3(res[j].mcps))
		b.Logf("%s median s: none %.3f empty %.3f no-footprint %.3f empty+raw %.3f mcpscope %.3f; no-footprint/empty %.3f mcpscope/empty+raw %.3f mcpscope/no-footprint %.3f",
			v.name, a, e, n, ea, m, n/e, m/ea, m/n)
		b.ReportMetric(ea, v.name+"_emptyraw_s")
		b.ReportMetric(n/e, v.name+"_nofootprint/empty")
		b.ReportMetric(m/ea, v.name+"_mcpscope/emptyraw")
		b.ReportMetric(n, v.name+"_nofootprint_s")
		b.ReportMetric(m/n, v.name+"_footprint/nofootprint")
		b.ReportMetric(a, v.name+"_none_s")
		b.ReportMetric(e, v.name+"_empty_s")
		b.ReportMetric(m, v.name+"_mcpscope_s")
		b.ReportMetric(e/a, v.name+"_empty/none")
		b.ReportMetric(m/a, v.name+"_mcpscope/none")
	}
}

func fmtRuns3(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 3, 64)
	}
	return strings.Join(parts, " ")
}

// statsCounters decodes the counters of a JSONL stats record.
func statsCounters(b *testing.B, line string) map[string]uint64 {
	b.Helper()
	var st struct {
		Counters map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		b.Fatalf("stats record: %v", err)
	}
	return st.Counters
}

// checkStatsRead fails the benchmark when reading the JSONL output at path failed or found no stats record.
func checkStatsRead(b *testing.B, path string, readErr error, counters map[string]uint64) {
	b.Helper()
	if readErr != nil {
		b.Fatal(readErr)
	}
	if counters == nil {
		b.Fatalf("%s: no stats record", path)
	}
}
