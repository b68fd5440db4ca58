package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/test/kernels/plan"
)

func TestSelectKernels(t *testing.T) {
	tests := []struct {
		spec    string
		want    string
		wantErr string
	}{
		{spec: "all", want: "5.10,6.1,6.12,sid"},
		{spec: "ci", want: "5.10,sid"},
		{spec: "6.1,sid", want: "6.1,sid"},
		{spec: "4.19", wantErr: `unknown kernel "4.19"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			ks, err := selectKernels(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			var names []string
			for _, k := range ks {
				names = append(names, k.name)
			}
			if got := strings.Join(names, ","); err != nil || got != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

const hostSession = `{"kind":"message","ts":"2026-11-28T09:00:00.1Z","transport":"stdio","session":"stdio:100-101","direction":"client_to_server","type":"request","id":1,"method":"tools/call","tool":"add","from":{"pid":100,"comm":"gopeer"},"to":{"pid":101,"comm":"gopeer"},"size":40,"message":{"jsonrpc":"2.0","id":1,"method":"tools/call"}}
{"kind":"message","ts":"2026-11-28T09:00:00.2Z","transport":"stdio","session":"stdio:100-101","direction":"server_to_client","type":"response","id":1,"method":"tools/call","tool":"add","from":{"pid":101,"comm":"gopeer"},"to":{"pid":100,"comm":"gopeer"},"size":30,"latency_ms":1.5,"message":{"jsonrpc":"2.0","id":1,"result":{}}}
{"kind":"stats","ts":"2026-11-28T09:00:01Z","counters":{"messages":2,"junk_lines":0}}
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiffSessions(t *testing.T) {
	want, err := readSession(writeFile(t, "host.jsonl", hostSession))
	if err != nil {
		t.Fatal(err)
	}
	// Another run of the same session: other pids, times and latency, and the directions interleaved differently.
	other := hostSession
	for _, r := range []struct{ old, new string }{{`"pid":100`, `"pid":7`}, {`"pid":101`, `"pid":8`},
		{"09:00:00", "10:11:12"}, {"stdio:100-101", "stdio:7-8"}, {`"latency_ms":1.5`, `"latency_ms":90.25`}} {
		other = strings.ReplaceAll(other, r.old, r.new)
	}
	lines := strings.SplitAfter(other, "\n")
	reordered := lines[1] + lines[0] + lines[2]
	tests := []struct {
		name    string
		session string
		want    []string // substrings, one per expected difference
	}{
		{"same session, other pids and times", reordered, nil},
		{"size differs", strings.Replace(other, `"size":30`, `"size":31`, 1),
			[]string{"server_to_client record 0: response tools/call id=1 size=31, host response tools/call id=1 size=30 (differs in size)"}},
		{"record missing", lines[0] + lines[2], []string{"server_to_client: 0 records, host 1"}},
		{"wrong comm", strings.Replace(other, `"comm":"gopeer"`, `"comm":"node"`, 1), []string{"differs in from"}},
		{"loss counted", strings.Replace(other, `"junk_lines":0`, `"junk_lines":3`, 1), []string{"counter junk_lines = 3, want 0"}},
		{"no stats record", lines[0] + lines[1], []string{"no final stats record"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSession(writeFile(t, "guest.jsonl", tt.session))
			if err != nil {
				t.Fatal(err)
			}
			diffs := diffSessions(want, got, 10)
			if len(diffs) != len(tt.want) {
				t.Fatalf("diffs %q, want %d", diffs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(diffs[i], w) {
					t.Errorf("diff %q, want it to contain %q", diffs[i], w)
				}
			}
		})
	}
}

// TestInitrdArchive checks the newc framing the kernel unpacks: magic, 4-byte alignment, names, the trailer.
func TestInitrdArchive(t *testing.T) {
	var buf bytes.Buffer
	w := &cpioWriter{w: &buf}
	w.add("/init", 0o100755, []byte("abc"))
	w.add("/etc", 0o40755, nil)
	w.trailer()
	if w.err != nil {
		t.Fatal(w.err)
	}
	b := buf.Bytes()
	var names []string
	for off := 0; off < len(b); {
		hdr := string(b[off : off+110])
		if !strings.HasPrefix(hdr, "070701") {
			t.Fatalf("offset %d: magic %q", off, hdr[:6])
		}
		size, err1 := strconv.ParseInt(hdr[54:62], 16, 64)
		nameSize, err2 := strconv.ParseInt(hdr[94:102], 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("offset %d: header %q", off, hdr)
		}
		name := string(b[off+110 : off+110+int(nameSize)-1])
		names = append(names, name)
		off = align4(off + 110 + int(nameSize))
		if name == "init" && string(b[off:off+int(size)]) != "abc" {
			t.Errorf("init content %q", b[off:off+int(size)])
		}
		off = align4(off + int(size))
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			break
		}
	}
	if got := strings.Join(names, ","); got != "init,etc,TRAILER!!!" {
		t.Errorf("entries %s", got)
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

// TestMarkdown renders docs/kernels.md for a matrix with a failed boot and a failed test, which must be visible.
func TestMarkdown(t *testing.T) {
	host := &kernelResult{Name: "host", Release: "6.18.0", Checks: []capability{
		{Capability: "kernel BTF", Works: true, Required: true},
		{Capability: "fentry/fexit (optional fast path)", Works: false, Detail: "load: operation not permitted"},
	}, Suites: []suite{{Name: "bpf", Passed: []string{"TestLoad"}}}, Sessions: []session{{Name: "modern-gosdk", Records: 15}}}
	failed := &kernelResult{Name: "6.1", Release: "6.1.0-56-amd64", Checks: host.Checks[:1], Suites: []suite{{
		Name: "bpf", Failed: []string{"TestLoad"}, FailureLines: []string{"verifier: BPF_STX uses reserved fields"},
	}}}
	noBoot := &kernelResult{Name: "5.10", Err: "the guest did not report"}
	m := matrix{Host: host, Kernels: []*kernelResult{noBoot, failed}, Date: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC),
		Selection: "all", E2ERun: defaultE2ERun}
	md := m.markdown()
	for _, want := range []string{
		"# Kernel support matrix",
		"Generated on 2026-11-28 09:00 UTC",
		"| 5.10 |  | FAILED: the guest did not report |",
		"| 6.1 | 6.1.0-56-amd64 | works |",
		"0 passed, 1 failed, 0 skipped",
		"- 6.1: bpf: TestLoad failed",
		"verifier: BPF_STX uses reserved fields",
		"host, fentry/fexit (optional fast path): load: operation not permitted",
		"make test-kernels",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("docs/kernels.md lacks %q:\n%s", want, md)
		}
	}
	if f := m.failures(); len(f) != 2 {
		t.Errorf("failures %q, want the failed boot and the failed test", f)
	}
}

func TestParseTestOutput(t *testing.T) {
	raw := "=== RUN   TestLoad\n=== RUN   TestLoad/main\n    x_test.go:1: no atomics\n--- SKIP: TestLoad/main (0.1s)\n" +
		"=== RUN   TestLoad/compat\n--- PASS: TestLoad/compat (0.2s)\n--- PASS: TestLoad (0.3s)\n" +
		"=== RUN   TestOther\n    x_test.go:2: boom\n--- FAIL: TestOther (0.0s)\nFAIL\n"
	s := suite{Output: writeFile(t, "bpf.out", raw)}
	parseTestOutput(t.Context(), &s)
	if s.Err != "" {
		t.Fatal(s.Err)
	}
	got := fmt.Sprintf("passed %v skipped %v failed %v", s.Passed, s.Skipped, s.Failed)
	if want := "passed [TestLoad/compat] skipped [TestLoad/main] failed [TestOther]"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if !strings.Contains(strings.Join(s.FailureLines, "\n"), "boom") {
		t.Errorf("failure output %q lacks the failing test's output", s.FailureLines)
	}
}

func TestParseBench(t *testing.T) {
	out := "goos: linux\nBenchmarkHookCost-2   \t       1\t20345 ns/op\t 0.50 fentry/none\t 0.9000 fentry/tracepoint\t 1.200 fentry_s\t2.4 none_s\t 0.55 tracepoint/none\t 1.3 tracepoint_s\nPASS\n"
	m, err := parseBench(writeFile(t, "bench.out", out))
	if err != nil {
		t.Fatal(err)
	}
	r := &kernelResult{Overhead: m}
	if got, want := overheadCell(r), "tracepoints ×0.55, fentry ×0.50 (fentry/tracepoints 0.90)"; got != want {
		t.Errorf("cell %q, want %q", got, want)
	}
	if _, err := parseBench(writeFile(t, "bench.out", "--- FAIL: BenchmarkHookCost\n")); err == nil {
		t.Error("no result line: no error")
	}
}

func TestHooksFromReadyLine(t *testing.T) {
	log := "mcpscope: recording into x.db\nmcpscope: ready: watching MCP over stdio of gopeer (x) and its descendants (hooks: fentry/fexit)\n"
	if m := hooksRE.FindStringSubmatch(log); m == nil || m[1] != "fentry/fexit" {
		t.Errorf("hooks %q, want fentry/fexit", m)
	}
}

// TestTimedOut: a test binary cut by its -test.timeout is reported with the limit and the test it was in, from the
// real output of a 7.2 guest (test2json framing and all), not as a goroutine dump.
func TestTimedOut(t *testing.T) {
	out := "\x16=== RUN   TestGoClientServerEverything\n--- PASS: TestGoClientServerEverything (125.35s)\n" +
		"\x16=== RUN   TestModernEraGoSDK\npanic: test timed out after 30m0s\n\trunning tests:\n\t\tTestModernEraGoSDK (1m2s)\n\ngoroutine 1 [running]:\n"
	if after, running := timedOut(out); after != "30m0s" || running != "TestModernEraGoSDK" {
		t.Errorf("timedOut = %q, %q; want 30m0s, TestModernEraGoSDK", after, running)
	}
	// Subtests: the panic lists the parent and the subtest that hung, not the subtest started last.
	out = "=== RUN   TestHTTPSGoSDK\n=== RUN   TestHTTPSGoSDK/a\n=== RUN   TestHTTPSGoSDK/b\n--- PASS: TestHTTPSGoSDK/b (1.00s)\n" +
		"panic: test timed out after 30m0s\n\trunning tests:\n\t\tTestHTTPSGoSDK (30m0s)\n\t\tTestHTTPSGoSDK/a (29m0s)\n\ngoroutine 1 [running]:\n"
	if _, running := timedOut(out); running != "TestHTTPSGoSDK, TestHTTPSGoSDK/a" {
		t.Errorf("running %q, want TestHTTPSGoSDK, TestHTTPSGoSDK/a", running)
	}
	// An older panic without the list: the tests started and never ended.
	out = "=== RUN   TestA\n=== RUN   TestB\n--- PASS: TestB (1.00s)\npanic: test timed out after 5m0s\n\ngoroutine 1 [running]:\n"
	if _, running := timedOut(out); running != "TestA" {
		t.Errorf("running %q, want TestA", running)
	}
	if after, _ := timedOut("--- FAIL: TestX (1.00s)\nFAIL\n"); after != "" {
		t.Errorf("timedOut of a plain failure = %q", after)
	}
}

// TestSecondRun: of three failed e2e tests, the two whose output has the monitor's line about skipped runs (one a
// subtest, the line logged by its parent) run again, each alone; the one that passes then counts as passed, the
// one that fails again and the one that never reported skips stay failed, with their outputs kept.
func TestSecondRun(t *testing.T) {
	raw := "=== RUN   TestA\n    h.go:1: mcpscope: the kernel SKIPPED 3 runs of mcpscope's programs (x 3)\n    a.go:2: lost\n--- FAIL: TestA (1.0s)\n" +
		"=== RUN   TestB\n=== RUN   TestB/sub\n    b.go:3: lost too\n--- FAIL: TestB/sub (1.0s)\n" +
		"    h.go:1: mcpscope: the kernel SKIPPED 1 runs of mcpscope's programs (x 1)\n--- FAIL: TestB (1.0s)\n" +
		"=== RUN   TestC\n    c.go:4: broken\n--- FAIL: TestC (0.1s)\n=== RUN   TestD\n--- PASS: TestD (0.1s)\nFAIL\n"
	s := suite{Name: "e2e", Output: writeFile(t, "e2e.out", raw)}
	parseTestOutput(t.Context(), &s)
	if got := fmt.Sprint(s.Failed, s.SkipsReported); got != "[TestA TestB/sub TestC] [TestA TestB/sub]" {
		t.Fatalf("failed, with skips reported: %s", got)
	}
	r := &kernelResult{Name: "sid", Suites: []suite{{Name: "bpf", Passed: []string{"TestLoad"}}, s},
		Sessions: []session{
			{Name: "lossy", Diffs: []string{"footprint tools/call 5 missing"}, SkipsReported: true},
			{Name: "broken", Diffs: []string{"a message missing"}}, // no skips reported: stays as it is
			{Name: "fine", SkipsReported: true},
		}}
	p := plan.Plan{Steps: []plan.Step{{Name: "bpf", Args: []string{"bpf.test"}},
		{Name: "e2e", Args: []string{"e2e.test", "-test.v=test2json", "-test.run", "^(TestA|TestB|TestC|TestD)$", "-test.count=1"}, Output: "e2e.out"},
		{Name: "session-lossy", Args: []string{"mcpscope", "watch", "-o", "/run/sid/session-lossy.jsonl", "--", "peer"}, Output: "session-lossy.log"},
		{Name: "session-broken", Args: []string{"mcpscope", "watch", "-o", "/run/sid/session-broken.jsonl", "--", "peer"}},
		{Name: "session-fine", Args: []string{"mcpscope", "watch", "-o", "/run/sid/session-fine.jsonl", "--", "peer"}}}}
	retry, tests := secondRunPlan(r, p, "/run/sid/second-run")
	var got []string
	for _, st := range retry.Steps {
		got = append(got, st.Name+" "+st.Output+" "+strings.Join(st.Args, " "))
	}
	want := []string{"session-lossy session-lossy.log mcpscope watch -o /run/sid/second-run/session-lossy.jsonl -- peer",
		"e2e-1 e2e-1.out e2e.test -test.v=test2json -test.count=1 -test.run ^TestA$",
		"e2e-2 e2e-2.out e2e.test -test.v=test2json -test.count=1 -test.run ^TestB$/^sub$"}
	if p.Steps[2].Args[3] != "/run/sid/session-lossy.jsonl" {
		t.Errorf("the first plan's session step changed: %q", p.Steps[2].Args)
	}
	if !slices.Equal(got, want) || len(tests) != 2 {
		t.Fatalf("second-run plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	second := &kernelResult{Suites: []suite{
		{Name: "e2e-1", Passed: []string{"TestA"}},
		{Name: "e2e-2", Failed: []string{"TestB/sub"}, FailureLines: []string{"b.go:3: lost again"}},
	}, Sessions: []session{{Name: "lossy", Records: 18}}}
	notPassed := mergeSecondRun(r, tests, second, "")
	if got := fmt.Sprintf("%+v", r.Sessions[0]); got != "{Name:lossy Records:18 ExitCode:0 Err: Diffs:[] Retried:true SkipsReported:false}" {
		t.Errorf("session recorded again: %s", got)
	}
	if got := sessionsCell(r); got != "1 of 3 differ (1 recorded twice)" {
		t.Errorf("records vs host: %q", got)
	}
	e2e := r.Suites[1]
	if got := fmt.Sprint(e2e.Passed, e2e.Failed, e2e.Retried, notPassed); got != "[TestD TestA] [TestB/sub TestC] [TestA] [TestB/sub: failed again on its second run]" {
		t.Errorf("passed, failed, retried, not passed: %s", got)
	}
	lines := strings.Join(e2e.FailureLines, "\n")
	for _, want := range []string{"lost too", "broken", "(second run of TestB/sub)", "lost again"} {
		if !strings.Contains(lines, want) {
			t.Errorf("failure output lacks %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "a.go:2: lost") {
		t.Errorf("failure output keeps TestA, which passed on its second run:\n%s", lines)
	}
	if got := e2e.counts(); got != "2 passed (1 on a second run), 2 failed, 0 skipped" {
		t.Errorf("counts %q", got)
	}
	if len(r.problems()) != 3 {
		t.Errorf("problems %q, want TestB/sub, TestC and session broken", r.problems())
	}
}
