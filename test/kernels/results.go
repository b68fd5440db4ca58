package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/test/kernels/plan"
)

// kernelResult is everything learnt about one kernel (or the host).
type kernelResult struct {
	Name     string
	Comment  string
	Release  string
	Err      string // the kernel could not be fetched or booted, or the guest did not finish
	Checks   []capability
	CheckErr string
	Suites   []suite
	Sessions []session
	Hooks    string             // the hook set `mcpscope watch` said it uses
	Overhead map[string]float64 // BenchmarkHookCost's metrics: seconds and ratios
	BenchErr string
	Steps    []plan.StepResult // what each step of the plan took
	Wall     time.Duration
	Dir      string
}

// capability is one line of `mcpscope check --json`.
type capability struct {
	Capability string `json:"capability"`
	Works      bool   `json:"works"`
	Required   bool   `json:"required"`
	Detail     string `json:"detail"`
}

// suite is the outcome of one test binary.
type suite struct {
	Name                    string
	Passed, Failed, Skipped []string // top-level tests
	ExitCode                int
	Err                     string   // the binary failed without a failing test (panic, timeout, no start)
	FailureLines            []string // output of the failing tests, for the report
	// SkipsReported are the failed tests whose output has the monitor's line about runs of its programs the kernel
	// skipped (skipMarker): on a preemptible kernel under emulation that loss, not the code, can be the cause.
	SkipsReported []string
	// Retried are the tests that failed so and passed when run again in a second boot of the same kernel.
	Retried []string
	// failureOutput is FailureLines per failed test.
	failureOutput map[string][]string
	Duration      time.Duration
	Output        string
}

// session is one recorded MCP session compared with the host's.
type session struct {
	Name     string
	Records  int
	ExitCode int
	Err      string
	Diffs    []string
	// Retried: it differed from the host's while the kernel skipped runs of mcpscope's programs (SkipsReported),
	// and matched when recorded again in a second boot of the same kernel.
	Retried       bool
	SkipsReported bool
}

// problems lists what failed, one line each, worded for the report.
func (r *kernelResult) problems() []string {
	var out []string
	if r.Err != "" {
		out = append(out, r.Err)
		if len(r.Steps) == 0 { // nothing ran: the rest would only repeat it
			return out
		}
	}
	if r.CheckErr != "" {
		out = append(out, "mcpscope check: "+r.CheckErr)
	}
	for _, c := range r.Checks {
		if c.Required && !c.Works {
			out = append(out, fmt.Sprintf("mcpscope check: %s does not work: %s", c.Capability, c.Detail))
		}
	}
	for _, s := range r.Suites {
		for _, t := range s.Failed {
			out = append(out, fmt.Sprintf("%s: %s failed", s.Name, t))
		}
		if s.Err != "" {
			out = append(out, fmt.Sprintf("%s: %s", s.Name, s.Err))
		}
		if len(s.Passed)+len(s.Failed) == 0 && s.Err == "" {
			out = append(out, fmt.Sprintf("%s: no test ran", s.Name))
		}
	}
	if r.BenchErr != "" {
		out = append(out, "BenchmarkHookCost: "+r.BenchErr)
	}
	for _, s := range r.Sessions {
		if s.Err != "" {
			out = append(out, fmt.Sprintf("session %s: %s", s.Name, s.Err))
		}
		for _, d := range s.Diffs {
			out = append(out, fmt.Sprintf("session %s: %s", s.Name, d))
		}
	}
	return out
}

// short is a one-line summary for the log.
func (r *kernelResult) short() string {
	if r.Err != "" {
		return "FAILED: " + r.Err
	}
	var parts []string
	parts = append(parts, r.Release)
	for _, s := range r.Suites {
		parts = append(parts, s.Name+" "+s.counts())
	}
	status := "ok"
	if p := r.problems(); len(p) > 0 {
		status = fmt.Sprintf("%d problems", len(p))
	}
	return fmt.Sprintf("%s (%s) in %v", strings.Join(parts, "; "), status, r.Wall.Round(time.Second))
}

// runOnHost runs the plan on this machine, as the reference.
func runOnHost(ctx context.Context, dir string, p plan.Plan) *kernelResult {
	start := time.Now()
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	res := plan.Result{Kernel: unix.ByteSliceToString(uts.Release[:]), Done: true}
	env := append(os.Environ(), "CI=true")
	for _, s := range p.Steps {
		res.Steps = append(res.Steps, plan.Run(ctx, dir, env, s))
	}
	r := collect(ctx, "host", dir, p, res, nil)
	r.Comment = "the machine that runs the matrix"
	r.Wall = time.Since(start)
	return r
}

// runKernel boots k and runs the plan in it; the tests that failed there while the kernel skipped runs of
// mcpscope's programs run again in a second boot (retrySkipped).
func runKernel(ctx context.Context, runDir string, k unpacked, init []byte, mkPlan func(string) plan.Plan,
	timeout time.Duration, host *kernelResult) *kernelResult {
	start := time.Now()
	dir := filepath.Join(runDir, k.name)
	r := &kernelResult{Name: k.name, Comment: k.comment, Release: k.release, Dir: dir}
	defer func() { r.Wall = time.Since(start) }()
	p := mkPlan(dir)
	res, bootErr := boot(ctx, k, init, dir, p, timeout)
	if bootErr != "" && len(res.Steps) == 0 {
		r.Err = bootErr
		return r
	}
	c := collect(ctx, k.name, dir, p, res, host)
	c.Comment, c.Err = k.comment, bootErr
	if c.Release == "" {
		c.Release = k.release
	}
	*r = *c // the deferred function sets Wall
	if r.Err == "" {
		retrySkipped(ctx, r, k, init, p, timeout-time.Since(start), host)
	}
	return r
}

// boot runs plan p in kernel k with dir as the shared directory. err is set, worded for the report, when the guest
// did not report or did not finish; res holds the steps it finished.
func boot(ctx context.Context, k unpacked, init []byte, dir string, p plan.Plan, timeout time.Duration) (res plan.Result, err string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err.Error()
	}
	if err := plan.Write(dir, plan.PlanFile, p); err != nil {
		return res, err.Error()
	}
	initrd := filepath.Join(dir, "initrd.gz")
	if err := buildInitrd(ctx, k, init, initrd); err != nil {
		return res, fmt.Sprintf("build the initramfs: %v", err)
	}
	v := vm{kernel: k, initrd: initrd, share: dir, memMiB: 2048, cpus: 2, timeout: timeout}
	logf("%s: booting %s", k.name, k.release)
	vmErr := v.run(ctx)
	if err := plan.Read(dir, plan.ResultFile, &res); err != nil {
		return res, fmt.Sprintf("the guest did not report (%v); console:\n%s", errors.Join(vmErr, err), consoleTail(dir, 30))
	}
	if !res.Done {
		return res, fmt.Sprintf("the guest stopped after %d of %d steps (%v); console:\n%s", len(res.Steps), len(p.Steps), vmErr, consoleTail(dir, 30))
	}
	return res, ""
}

// retrySkipped runs again, in a second boot of k, each test that failed in r while the monitor reported runs of
// its programs the kernel skipped, and counts as passed (and names, in Retried) those that pass then; a test that
// fails without that report, or fails twice, stays failed. Sessions whose records differed from the host's while
// the kernel skipped runs are recorded again and compared again, the same way. Under emulation Debian's 7.2
// (PREEMPT_DYNAMIC, lazy) skips hundreds of runs of a program whose previous run on that CPU was preempted, per
// session (docs/kernel.md, "Skipped runs on preemptible kernels"): the loss is real, counted and named, but it is
// the kernel's guard at work, and a test that lost a record to it says nothing about the code. The second run's
// outputs are under DIR/second-run.
func retrySkipped(ctx context.Context, r *kernelResult, k unpacked, init []byte, p plan.Plan, timeout time.Duration,
	host *kernelResult) {
	dir := filepath.Join(r.Dir, "second-run")
	retry, tests := secondRunPlan(r, p, dir)
	if len(retry.Steps) == 0 || timeout <= 0 {
		return
	}
	logf("%s: running again %d tests or sessions that failed while the kernel skipped runs of mcpscope's programs", r.Name, len(retry.Steps))
	res, err := boot(ctx, k, init, dir, retry, timeout)
	var took time.Duration
	for _, st := range res.Steps {
		took += st.Duration
	}
	r.Steps = append(r.Steps, plan.StepResult{Name: "second runs", Duration: took})
	for _, line := range mergeSecondRun(r, tests, collect(ctx, r.Name, dir, retry, res, host), err) {
		logf("%s: %s", r.Name, line)
	}
}

// secondRun is one test run again: the suite it belongs to, and the step of the second boot that runs it alone.
type secondRun struct{ suite, test, step string }

// secondRunPlan is the plan of the second boot, whose shared directory is dir: one step per test of r that failed
// and reported skipped runs, the step of its suite in p selecting that test alone, and the step of each session
// that differed from the host's and reported skipped runs, writing its records into dir.
func secondRunPlan(r *kernelResult, p plan.Plan, dir string) (plan.Plan, []secondRun) {
	var retry plan.Plan
	var tests []secondRun
	for _, s := range r.Sessions {
		i := slices.IndexFunc(p.Steps, func(st plan.Step) bool { return st.Name == "session-"+s.Name })
		if i < 0 || !s.SkipsReported || (s.Err == "" && len(s.Diffs) == 0) {
			continue
		}
		st := p.Steps[i]
		st.Args = slices.Clone(st.Args)
		if o := slices.Index(st.Args, "-o"); o >= 0 && o+1 < len(st.Args) {
			st.Args[o+1] = filepath.Join(dir, filepath.Base(st.Args[o+1]))
		}
		retry.Steps = append(retry.Steps, st)
	}
	for _, s := range r.Suites {
		i := slices.IndexFunc(p.Steps, func(st plan.Step) bool { return st.Name == s.Name })
		if i < 0 {
			continue
		}
		for _, t := range s.SkipsReported {
			st := p.Steps[i]
			st.Name = fmt.Sprintf("%s-%d", s.Name, len(tests)+1)
			st.Output = st.Name + ".out"
			st.Args = append(withoutFlag(st.Args, "-test.run"), "-test.run", runPattern(t))
			retry.Steps = append(retry.Steps, st)
			tests = append(tests, secondRun{s.Name, t, st.Name})
		}
	}
	return retry, tests
}

// mergeSecondRun counts as passed the tests that passed on their second run, and as the same as the host's the
// sessions that were the second time (second: what the second boot reported; bootErr: why it did not finish), and
// returns one line per test or session that was not, saying why.
func mergeSecondRun(r *kernelResult, tests []secondRun, second *kernelResult, bootErr string) (notPassed []string) {
	for _, again := range second.Sessions {
		i := slices.IndexFunc(r.Sessions, func(s session) bool { return s.Name == again.Name })
		if i < 0 {
			continue
		}
		if again.Err == "" && len(again.Diffs) == 0 {
			again.Retried = true
			r.Sessions[i] = again
			continue
		}
		why := again.Err
		if why == "" {
			why = again.Diffs[0]
		}
		notPassed = append(notPassed, fmt.Sprintf("session %s: %s on its second recording", again.Name, firstLine(why)))
	}
	failedAgain := map[string][]string{} // suite -> the second run's output of the tests that failed again
	for _, a := range tests {
		s := &r.Suites[slices.IndexFunc(r.Suites, func(s suite) bool { return s.Name == a.suite })]
		j := slices.IndexFunc(second.Suites, func(s suite) bool { return s.Name == a.step })
		if j >= 0 && slices.Contains(second.Suites[j].Passed, a.test) && len(second.Suites[j].Failed) == 0 && second.Suites[j].Err == "" {
			s.Failed = slices.DeleteFunc(s.Failed, func(t string) bool { return t == a.test })
			s.Passed = append(s.Passed, a.test)
			s.Retried = append(s.Retried, a.test)
			continue
		}
		why := "did not run"
		switch {
		case j >= 0 && second.Suites[j].Err != "":
			why = second.Suites[j].Err
		case j >= 0 && len(second.Suites[j].Failed) > 0:
			why = "failed again"
			failedAgain[a.suite] = append(append(failedAgain[a.suite], "(second run of "+a.test+")"), second.Suites[j].FailureLines...)
		case bootErr != "":
			why = firstLine(bootErr)
		}
		notPassed = append(notPassed, fmt.Sprintf("%s: %s on its second run", a.test, why))
	}
	for i := range r.Suites { // the report keeps the output of the tests still failing, both runs'
		s := &r.Suites[i]
		if len(s.Retried) > 0 || failedAgain[s.Name] != nil {
			s.FailureLines = nil
			for _, t := range s.Failed {
				s.FailureLines = append(s.FailureLines, s.failureOutput[t]...)
			}
			s.FailureLines = append(s.FailureLines, failedAgain[s.Name]...)
		}
	}
	return notPassed
}

// withoutFlag returns args without the flag name and its value.
func withoutFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == name {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// runPattern is the -test.run pattern that selects test (a subtest: "Parent/sub") and nothing else.
func runPattern(test string) string {
	parts := strings.Split(test, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// collect reads the outputs of the plan's steps in dir.
func collect(ctx context.Context, name, dir string, p plan.Plan, res plan.Result, host *kernelResult) *kernelResult {
	r := &kernelResult{Name: name, Release: res.Kernel, Dir: dir, Steps: res.Steps}
	results := map[string]plan.StepResult{}
	for _, s := range res.Steps {
		results[s.Name] = s
	}
	for _, step := range p.Steps {
		sr, ran := results[step.Name]
		switch {
		case step.Name == "check":
			if !ran {
				r.CheckErr = "did not run"
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, step.Stdout))
			if err == nil {
				err = json.Unmarshal(b, &r.Checks)
			}
			if err != nil {
				r.CheckErr = fmt.Sprintf("no JSON output (%v, exit %d): %s", err, sr.ExitCode, tail(filepath.Join(dir, step.Output), 5))
			}
		case step.Name == "bench":
			if !ran {
				r.BenchErr = "did not run"
				continue
			}
			var err error
			if r.Overhead, err = parseBench(filepath.Join(dir, step.Output)); err != nil || sr.ExitCode != 0 {
				r.BenchErr = fmt.Sprintf("exit status %d %s %v: %s", sr.ExitCode, sr.Error, err, tail(filepath.Join(dir, step.Output), 5))
			}
		case strings.HasPrefix(step.Name, "session-"):
			s := session{Name: strings.TrimPrefix(step.Name, "session-"), ExitCode: sr.ExitCode}
			if !ran {
				s.Err = "did not run"
			} else {
				s.Records, s.Diffs, s.Err = compareSession(filepath.Join(dir, step.Name+".jsonl"), host, step.Name)
				if sr.ExitCode != 0 {
					s.Err = fmt.Sprintf("exit status %d %s: %s", sr.ExitCode, sr.Error, tail(filepath.Join(dir, step.Output), 5))
				}
				s.SkipsReported = strings.Contains(readFile(filepath.Join(dir, step.Output)), skipMarker)
			}
			if m := hooksRE.FindStringSubmatch(readFile(filepath.Join(dir, step.Output))); m != nil && r.Hooks == "" {
				r.Hooks = m[1]
			}
			r.Sessions = append(r.Sessions, s)
		default:
			s := suite{Name: step.Name, ExitCode: sr.ExitCode, Duration: sr.Duration, Output: filepath.Join(dir, step.Output)}
			if !ran {
				s.Err = "did not run"
			} else {
				parseTestOutput(ctx, &s)
				if after, running := timedOut(readFile(s.Output)); after != "" {
					s.Err = fmt.Sprintf("timed out after %s in %s; the tests after it did not run", after, running)
				} else if sr.ExitCode != 0 && len(s.Failed) == 0 {
					s.Err = fmt.Sprintf("exit status %d %s without a failing test: %s", sr.ExitCode, sr.Error, tail(s.Output, 8))
				}
			}
			r.Suites = append(r.Suites, s)
		}
	}
	return r
}

// testEvent is one line of `go tool test2json`.
type testEvent struct {
	Action string
	Test   string
	Output string
}

// parseTestOutput converts the raw -test.v=test2json output of a test binary with `go tool test2json` and counts
// the tests that have no subtests (so a skipped subtest shows); it keeps the output of failing tests.
func parseTestOutput(ctx context.Context, s *suite) {
	raw, err := os.ReadFile(s.Output)
	if err != nil {
		s.Err = err.Error()
		return
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "test2json")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		s.Err = fmt.Sprintf("go tool test2json: %v", err)
		return
	}
	outputs := map[string][]string{}
	final := map[string]string{} // test -> pass, fail or skip
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e testEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		switch e.Action {
		case "output":
			outputs[e.Test] = append(outputs[e.Test], strings.TrimRight(e.Output, "\n"))
		case "pass", "fail", "skip":
			if _, seen := final[e.Test]; !seen {
				order = append(order, e.Test)
			}
			final[e.Test] = e.Action
			if e.Action == "fail" {
				if s.failureOutput == nil {
					s.failureOutput = map[string][]string{}
				}
				s.failureOutput[e.Test] = outputs[e.Test]
				s.FailureLines = append(s.FailureLines, outputs[e.Test]...)
			}
		}
	}
	hasChildren := map[string]bool{}
	for _, t := range order {
		if i := strings.LastIndexByte(t, '/'); i > 0 {
			hasChildren[t[:i]] = true
		}
	}
	for _, t := range order {
		if hasChildren[t] {
			continue
		}
		switch final[t] {
		case "pass":
			s.Passed = append(s.Passed, t)
		case "skip":
			s.Skipped = append(s.Skipped, t)
		case "fail":
			s.Failed = append(s.Failed, t)
			if reportsSkips(outputs, t) {
				s.SkipsReported = append(s.SkipsReported, t)
			}
		}
	}
}

// counts says how many tests passed (how many of them on a second run), failed and were skipped.
func (s suite) counts() string {
	passed := fmt.Sprintf("%d passed", len(s.Passed))
	if len(s.Retried) > 0 {
		passed += fmt.Sprintf(" (%d on a second run)", len(s.Retried))
	}
	return fmt.Sprintf("%s, %d failed, %d skipped", passed, len(s.Failed), len(s.Skipped))
}

// skipMarker is in the line the end-to-end tests repeat when they fail after the monitor reported runs of its
// programs the kernel skipped (explainSkips in test/e2e).
const skipMarker = "the kernel SKIPPED"

// reportsSkips says whether the output of test t, or of a test it is a subtest of, has skipMarker.
func reportsSkips(outputs map[string][]string, t string) bool {
	for name := t; name != ""; {
		for _, line := range outputs[name] {
			if strings.Contains(line, skipMarker) {
				return true
			}
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return false
}

// tail returns the last n lines of a file, on one line.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// sortResults orders kernels as the catalogue does.
func sortResults(rs []*kernelResult) {
	index := func(name string) int {
		return slices.IndexFunc(catalogue, func(k kernel) bool { return k.name == name })
	}
	slices.SortFunc(rs, func(a, b *kernelResult) int { return index(a.Name) - index(b.Name) })
}

// timeoutRE finds a test binary's -test.timeout panic, runningRE the tests its panic lists as running ("running
// tests:" then one "\t\tName (duration)" line each, Go 1.20+), and runRE the tests the output says were started.
var (
	timeoutRE = regexp.MustCompile(`panic: test timed out after (\S+)`)
	runningRE = regexp.MustCompile(`(?m)^\t\t(\S+) \([^)]*\)$`)
	runRE     = regexp.MustCompile(`(?m)=== RUN\s+(\S+)\s*$`)
)

// timedOut returns, when a test binary's output ends in its -test.timeout panic, the limit and the tests that were
// running: those the panic lists, else those started and never ended (subtests and parallel tests interleave, so
// the last one started need not be the one stuck).
func timedOut(output string) (after, running string) {
	m := timeoutRE.FindStringSubmatchIndex(output)
	if m == nil {
		return "", ""
	}
	after = output[m[2]:m[3]]
	var names []string
	if _, list, ok := strings.Cut(output[m[1]:], "running tests:\n"); ok {
		list, _, _ = strings.Cut(list, "\n\n")
		for _, r := range runningRE.FindAllStringSubmatch(list+"\n", -1) {
			names = append(names, r[1])
		}
	}
	if len(names) == 0 {
		for _, r := range runRE.FindAllStringSubmatch(output[:m[0]], -1) {
			if !strings.Contains(output, "--- PASS: "+r[1]+" ") && !strings.Contains(output, "--- FAIL: "+r[1]+" ") &&
				!strings.Contains(output, "--- SKIP: "+r[1]+" ") {
				names = append(names, r[1])
			}
		}
	}
	if len(names) == 0 {
		return after, "?"
	}
	return after, strings.Join(names, ", ")
}

// hooksRE finds the hook set in mcpscope's ready line: "mcpscope: ready: watching … (hooks: fentry/fexit)".
var hooksRE = regexp.MustCompile(`ready: .*\(hooks: ([^)]+)\)`)

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// parseBench reads the metrics of the BenchmarkHookCost line: "BenchmarkHookCost-2 1 123 ns/op 2.5 none_s …".
func parseBench(path string) (map[string]float64, error) {
	for _, line := range strings.Split(readFile(path), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkHookCost") {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		if len(m) > 0 {
			return m, nil
		}
	}
	return nil, errors.New("no BenchmarkHookCost result")
}
