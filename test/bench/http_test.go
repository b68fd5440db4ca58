package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	httpClients = 8   // concurrent go-sdk clients of the HTTP load, each with its own session and connection
	httpCalls   = 500 // echo calls per client per run
	// httpSettle is how long the traced load waits after mcpscope's ready line. For the first ~3 s after it, loads on
	// this VM ran at 40–65 % of the untraced rate while mcpscope itself was idle (docs/benchmarks.md, 2026-11-28 HTTP
	// load); the benchmark measures the steady state after that.
	httpSettle = 3 * time.Second
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat (100 on every Linux architecture Go runs on).
const clockTicks = 100

// cpuTicks returns the user and system CPU time of process pid so far, in clock ticks.
func cpuTicks(b *testing.B, pid int) uint64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return utime + stime
}

// loadResult is gopeer http-load's summary line.
type loadResult struct {
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	Messages int     `json:"messages"` // JSON-RPC messages of the run, handshakes included
}

// startHTTPServer starts gopeer server-http (Streamable HTTP, stateful sessions) on a free 127.0.0.1 port, in a
// process of its own, and returns its URL; it is stopped when the benchmark ends, and by itself after 10 minutes.
func startHTTPServer(b *testing.B, extra ...string) (endpoint, addr string) {
	b.Helper()
	cmd := exec.Command(bin("gopeer"), append([]string{"server-http", "-lifetime", "10m"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- strings.TrimSpace(sc.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case endpoint = <-line:
	case <-time.After(30 * time.Second):
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() != "127.0.0.1" {
		b.Fatalf("gopeer server-http printed %q, want http[s]://127.0.0.1:PORT/mcp\n%s", endpoint, stderr.String())
	}
	return endpoint, u.Host
}

// httpLoad runs gopeer http-load against url and returns its summary.
func httpLoad(b *testing.B, endpoint string, clients, calls int) loadResult {
	b.Helper()
	cmd := exec.Command(bin("gopeer"), "http-load", "-clients", strconv.Itoa(clients), "-calls", strconv.Itoa(calls), endpoint)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("gopeer http-load: %v\n%s", err, stderr.String())
	}
	var r loadResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("gopeer http-load output %q: %v", out, err)
	}
	return r
}

// httpCapture summarises the message records of one server's connections in a JSONL file, and its final stats.
type httpCapture struct {
	messages     int // message records with the server at one end
	requests     int
	responses    int
	uncorrelated int // responses without the method of their request
	truncated    int
	counters     map[string]uint64
}

func readHTTPCapture(b *testing.B, path, serverAddr string) httpCapture {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var c httpCapture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	needle := `"addr":"` + serverAddr + `"`
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `{"kind":"message"`):
			if !strings.Contains(line, needle) {
				continue // other MCP traffic on the host
			}
			c.messages++
			switch {
			case strings.Contains(line, `"type":"request"`):
				c.requests++
			case strings.Contains(line, `"type":"response"`):
				c.responses++
				if !strings.Contains(line, `"method":`) {
					c.uncorrelated++
				}
			}
			if strings.Contains(line, `"truncated":true`) {
				c.truncated++
			}
		case strings.HasPrefix(line, `{"kind":"stats"`):
			c.counters = statsCounters(b, line)
		}
	}
	checkStatsRead(b, path, sc.Err(), c.counters)
	return c
}

// BenchmarkHTTPLoad: httpClients go-sdk clients (gopeer http-load, one process) call echo over Streamable HTTP on
// loopback as fast as they can, httpCalls times each, against gopeer server-http (another process); untraced and
// traced by `mcpscope watch --no-db -o FILE` (the load starts httpSettle after its ready line), alternately. Every
// message must be captured and paired, and nothing lost. "http" is plain HTTP/1.1 (the socket syscalls); "https"
// is HTTP/2 over Go's crypto/tls on both sides (the uprobes on (*tls.Conn).Read and Write, whose return
// instructions are probed too).
func BenchmarkHTTPLoad(b *testing.B) {
	setup(b, false)
	b.Run("http", func(b *testing.B) { benchHTTPLoad(b) })
	b.Run("https", func(b *testing.B) { benchHTTPLoad(b, "-tls") })
}

func benchHTTPLoad(b *testing.B, serverFlags ...string) {
	dir := b.TempDir()
	endpoint, addr := startHTTPServer(b, serverFlags...)
	var untraced, traced, cpu []float64
	var undelivered, lost, truncated, uncorrelated uint64
	httpLoad(b, endpoint, httpClients, httpCalls/10) // warm-up
	for i := 0; i < reps; i++ {
		untraced = append(untraced, httpLoad(b, endpoint, httpClients, httpCalls).PerSec)

		out := filepath.Join(dir, fmt.Sprintf("http-%d.jsonl", i))
		w := startWatch(b, out)
		time.Sleep(httpSettle)
		before := cpuTicks(b, w.cmd.Process.Pid)
		tr := httpLoad(b, endpoint, httpClients, httpCalls)
		// The monitor's CPU time (user and system) during the load, per echo call; its start-up (loading the
		// programs) is not counted.
		ticks := cpuTicks(b, w.cmd.Process.Pid) - before
		traced = append(traced, tr.PerSec)
		cpu = append(cpu, float64(ticks)*1e6/clockTicks/float64(tr.Requests))
		w.stop(b)
		c := readHTTPCapture(b, out, addr)
		u, l := c.counters["kernel_undelivered_bytes"], c.counters["http_lost_bytes"]
		undelivered += u
		lost += l
		truncated += uint64(c.truncated)
		uncorrelated += uint64(c.uncorrelated)
		// Per client: initialize and its result, notifications/initialized, then a request and a result per call.
		if c.messages != tr.Messages || c.requests != httpClients*(1+httpCalls) || c.responses != c.requests {
			b.Errorf("rep %d: captured %d messages (%d requests, %d responses), want %d (%d requests and as many responses)",
				i, c.messages, c.requests, c.responses, tr.Messages, httpClients*(1+httpCalls))
		}
		if u != 0 || l != 0 || c.truncated != 0 || c.uncorrelated != 0 {
			b.Errorf("rep %d: kernel_undelivered_bytes=%d http_lost_bytes=%d truncated=%d uncorrelated=%d, want 0", i, u, l,
				c.truncated, c.uncorrelated)
		}
		b.Logf("rep %d: traced capture: %d of %d messages, http_requests=%d http_duplicate_bytes=%d kernel_undelivered_bytes=%d http_lost_bytes=%d",
			i, c.messages, tr.Messages, c.counters["http_requests"], c.counters["http_duplicate_bytes"], u, l)
	}
	mu, mt := median(untraced), median(traced)
	b.Logf("req/s untraced: %s", fmtRuns(untraced))
	b.Logf("req/s traced:   %s", fmtRuns(traced))
	b.Logf("mcpscope CPU µs per echo call: %s", fmtRuns(cpu))
	b.Logf("%d clients × %d echo calls: median req/s untraced %.0f traced %.0f; time ratio traced/untraced %.3f; kernel_undelivered_bytes %d http_lost_bytes %d truncated %d uncorrelated %d (sum of %d runs)",
		httpClients, httpCalls, mu, mt, mu/mt, undelivered, lost, truncated, uncorrelated, reps)
	b.ReportMetric(mu, "untraced_req/s")
	b.ReportMetric(mt, "traced_req/s")
	b.ReportMetric(mu/mt, "traced/untraced_time")
	b.ReportMetric(median(cpu), "mcpscope_cpu_µs/req")
	b.ReportMetric(float64(undelivered+lost+truncated), "lost")
	b.ReportMetric(float64(uncorrelated), "uncorrelated_responses")
}
