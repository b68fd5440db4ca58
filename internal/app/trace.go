package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/footprint"
	"github.com/mcpscope/mcpscope/internal/monitor"
	"github.com/mcpscope/mcpscope/internal/output/jsonl"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/store"
)

type traceOptions struct {
	io       IO
	env      env
	pids     []int
	comms    []string
	duration time.Duration
	db       string
	noDB     bool
	dbMaxMB  int
	portable bool
	cudaLibs []string
}

func newTraceCmd(streams IO) *cobra.Command {
	o := &traceOptions{io: streams}
	cmd := &cobra.Command{
		Use:   "trace (--pid N | --comm NAME | -- COMMAND ARGS...) [--duration D]",
		Short: "Record the footprint of any process tree, MCP or not",
		Long: `Record what a process tree does on the host, as watch does for each tool call: system calls (by name, with
errors and time), files opened, programs started (argv, exit code), connections, libraries, GPU devices, and the
CPU of the whole tree (children that exit included). Children are followed from the kernel at fork.

The tree is a running process (--pid, with the children it already has), every running process with a command
name (--comm), or COMMAND, started by mcpscope. Tracing ends after --duration, when COMMAND (or every traced
process) exits, or at SIGINT. The footprint is recorded into the database watch uses (a call of method "trace",
shown as mcpscope show prints it), or, with --no-db, written as one JSONL footprint record on stdout.`,
		Example: `  sudo mcpscope trace -- python3 build_index.py
  sudo mcpscope trace --pid 4242 --duration 30s
  sudo mcpscope trace --comm node --duration 1m --no-db | jq .`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			command, err := commandArgs(cmd, args)
			if err != nil {
				return err
			}
			n := 0
			for _, set := range []bool{len(o.pids) > 0, len(o.comms) > 0, len(command) > 0} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --pid, --comm or -- COMMAND")
			}
			return runTrace(cmd.Context(), o, command)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.pids, "pid", nil, "trace this running process and its descendants (repeatable)")
	f.StringArrayVar(&o.comms, "comm", nil, "trace the running processes with this command `name` and their descendants (repeatable)")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (default: when the traced processes exit, or at SIGINT)")
	f.StringVar(&o.db, "db", "", "record into the SQLite database at `PATH` (default: where watch records)")
	f.BoolVar(&o.noDB, "no-db", false, "write the footprint as JSONL on stdout instead of recording it")
	f.IntVar(&o.dbMaxMB, "db-max-mb", 1024, "cap the database at this many MiB, deleting the oldest data first (0: no cap)")
	f.StringArrayVar(&o.cudaLibs, "cuda-lib", nil, "count the CUDA driver calls into the libcuda at `PATH` from the start, like the host's installed ones (repeatable; others are counted from when a traced process opens them)")
	f.BoolVar(&o.portable, "portable", false, "use only the code paths of the oldest supported kernel")
	_ = f.MarkHidden("portable")
	cmd.MarkFlagsMutuallyExclusive("db", "no-db")
	return cmd
}

// traceRoot is one traced tree.
type traceRoot struct {
	pid     int
	comm    string
	name    string // what the user asked for: the command line, or the comm and pid
	members []int  // the processes already under it
}

func runTrace(ctx context.Context, o *traceOptions, command []string) error {
	if o.duration < 0 {
		return errors.New("--duration must be positive")
	}
	// Filter mode with nothing traced: the MCP capture programs stay idle; only the footprint programs work.
	capt, err := capture.Open(capture.Config{Filter: true, Footprint: true, Portable: o.portable})
	if err != nil {
		return fmt.Errorf("%w\n(run `mcpscope check` to see which capability is missing)", err)
	}
	defer capt.Close()
	cuda, err := preloadCUDA(capt, o.cudaLibs, o.io.Err, "") // trace opens the capture with footprints or fails
	if err != nil {
		return err
	}
	roots, child, err := o.roots(capt, command)
	if err != nil {
		return err
	}
	engine := footprint.New(monitor.ClockOffset())
	var engineMu sync.Mutex
	for _, r := range roots {
		o.logCUDA(cuda.Mapped(append(r.members, r.pid)...))
	}
	captureCtx, stopCapture := context.WithCancel(context.Background())
	defer stopCapture()
	captureDone := make(chan error, 1)
	go func() { captureDone <- capt.Run(captureCtx) }()
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		for e := range capt.Events() {
			switch e.Kind {
			case capture.KindFPMark, capture.KindFPFile, capture.KindFPExec, capture.KindFPExit, capture.KindFPConnect, capture.KindFPListen:
				engineMu.Lock()
				engine.Event(e)
				engineMu.Unlock()
				if path, _, err := cuda.Opened(e); path != "" || err != nil {
					o.logCUDA([]string{path}, err)
				}
			}
			capt.Release(e)
		}
	}()

	started := time.Now()
	names := make([]string, len(roots))
	for i, r := range roots {
		names[i] = r.name
	}
	fmt.Fprintf(o.io.Err, "mcpscope: ready: tracing %s (%s)\n", strings.Join(names, ", "), hookSummary(capt.FastPaths()))
	var timeout <-chan time.Time
	if o.duration > 0 {
		timeout = time.After(o.duration)
	}
	exitCode := 0
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	if child != nil {
		child.release()
	}
wait:
	for {
		select {
		case <-ctx.Done():
			if child != nil {
				child.forward(syscall.SIGTERM)
				exitCode = child.wait(3 * time.Second)
			}
			break wait
		case <-timeout:
			break wait
		case code := <-childDone(child):
			exitCode = code
			break wait
		case <-poll.C:
			if child == nil && !anyAlive(roots) {
				break wait
			}
			// Counters of ended epochs (an MCP server's calls) leave the kernel's maps as they go.
			sys, cpu, err := capt.DrainFootprint()
			if err == nil {
				engineMu.Lock()
				engine.Counters(sys, cpu)
				engineMu.Unlock()
			}
		}
	}
	ended := time.Now()

	stopCapture()
	var runErr error
	select {
	case runErr = <-captureDone:
	case <-time.After(4 * time.Second):
		runErr = errors.New("the ring-buffer reader did not stop in time")
	}
	<-eventsDone
	for _, r := range roots {
		if err := capt.RemoveFootprintRoot(r.pid); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	sys, cpu, err := capt.DrainFootprint()
	if err != nil {
		return errors.Join(runErr, err)
	}
	engine.Counters(sys, cpu)
	if ks, err := capt.Stats(); err != nil {
		fmt.Fprintf(o.io.Err, "mcpscope: %v\n", err)
	} else {
		reportKernelLosses(o.io.Err, ks, 0)
	}
	var fps []record.Footprint
	for _, r := range roots {
		ref := footprint.CallRef{Session: fmt.Sprintf("trace:%d", r.pid)}
		f := engine.Whole(footprint.Call{Ref: ref, Method: "trace", Tool: r.name, Server: record.Endpoint{Pid: r.pid, Comm: r.comm}},
			r.pid, started, ended)
		f.Session = ref.Session
		fps = append(fps, f)
	}
	if err := o.write(ctx, fps, roots); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if exitCode != 0 {
		return exitError{code: exitCode}
	}
	return nil
}

// logCUDA says which CUDA driver libraries were probed, or why not.
func (o *traceOptions) logCUDA(probed []string, err error) {
	for _, path := range probed {
		if path != "" {
			fmt.Fprintf(o.io.Err, "mcpscope: counting the CUDA driver calls of %s\n", path)
		}
	}
	if err != nil {
		fmt.Fprintf(o.io.Err, "mcpscope: CUDA driver calls: %v\n", err)
	}
}

// roots makes the trees to trace roots in the kernel: running processes with the descendants they have, or
// COMMAND, started behind its gate (released by the caller once tracing runs).
func (o *traceOptions) roots(capt *capture.Capture, command []string) ([]traceRoot, *startedCommand, error) {
	if len(command) > 0 {
		child, err := startCommand(command, o.io)
		if err != nil {
			return nil, nil, err
		}
		pid := child.cmd.Process.Pid
		if err := capt.AddFootprintRoot(pid); err != nil {
			child.abort()
			return nil, nil, err
		}
		return []traceRoot{{pid: pid, comm: commOf(command[0]), name: strings.Join(command, " ")}}, child, nil
	}
	proc := procfs.Default()
	procs, err := proc.Processes()
	if err != nil {
		return nil, nil, err
	}
	var roots []traceRoot
	for _, pid := range o.pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return nil, nil, fmt.Errorf("--pid %d: no such process", pid)
		}
		comm := proc.Comm(pid)
		roots = append(roots, traceRoot{pid: pid, comm: comm, name: fmt.Sprintf("%s[%d]", comm, pid)})
	}
	for _, p := range procs {
		for _, c := range o.comms {
			if (p.Comm == c || (len(c) > 15 && p.Comm == c[:15])) && p.Pid != os.Getpid() {
				roots = append(roots, traceRoot{pid: p.Pid, comm: p.Comm, name: fmt.Sprintf("%s[%d]", p.Comm, p.Pid)})
			}
		}
	}
	if len(roots) == 0 {
		return nil, nil, fmt.Errorf("no running process is named %s", strings.Join(o.comms, " or "))
	}
	// Every matched process is a tree of its own (a matched process under another is its own root), and each
	// process already running under them joins the tree of its nearest root.
	isRoot := map[int]bool{}
	for _, r := range roots {
		isRoot[r.pid] = true
	}
	members := nearestRoots(procs, isRoot)
	for i, r := range roots {
		if err := capt.AddFootprintRoot(r.pid, members[r.pid]...); err != nil {
			return nil, nil, err
		}
		roots[i].members = members[r.pid]
	}
	return roots, nil, nil
}

// nearestRoots gives each root the running processes below it that are below no other root closer to them.
func nearestRoots(procs []procfs.Proc, isRoot map[int]bool) map[int][]int {
	parent := make(map[int]int, len(procs))
	for _, p := range procs {
		parent[p.Pid] = p.PPid
	}
	out := map[int][]int{}
	for _, p := range procs {
		if isRoot[p.Pid] {
			continue
		}
		// Up the ancestors to the first root; a bounded walk, since /proc is read process by process and a
		// parent can be listed as its child's child after pid reuse.
		for a, steps := parent[p.Pid], 0; a > 1 && steps < len(procs); a, steps = parent[a], steps+1 {
			if isRoot[a] {
				out[a] = append(out[a], p.Pid)
				break
			}
		}
	}
	return out
}

// write records the footprints into the database and prints them as mcpscope show does, or with --no-db writes
// them as JSONL on stdout.
func (o *traceOptions) write(ctx context.Context, fps []record.Footprint, roots []traceRoot) error {
	if o.noDB {
		w := jsonl.New(o.io.Out)
		for i := range fps {
			if err := w.WriteFootprint(&fps[i]); err != nil {
				return err
			}
		}
		return w.Close()
	}
	wo := &watchOptions{io: o.io, env: o.env, db: o.db, dbMaxMB: o.dbMaxMB}
	sink, err := wo.openDB(ctx)
	if err != nil {
		return err
	}
	ids := make([]int64, len(fps))
	for i := range fps {
		ids[i] = sink.WriteTrace(&fps[i], roots[i].name)
	}
	path := sink.Store().Path()
	if err := sink.Close(); err != nil {
		return err
	}
	db, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, id := range ids {
		c, err := db.Call(ctx, id)
		if err != nil {
			return err
		}
		if _, err := o.io.Out.Write(renderCall(c)); err != nil {
			return err
		}
	}
	return nil
}

// childDone is the exit status channel of the started command, or nil (never ready) without one.
func childDone(c *startedCommand) <-chan int {
	if c == nil {
		return nil
	}
	return c.done
}

// anyAlive tells whether any root process still runs.
func anyAlive(roots []traceRoot) bool {
	for _, r := range roots {
		if err := syscall.Kill(r.pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			return true
		}
	}
	return false
}

// commOf is the command name the kernel gives a program: its file name, cut at 15 bytes.
func commOf(program string) string {
	name := program[strings.LastIndexByte(program, '/')+1:]
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}
