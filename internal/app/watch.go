package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/monitor"
	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/output/console"
	"github.com/mcpscope/mcpscope/internal/output/jsonl"
	"github.com/mcpscope/mcpscope/internal/output/storesink"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/store"
	"github.com/mcpscope/mcpscope/internal/stream"
)

type watchOptions struct {
	io IO

	output       string
	pids         []int
	comms        []string
	ringBufferMB int
	maxMessageMB int
	memLimitMB   int
	color        string
	verbose      bool
	hooks        string
	noHTTP       bool
	noTLS        bool
	noFootprint  bool
	cudaLibs     []string
	portable     bool
	noRedact     bool
	debugEvents  string // hidden: log every TCP and TLS event the kernel delivers, to diagnose capture

	// The SQL store (internal/store): on by default.
	env     env
	db      string
	noDB    bool
	dbMaxMB int
}

func bindWatchFlags(cmd *cobra.Command, o *watchOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "write JSONL records to `FILE` (\"-\" = stdout, replacing the console lines)")
	f.IntSliceVar(&o.pids, "pid", nil, "watch only this process and its descendants (repeatable)")
	f.StringArrayVar(&o.comms, "comm", nil, "watch only processes with this command `name` and their descendants (repeatable)")
	f.IntVar(&o.ringBufferMB, "ring-buffer-mb", 16, "kernel ring buffer size in MiB (a power of two)")
	f.IntVar(&o.maxMessageMB, "max-message-mb", 64, "largest message kept whole, in MiB; longer lines are reported cut")
	f.IntVar(&o.memLimitMB, "memory-limit-mb", defaultMemLimitMB, "soft limit in MiB on the monitor's own memory, the ring buffer aside: near it the garbage collector runs more often instead of the heap growing; never a cause of loss (0: none; GOMEMLIMIT, when set, wins)")
	f.StringVar(&o.color, "color", "auto", "colour console lines: auto, always or never")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print each message's JSON under its console line")
	f.StringVar(&o.db, "db", "", "record into the SQLite database at `PATH` (default /var/lib/mcpscope/mcpscope.db as root, else $XDG_STATE_HOME/mcpscope/mcpscope.db)")
	f.BoolVar(&o.noDB, "no-db", false, "do not record into a database")
	f.IntVar(&o.dbMaxMB, "db-max-mb", 1024, "cap the database at this many MiB, deleting the oldest data first (0: no cap)")
	cmd.MarkFlagsMutuallyExclusive("db", "no-db")
	f.BoolVar(&o.noHTTP, "no-http", false, "do not follow MCP over TCP (Streamable HTTP, HTTP+SSE); stdio only")
	f.BoolVar(&o.noTLS, "no-tls", false, "do not probe TLS libraries (OpenSSL, Node.js) for HTTPS plaintext")
	f.BoolVar(&o.noFootprint, "no-footprint", false, "do not record what each tool call made its server do (syscalls, files, programs, connections, CPU)")
	f.StringArrayVar(&o.cudaLibs, "cuda-lib", nil, "count the CUDA driver calls of tool calls into the libcuda at `PATH` from the start, like the host's installed ones (repeatable; others are counted from when a server opens them)")
	f.BoolVar(&o.noRedact, "no-redact", false, "write session ids, Authorization, cookies and other secret header values as captured")
	f.BoolVar(&o.portable, "portable", false, "use only the code paths of the oldest supported kernel (tracepoints, CO-RE reads, perf-event uprobes): to compare with the fast paths")
	_ = f.MarkHidden("portable")
	f.StringVar(&o.debugEvents, "debug-events", "", "log every data, reader, TCP and TLS record and footprint mark the kernel delivers (time, stream, generation, offset, size, process) and every TLS probe hit to `FILE`, for diagnosing capture")
	_ = f.MarkHidden("debug-events")
	f.StringVar(&o.hooks, "hooks", "auto", "kernel hooks: auto (fentry/fexit where the kernel allows them, else syscall tracepoints), fentry or tracepoint")
}

// footprinter is capt as the monitor's Footprinter, or nil when it records no footprints (a nil *capture.Capture
// inside the interface would not be nil).
func footprinter(capt *capture.Capture) monitor.Footprinter {
	if !capt.Footprints() {
		return nil
	}
	return capt
}

// defaultMemLimitMB is the default soft limit on the monitor's Go memory. Under a sustained 64 KiB echo load the heap
// holds 3 to 12 MB, but without a limit the runtime let it swell to 16 MB between collections and kept the pages for
// minutes after: 22 MB of the monitor's resident memory, against 12 MB with a limit of 16 MiB (docs/benchmarks.md,
// "the monitor's memory"). A soft limit costs more collections, never an allocation: a 16 MiB message still goes
// through, the collector's share of CPU capped at half by the runtime while the heap is over it. At 16 MiB the
// collector ran some 50 times a second under that load, and the monitor spent a quarter more CPU per message than
// at 20 MiB, for 3 MiB less of peak memory.
const defaultMemLimitMB = 20

// limitMemory sets the runtime's soft memory limit from --memory-limit-mb, unless GOMEMLIMIT already set one.
func (o *watchOptions) limitMemory() error {
	if o.memLimitMB < 0 {
		return fmt.Errorf("--memory-limit-mb %d: give a size in MiB, or 0 for no limit", o.memLimitMB)
	}
	if o.memLimitMB == 0 || os.Getenv("GOMEMLIMIT") != "" { // the runtime has read that one already
		return nil
	}
	debug.SetMemoryLimit(int64(o.memLimitMB) << 20)
	return nil
}

// openDegraded opens the capture of cfg; should the kernel refuse it, it tries again with the optional program
// groups off, footprints first, then HTTPS (arm64 kernels before 6.0 refuse the TLS programs: docs/kernel.md,
// Limits), then both: they are worth having, not worth going without messages. It warns about what it turned off,
// with the kernel's reason, and returns the configuration that loaded. Its error is the first refusal.
func openDegraded(cfg capture.Config, warn io.Writer) (*capture.Capture, capture.Config, error) {
	capt, err := capture.Open(cfg)
	if err == nil {
		return capt, cfg, nil
	}
	noFootprint, noTLS := cfg, cfg
	noFootprint.Footprint = false
	noTLS.TLS = false
	neither := noTLS
	neither.Footprint = false
	https := cfg.TCP && cfg.TLS
	for _, try := range []struct {
		cfg     capture.Config
		without string
		applies bool
	}{
		{noFootprint, "footprints", cfg.Footprint},
		{noTLS, "HTTPS", https},
		{neither, "footprints and HTTPS", cfg.Footprint && https},
	} {
		if !try.applies {
			continue
		}
		if c, err2 := capture.Open(try.cfg); err2 == nil {
			fmt.Fprintf(warn, "mcpscope: warning: the kernel refused mcpscope's programs; watching without %s: %s\n",
				try.without, firstLine(err.Error()))
			return c, try.cfg, nil
		}
	}
	return nil, cfg, err
}

// preloadCUDA returns what counts the CUDA driver calls of footprint trees, with the CUDA driver libraries at libs
// (--cuda-lib) and the host's installed ones probed already (each logged to log), or nil without footprints;
// footprintsOff says why there are none, for the user who asked for libs.
func preloadCUDA(capt *capture.Capture, libs []string, log io.Writer, footprintsOff string) (*capture.CUDAProber, error) {
	if !capt.Footprints() {
		if len(libs) > 0 {
			return nil, fmt.Errorf("--cuda-lib counts the CUDA driver calls of tool calls, which needs footprints: %s", footprintsOff)
		}
		return nil, nil
	}
	p := capture.NewCUDAProber(capt, procfs.Default())
	probed, skipped, err := p.Preload(libs...)
	for _, path := range probed {
		fmt.Fprintf(log, "mcpscope: counting the CUDA driver calls of %s\n", path)
	}
	if skipped != nil {
		fmt.Fprintf(log, "mcpscope: CUDA driver calls: %v (tried again when a traced process opens it)\n", skipped)
	}
	if err != nil {
		return nil, fmt.Errorf("--cuda-lib: %w", err)
	}
	return p, nil
}

// cudaProber is p as the monitor's CUDAProber: nil when p is (a nil *capture.CUDAProber inside the interface would
// not be nil).
func cudaProber(p *capture.CUDAProber) monitor.CUDAProber {
	if p == nil {
		return nil
	}
	return p
}

func newWatchCmd(streams IO) *cobra.Command {
	opts := &watchOptions{io: streams}
	cmd := &cobra.Command{
		Use:   "watch [flags] [-- COMMAND ARGS...]",
		Short: "Watch MCP traffic (the default command)",
		Long: `Watch MCP traffic on this host and print one line per message, or JSONL with -o.

Everything is also recorded into an SQLite database (--db, default /var/lib/mcpscope/mcpscope.db as root) that
mcpscope query, calls and show read; --no-db turns that off. See docs/sql.md.

With -- COMMAND, mcpscope starts COMMAND, watches only its process tree (children are followed from the kernel at
fork), and exits with its exit status when it ends.`,
		Example: `  sudo mcpscope
  sudo mcpscope -o mcp.jsonl
  sudo mcpscope --comm node -o - | jq .
  sudo mcpscope --db ./session.db --db-max-mb 256
  sudo mcpscope -- npx @modelcontextprotocol/inspector --cli node server.js --method tools/list`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			command, err := commandArgs(cmd, args)
			if err != nil {
				return err
			}
			return runWatch(cmd.Context(), opts, command)
		},
	}
	bindWatchFlags(cmd, opts)
	return cmd
}

func runWatch(ctx context.Context, o *watchOptions, command []string) error {
	for _, p := range o.pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err != nil {
			return fmt.Errorf("--pid %d: no such process", p)
		}
	}
	if o.dbMaxMB < 0 {
		return fmt.Errorf("--db-max-mb %d: give a size in MiB, or 0 for no cap", o.dbMaxMB)
	}
	if err := o.limitMemory(); err != nil {
		return err
	}
	sink, closeOut, err := o.sink()
	if err != nil {
		return err
	}
	defer closeOut()

	filter := len(o.pids) > 0 || len(o.comms) > 0 || len(command) > 0
	hooks, err := capture.ParseHooks(o.hooks)
	if err != nil {
		return err
	}
	cfg := capture.Config{Filter: filter, RingBufferBytes: o.ringBufferMB << 20, Hooks: hooks, TCP: !o.noHTTP, TLS: !o.noTLS,
		Footprint: !o.noFootprint, Portable: o.portable, DebugTLS: o.debugEvents != ""}
	capt, cfg, err := openDegraded(cfg, o.io.Err)
	if err != nil {
		return fmt.Errorf("%w\n(run `mcpscope check` to see which capability is missing)", err)
	}
	defer capt.Close()
	if fb := capt.FastPaths().Fallback; fb != "" {
		fmt.Fprintf(o.io.Err, "mcpscope: warning: the kernel refused the fast paths; using the portable ones (same records, higher cost): %s\n", firstLine(fb))
	}
	footprintsOff := "drop --no-footprint"
	if !o.noFootprint {
		footprintsOff = "the footprint programs did not load on this kernel (see the warning above and `mcpscope check`)"
	}
	cuda, err := preloadCUDA(capt, o.cudaLibs, o.io.Err, footprintsOff)
	if err != nil {
		return err
	}
	if err := o.traceExisting(capt); err != nil {
		return err
	}
	tlsCtx, stopTLS := context.WithCancel(context.Background())
	defer stopTLS()
	https := cfg.TCP && cfg.TLS && o.attachTLS(tlsCtx, capt, command)
	db, err := o.openDB(ctx)
	if err != nil {
		return err
	}
	monitorStarted := false
	if db != nil {
		sink = output.Multi(sink, db)
		defer func() {
			if !monitorStarted { // otherwise the monitor closes it (and may still be using it)
				_ = db.Close()
			}
		}()
	}

	var child *startedCommand
	if len(command) > 0 {
		child, err = startCommand(command, o.io)
		if err != nil {
			return err
		}
		if err := capt.AddPid(child.cmd.Process.Pid); err != nil {
			child.abort()
			return err
		}
	}

	tap, closeTap, err := debugEventsTap(o.debugEvents)
	if err != nil {
		return err
	}
	defer closeTap()
	mon := monitor.New(monitor.Options{
		Sink:        sink,
		Controller:  capt,
		Proc:        procfs.Default(),
		Log:         o.io.Err,
		ClockOffset: monitor.ClockOffset(),
		Stream:      stream.Config{MaxMessage: o.maxMessageMB << 20},
		NoRedact:    o.noRedact,
		Footprints:  footprinter(capt),
		CUDA:        cudaProber(cuda),
		Tap:         tap,
		KernelStats: func() map[string]uint64 {
			counters := map[string]uint64{}
			if ks, err := capt.Stats(); err == nil {
				counters = ks.Counters()
			}
			if db != nil {
				maps.Copy(counters, db.Store().Stats().Counters())
			}
			return counters
		},
	})

	captureCtx, stopCapture := context.WithCancel(context.Background())
	defer stopCapture()
	captureDone := make(chan error, 1)
	go func() { captureDone <- capt.Run(captureCtx) }()
	monitorDone := make(chan error, 1)
	go func() { monitorDone <- mon.Run(capt) }()
	monitorStarted = true

	transports := "stdio and HTTP"
	switch {
	case o.noHTTP:
		transports = "stdio"
	case https:
		transports = "stdio, HTTP and HTTPS"
	}
	fmt.Fprintf(o.io.Err, "mcpscope: ready: watching MCP over %s %s (%s)\n", transports, o.scope(command), hookSummary(capt.FastPaths()))
	exitCode := 0
	if child != nil {
		child.release()
		select {
		case <-ctx.Done():
			child.forward(syscall.SIGTERM)
			exitCode = child.wait(3 * time.Second)
		case exitCode = <-child.done:
		}
	} else {
		<-ctx.Done()
	}

	// Drain what the kernel already delivered, flush every output. A stuck sink (a full pipe nobody reads) must not
	// keep us past the 5 s users are promised.
	stopTLS()
	stopCapture()
	deadline := time.After(4 * time.Second)
	var runErr error
	select {
	case runErr = <-captureDone:
	case <-deadline:
		runErr = errors.New("the ring-buffer reader did not stop in time")
	}
	select {
	case err := <-monitorDone:
		runErr = errors.Join(runErr, err)
	case <-deadline:
		runErr = errors.Join(runErr, errors.New("output did not drain in time"))
	}
	o.summary(capt, mon)
	o.dbSummary(db)
	if runErr != nil {
		return runErr
	}
	if exitCode != 0 {
		return exitError{code: exitCode}
	}
	return nil
}

func (o *watchOptions) scope(command []string) string {
	switch {
	case len(command) > 0:
		return fmt.Sprintf("of %s and its descendants", strings.Join(command, " "))
	case len(o.pids) > 0 || len(o.comms) > 0:
		var parts []string
		for _, p := range o.pids {
			parts = append(parts, fmt.Sprintf("pid %d", p))
		}
		for _, c := range o.comms {
			parts = append(parts, fmt.Sprintf("command %q", c))
		}
		return "of " + strings.Join(parts, ", ") + " and their descendants"
	default:
		return "of every process"
	}
}

// traceExisting puts processes that already run (and their descendants) under watch, and marks the pipes and
// sockets they hold so that messages written to them by processes outside the filter are seen too.
func (o *watchOptions) traceExisting(capt *capture.Capture) error {
	for _, c := range o.comms {
		if err := capt.AddComm(c); err != nil {
			return err
		}
	}
	if len(o.pids) == 0 && len(o.comms) == 0 {
		return nil
	}
	proc := procfs.Default()
	procs, err := proc.Processes()
	if err != nil {
		return err
	}
	roots := map[int]bool{}
	for _, p := range o.pids {
		roots[p] = true
	}
	for _, p := range procs {
		for _, c := range o.comms {
			if p.Comm == c || (len(c) > 15 && p.Comm == c[:15]) {
				roots[p.Pid] = true
			}
		}
	}
	for _, pid := range procfs.Descendants(procs, roots) {
		if err := capt.AddPid(pid); err != nil {
			return err
		}
		fds, err := proc.StreamFDs(pid)
		if err != nil {
			continue // exited meanwhile
		}
		for _, fd := range fds {
			switch {
			case fd.Kind == "pipe" && fd.ReadOnly:
				err = capt.AddCandidate(stream.Key{Kind: stream.KindPipe, Ino: fd.Ino}, pid, fd.FD == 0)
			case fd.Kind == "socket":
				err = capt.AddCandidate(stream.Key{Kind: stream.KindUnix, Ino: fd.Ino}, pid, fd.FD == 0)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sink builds the outputs: console lines on stdout, or JSONL to a file or stdout.
func (o *watchOptions) sink() (output.Sink, func(), error) {
	if o.output == "" {
		color := o.color == "always"
		if o.color == "auto" {
			if f, ok := o.io.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				color = true
			}
		}
		return console.New(o.io.Out, console.Options{Color: color, Verbose: o.verbose}), func() {}, nil
	}
	var w io.Writer = o.io.Out
	closeFn := func() {}
	if o.output != "-" {
		f, err := os.OpenFile(o.output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open the JSONL output: %w", err)
		}
		w = f
		closeFn = func() { f.Close() }
	}
	return jsonl.New(w), closeFn, nil
}

// openDB opens the SQL store watch records into, unless --no-db; nil then.
func (o *watchOptions) openDB(ctx context.Context) (*storesink.Sink, error) {
	if o.noDB {
		return nil, nil
	}
	path := o.db
	if path == "" {
		if o.env.getenv == nil {
			o.env = hostEnv()
		}
		var err error
		if path, err = o.env.defaultDBPath(); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, path, store.Options{
		MaxBytes:     int64(o.dbMaxMB) << 20,
		Log:          o.io.Err,
		CloseTimeout: 2 * time.Second, // within the 5 s watch is promised to take to exit
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n(--db PATH records elsewhere, --no-db not at all)", err)
	}
	fmt.Fprintf(o.io.Err, "mcpscope: recording into %s (mcpscope query, calls and show read it; --no-db turns it off)\n", st.Path())
	return storesink.New(st, storesink.Options{Version: versionString(), Log: o.io.Err}), nil
}

// dbSummary says what the database received, and, never silently, what it could not take.
func (o *watchOptions) dbSummary(db *storesink.Sink) {
	if db == nil {
		return
	}
	st := db.Store().Stats()
	fmt.Fprintf(o.io.Err, "mcpscope: database %s: %d rows written in %d transactions", db.Store().Path(), st.RowsWritten, st.Commits)
	if st.RowsPruned > 0 {
		fmt.Fprintf(o.io.Err, "; %d old rows pruned to stay under %d MiB", st.RowsPruned, o.dbMaxMB)
	}
	fmt.Fprintln(o.io.Err)
	if st.RowsDropped > 0 {
		fmt.Fprintf(o.io.Err, "mcpscope: database: DROPPED %d messages (%d rows) the disk could not take in time; the other outputs have them\n", st.MessagesDropped, st.RowsDropped)
	}
}

// summary prints what was captured and, never silently, what was lost.
func (o *watchOptions) summary(capt *capture.Capture, mon *monitor.Monitor) {
	c := mon.Counts()
	ks, err := capt.Stats()
	if err != nil {
		fmt.Fprintf(o.io.Err, "mcpscope: %v\n", err)
	}
	fmt.Fprintf(o.io.Err, "mcpscope: %d messages on %d streams; %d junk lines (%d bytes) skipped; %d streams quarantined\n",
		c.Messages, ks.Streams, c.JunkLines, c.JunkBytes, c.Quarantined)
	reportKernelLosses(o.io.Err, ks, c.Truncated)
}

// reportKernelLosses prints, never silently, what the kernel could not deliver (truncated: the messages marked
// truncated for it) and the runs of mcpscope's programs it skipped, one line each and only when there was any.
func reportKernelLosses(w io.Writer, ks capture.Stats, truncated uint64) {
	if lost := ks.Undelivered(); lost > 0 || truncated > 0 || ks.LostEvents > 0 {
		fmt.Fprintf(w, "mcpscope: LOST %d bytes in the kernel (ring buffer full: %d records, %d bytes; unreadable: %d; too long: %d; vector limit: %d); %d messages marked truncated; %d process records lost\n",
			lost, ks.LostRecords, ks.LostBytes, ks.FaultBytes, ks.TooLongBytes, ks.IovLostBytes, truncated, ks.LostEvents)
	}
	if n := ks.TLSUnreturned + ks.TLSUnentered + ks.MapRefused; n > 0 {
		fmt.Fprintf(w, "mcpscope: LOST the bytes of %d calls: %d TLS calls whose return the kernel never reported, %d whose entry it never reported (%d bytes), %d whose state it refused to store; TLS connections restarted at the gap where known\n",
			n, ks.TLSUnreturned, ks.TLSUnentered, ks.TLSUnenteredBytes, ks.MapRefused)
	}
	if line := ks.SkippedLine(); line != "" {
		fmt.Fprintln(w, line)
	}
}

// startedCommand is COMMAND of `watch -- COMMAND`, started paused so that it is under watch before its first
// instruction: a re-executed mcpscope waits on a pipe, and execs COMMAND once its pid is in the traced set.
type startedCommand struct {
	cmd  *exec.Cmd
	gate *os.File
	done chan int
}

func startCommand(command []string, streams IO) (*startedCommand, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find mcpscope's own executable: %w", err)
	}
	if _, err := exec.LookPath(command[0]); err != nil {
		return nil, fmt.Errorf("cannot run %s: %w", command[0], err)
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create the start gate: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		gateR.Close()
		gateW.Close()
		return nil, fmt.Errorf("create the start gate: %w", err)
	}
	defer readyR.Close()
	cmd := exec.Command(self, append([]string{execHelper, "--"}, command...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = streams.In, streams.Out, streams.Err
	cmd.ExtraFiles = []*os.File{gateR, readyW}
	err = cmd.Start()
	gateR.Close()
	readyW.Close()
	if err != nil {
		gateW.Close()
		return nil, fmt.Errorf("start %s: %w", command[0], err)
	}
	// Wait until the helper is at the gate, its runtime's start-up done: what it does from now on is COMMAND's
	// start (the footprint of `mcpscope trace -- COMMAND` begins here). A helper that died says nothing.
	_ = readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, _ = readyR.Read(b[:])
	return &startedCommand{cmd: cmd, gate: gateW, done: make(chan int, 1)}, nil
}

// release lets the command exec and starts waiting for it.
func (s *startedCommand) release() {
	s.gate.Write([]byte{1})
	s.gate.Close()
	go func() {
		err := s.cmd.Wait()
		s.done <- exitStatus(s.cmd.ProcessState, err)
	}()
}

func (s *startedCommand) abort() {
	s.gate.Close() // the helper exits when the gate closes unopened
	s.cmd.Wait()
}

func (s *startedCommand) forward(sig os.Signal) { _ = s.cmd.Process.Signal(sig) }

func (s *startedCommand) wait(d time.Duration) int {
	select {
	case code := <-s.done:
		return code
	case <-time.After(d):
		_ = s.cmd.Process.Kill()
		return <-s.done
	}
}

func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return 127
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if err != nil {
		return 1
	}
	return 0
}

// hookSummary names the hooks in use for the ready line, so a user comparing two hosts sees why their costs differ.
func hookSummary(f capture.FastPaths) string {
	hooks := "hooks: syscall tracepoints"
	if f.Fentry {
		hooks = "hooks: fentry/fexit"
	}
	if f.UprobeMulti {
		hooks += ", uprobe_multi"
	}
	return hooks
}

// tlsRescan is how often watch looks for TLS libraries and programs that appeared since it started without an exec
// it was told about (a library loaded later, an exec report dropped).
const tlsRescan = 5 * time.Second

// attachTLS probes every TLS library and program capture.FindTLSTargets names, and the program of command (before
// it starts: a short-lived client's first TLS calls must be seen), logging what it probed, reports whether any was,
// and keeps looking every tlsRescan until ctx is done. A file that cannot be probed is logged once and skipped: HTTPS
// through it is not seen, the rest is.
func (o *watchOptions) attachTLS(ctx context.Context, capt *capture.Capture, command []string) bool {
	proc := procfs.Default()
	prober := capture.NewTLSProber(capt, proc)
	report := func(probed []capture.TLSTarget, errs []error) {
		for _, err := range errs {
			fmt.Fprintf(o.io.Err, "mcpscope: warning: HTTPS through it will not be seen: %v\n", err)
		}
		if len(probed) == 0 {
			return
		}
		names := make([]string, len(probed))
		for i, t := range probed {
			lib := ""
			if t.Go != "" {
				lib = t.Go + ": "
			}
			names[i] = fmt.Sprintf("%s (%s%s)", t.Path, lib, strings.Join(t.Symbols, ", "))
		}
		fmt.Fprintf(o.io.Err, "mcpscope: HTTPS plaintext from %s\n", strings.Join(names, "; "))
	}
	var probed []capture.TLSTarget
	var errs []error
	if len(command) > 0 {
		if path, err := exec.LookPath(command[0]); err == nil {
			probed, errs = prober.ScanExecutable(path) // files are told apart by inode: a symlink is its target
		}
	}
	more, moreErrs := prober.Scan()
	probed, errs = append(probed, more...), append(errs, moreErrs...)
	report(probed, errs)
	if len(probed) == 0 {
		fmt.Fprintln(o.io.Err, "mcpscope: no TLS library found to probe yet: HTTPS is not seen until one appears")
	}
	go func() {
		tick := time.NewTicker(tlsRescan)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case pid := <-capt.Execs():
				probed, errs := prober.ScanProcess(pid)
				if ctx.Err() != nil {
					return
				}
				report(probed, errs)
			case <-tick.C:
				probed, errs := prober.Scan()
				if ctx.Err() != nil {
					return // capture stopped meanwhile
				}
				report(probed, errs)
				swept, err := capt.SweepTLSCalls(proc.Alive)
				if err != nil {
					fmt.Fprintf(o.io.Err, "mcpscope: warning: %v\n", err)
				}
				if swept > 0 && o.debugEvents != "" {
					fmt.Fprintf(o.io.Err, "mcpscope: debug: swept %d saved TLS calls of exited processes\n", swept)
				}
			}
		}
	}()
	return len(probed) > 0
}

// debugEventsTap returns a tap that logs to path, one line each, the records of streams and processes the kernel
// delivers (data, reader, close, exit, TCP): time (CLOCK_MONOTONIC ns), record kind, stream kind and number,
// generation, offset, size, process and thread; the footprint marks: read or write, root, epoch, stream, offset; and
// each TLS probe hit (capture.Config.DebugTLS): time, "hit", what it did, the call's key (goroutine or thread),
// stream, buffer, length or result, instruction, stack pointer, CPU, process and thread. Footprint records other than
// marks are left out (one per file opened). Empty path: no tap.
func debugEventsTap(path string) (func(*capture.Event), func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--debug-events: %w", err)
	}
	w := bufio.NewWriter(f)
	tap := func(e *capture.Event) {
		switch e.Kind {
		case capture.KindTLSHit:
			h := e.TLSHit
			fmt.Fprintf(w, "%d hit site=%d key=%#x stream=%d:%d buf=%#x n=%d ip=%#x sp=%#x cpu=%d pid=%d tid=%d\n", e.Time, h.Site,
				e.Gen, e.Stream.Kind, e.Stream.Ino, e.Offset, int64(e.Lost), h.IP, h.SP, h.CPU, e.Pid, e.Tid)
		case capture.KindFPMark:
			fmt.Fprintf(w, "%d mark read=%v root=%d epoch=%d stream=%d:%d gen=%d off=%d pid=%d tid=%d\n", e.Time, e.FP.Read(), e.FP.Root, e.FP.Epoch,
				e.Stream.Kind, e.Stream.Ino, e.Gen, e.Offset, e.Pid, e.Tid)
		case capture.KindData, capture.KindReader, capture.KindClose, capture.KindExit, capture.KindTCP:
			fmt.Fprintf(w, "%d kind=%d stream=%d:%d gen=%d off=%d len=%d lost=%d pid=%d tid=%d", e.Time, e.Kind, e.Stream.Kind,
				e.Stream.Ino, e.Gen, e.Offset, len(e.Data), e.Lost, e.Pid, e.Tid)
			if e.Kind == capture.KindTCP {
				fmt.Fprintf(w, " local=%s remote=%s", e.Conn.Local, e.Conn.Remote)
			}
			w.WriteByte('\n')
		}
	}
	return tap, func() { w.Flush(); f.Close() }, nil
}
