// Command kernels is mcpscope's kernel-matrix runner: it runs the BPF, capture and end-to-end tests inside stock
// Debian kernels under qemu, compares the records of the same MCP sessions with the host's, and writes the support
// matrix, docs/kernels.md.
//
//	make test-kernels        # 5.10, 6.1, 6.12 and the newest Debian kernel (sid); rewrites docs/kernels.md
//	make test-kernels-ci     # the oldest and the newest only
//	go run ./test/kernels -h # every flag
//
// It needs root (the host runs the same tests as the reference), Go, and qemu, kmod, xz and zstd, which it installs
// with apt-get when they are missing. What it does:
//
//  1. Fetch: downloads the kernel packages with a private apt configuration per Debian suite (the host's apt
//     sources, lists and archives are not touched) into the cache, $MCPSCOPE_KERNEL_CACHE or
//     /var/cache/mcpscope-kernels, and unpacks them there. A cached kernel is reused without any network access;
//     -refresh resolves "newest" again.
//  2. Build, on the host: the test binaries of ./internal/bpf, ./internal/capture and ./test/e2e, bin/mcpscope and
//     test/peers/gopeer (the e2e tests use them through MCPSCOPE_E2E_BINDIR, so nothing is compiled in a guest),
//     and test/kernels/guestinit, the static /init of a small initramfs per kernel that also holds the modules the
//     guest needs (virtio-pci, virtio-rng, 9p, overlayfs).
//  3. Run the plan (package plan) on the host, then boot each kernel: qemu, software emulation (TCG) on one thread,
//     2 GiB of memory, no network. The guest's root is the host's own root filesystem, read-only over 9p under an
//     in-memory overlay, so the binaries, /usr/bin/node and the npm peers of test/node are where they are on the
//     host. The plan: `mcpscope check --json`, the test binaries with CI=true, MCP sessions recorded with
//     `mcpscope watch -o` and, unless -bench=false, BenchmarkHookCost (what each hook set costs a process that is
//     not MCP). Results come back through a directory shared writable with the guest.
//  4. Compare each session's records with the host's, per direction and in order, after dropping what differs
//     from run to run (times, latency, pids, session names).
//  5. Report: a table on stdout and, with -docs, docs/kernels.md: per kernel the capabilities `mcpscope check`
//     found, the hook set mcpscope chose, the tests passed, failed and skipped, the comparison with the host, the
//     overhead and the time taken. The exit status is 0 only if the host and every kernel passed everything; a
//     kernel that cannot be fetched or booted is a failure, never a skip.
//
// The run directory ($cache/runs/TIME) keeps every output: per kernel the console log, the raw test output, the
// JSONL of the sessions and, when the BPF tests fail, the verifier log in bpf.out. It is removed after a run that
// passed unless -keep is given; the cache keeps the five newest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mcpscope/mcpscope/test/kernels/plan"
)

// options are the command-line flags.
type options struct {
	kernels string
	cache   string
	timeout time.Duration
	jobs    int
	docs    string
	refresh bool
	keep    bool
	e2eRun  string
	node    bool
	bench   bool
}

func main() {
	var o options
	defCache := os.Getenv("MCPSCOPE_KERNEL_CACHE")
	if defCache == "" {
		defCache = "/var/cache/mcpscope-kernels"
	}
	flag.StringVar(&o.kernels, "kernels", "all", `kernels to run: "all", "ci" (the oldest and the newest), or names from: `+kernelNames())
	flag.StringVar(&o.cache, "cache", defCache, "where kernels are downloaded and unpacked (default: $MCPSCOPE_KERNEL_CACHE or /var/cache/mcpscope-kernels)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Hour, "per kernel: the guest is killed after this long, and the kernel fails")
	flag.IntVar(&o.jobs, "jobs", 2, "kernels booted at once (each guest uses one host core)")
	flag.StringVar(&o.docs, "docs", "", `write the support matrix to this file (make test-kernels: docs/kernels.md)`)
	flag.BoolVar(&o.refresh, "refresh", false, "update the package lists and resolve each kernel again (the newest sid kernel changes)")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directory even when everything passed")
	flag.StringVar(&o.e2eRun, "e2e-run", "", "-test.run pattern of the end-to-end tests run on the host and in each guest (default: a set for each -kernels; ci runs half as many)")
	flag.BoolVar(&o.node, "node", true, "include the session against server-everything (Node.js) in the plan")
	flag.BoolVar(&o.bench, "bench", true, "measure what each hook set costs a process that is not MCP (BenchmarkHookCost; minutes per kernel)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./test/kernels [flags]   (as root, from the repository)\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kernels: unexpected argument %q (see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if o.e2eRun == "" {
		o.e2eRun = defaultE2ERun
		if o.kernels == "ci" {
			o.e2eRun = ciE2ERun
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kernels: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s kernels: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func kernelNames() string {
	var names []string
	for _, k := range catalogue {
		names = append(names, k.name)
	}
	return strings.Join(names, ",")
}

// selectKernels resolves the -kernels flag.
func selectKernels(spec string) ([]kernel, error) {
	switch spec {
	case "all":
		return catalogue, nil
	case "ci":
		return []kernel{catalogue[0], catalogue[len(catalogue)-1]}, nil
	}
	var out []kernel
	for _, name := range strings.Split(spec, ",") {
		found := false
		for _, k := range catalogue {
			if k.name == strings.TrimSpace(name) {
				out = append(out, k)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown kernel %q: -kernels takes all, ci, or names from %s", name, kernelNames())
		}
	}
	return out, nil
}

func run(ctx context.Context, o options) (int, error) {
	start := time.Now()
	kernels, err := selectKernels(o.kernels)
	if err != nil {
		return 2, err
	}
	if os.Geteuid() != 0 {
		return 1, errors.New("run as root: the host and the guests load BPF programs, and apt-get installs what is missing")
	}
	repo, err := repoRoot()
	if err != nil {
		return 1, err
	}
	if err := ensureTools(ctx); err != nil {
		return 1, err
	}
	if o.node {
		if _, err := os.Stat(filepath.Join(repo, nodePeers)); err != nil {
			return 1, fmt.Errorf("the npm test peers are missing (%v): run `make test-deps`, or give -node=false", err)
		}
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return 1, fmt.Errorf("kernel cache: %w", err)
	}
	pruneRuns(filepath.Join(o.cache, "runs"), 5)
	if err := os.MkdirAll(filepath.Join(o.cache, "runs"), 0o755); err != nil {
		return 1, err
	}
	runDir, err := os.MkdirTemp(filepath.Join(o.cache, "runs"), time.Now().UTC().Format("20060102T150405Z-"))
	if err != nil {
		return 1, err
	}
	if err := os.Chmod(runDir, 0o755); err != nil {
		return 1, err
	}
	logf("run directory %s", runDir)

	// Fetch first: a kernel that cannot be downloaded fails loudly before anything long runs. The lock keeps two
	// runs sharing the cache from unpacking the same kernel at once.
	f := &fetcher{cache: o.cache, refresh: o.refresh, log: logf}
	fetchStart := time.Now()
	unlock, err := lockFile(filepath.Join(o.cache, ".lock"))
	if err != nil {
		return 1, err
	}
	var ready []unpacked
	var results []*kernelResult
	for _, k := range kernels {
		u, err := f.fetch(ctx, k)
		if err != nil {
			results = append(results, &kernelResult{Name: k.name, Comment: k.comment, Err: fmt.Sprintf("fetch: %v", err)})
			continue
		}
		logf("%s: kernel %s", k.name, u.release)
		ready = append(ready, u)
	}
	unlock()
	fetchTime := time.Since(fetchStart)

	bins := filepath.Join(runDir, "bin")
	buildStart := time.Now()
	b, err := build(ctx, repo, bins)
	if err != nil {
		return 1, err
	}
	logf("built the test binaries in %v", time.Since(buildStart).Round(time.Second))
	mkPlan := func(dir string) plan.Plan { return newPlan(repo, b, o, dir) }

	// The host runs the same plan: its records are the reference, its row the baseline.
	hostDir := filepath.Join(runDir, "host")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return 1, err
	}
	logf("host: running the plan")
	host := runOnHost(ctx, hostDir, mkPlan(hostDir))
	logf("host: %s", host.short())
	if ctx.Err() != nil {
		return 1, fmt.Errorf("interrupted; outputs so far are in %s", runDir)
	}

	sem := make(chan struct{}, max(o.jobs, 1))
	done := make(chan *kernelResult)
	for _, u := range ready {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			done <- runKernel(ctx, runDir, u, b.guestinit, mkPlan, o.timeout, host)
		}()
	}
	for range ready {
		r := <-done
		logf("%s: %s", r.Name, r.short())
		results = append(results, r)
	}
	sortResults(results)

	report := matrix{Host: host, Kernels: results, Date: time.Now().UTC(), Fetch: fetchTime, Total: time.Since(start),
		Selection: o.kernels, E2ERun: o.e2eRun, Jobs: max(o.jobs, 1)}
	fmt.Println()
	fmt.Print(report.table())
	if o.docs != "" {
		if err := os.WriteFile(filepath.Join(repo, o.docs), []byte(report.markdown()), 0o644); err != nil {
			return 1, err
		}
		logf("wrote %s", o.docs)
	}
	failed := report.failures()
	logf("%d kernels in %v (fetch %v)", len(results), time.Since(start).Round(time.Second), fetchTime.Round(time.Second))
	if len(failed) > 0 {
		fmt.Fprintln(os.Stderr)
		for _, f := range failed {
			fmt.Fprintln(os.Stderr, "FAIL "+f)
		}
		for _, f := range report.failureOutputs() {
			fmt.Fprintf(os.Stderr, "\n%s:\n%s\n", f.title, strings.Join(f.lines, "\n"))
		}
		return 1, fmt.Errorf("%d failures; every output is in %s", len(failed), runDir)
	}
	if !o.keep {
		_ = os.RemoveAll(runDir)
	}
	return 0, nil
}

// repoRoot is the module root of mcpscope, from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			if strings.HasPrefix(string(b), "module github.com/mcpscope/mcpscope\n") {
				return d, nil
			}
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("%s is not inside the mcpscope repository: run from the repository (make test-kernels)", dir)
		}
	}
}

// lockFile takes an exclusive lock on path, waiting for another run to release it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// pruneRuns removes all but the newest keep run directories (kept runs are those that failed or had -keep).
func pruneRuns(dir string, keep int) {
	entries, err := os.ReadDir(dir) // sorted by name: by time
	if err != nil {
		return
	}
	for i := 0; i < len(entries)-keep; i++ {
		_ = os.RemoveAll(filepath.Join(dir, entries[i].Name()))
	}
}
