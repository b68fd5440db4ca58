// Package plan is the contract between the kernel-matrix runner (test/kernels, on the host) and its guest init
// (test/kernels/guestinit, PID 1 inside each qemu guest): the steps the guest runs and what it reports back.
//
// The runner writes a Plan as JSON into a host directory shared writable with the guest; the guest runs its steps
// one after the other and rewrites the Result after each step, so that a guest that crashes or times out still
// leaves what it finished.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// File names inside the shared directory.
const (
	PlanFile   = "plan.json"
	ResultFile = "result.json"
)

// Plan is what one guest runs.
type Plan struct {
	Steps []Step `json:"steps"`
}

// Step is one command run in the guest, with the host's root filesystem (read-only, under an in-memory overlay)
// as its root.
type Step struct {
	Name    string        `json:"name"`    // unique; also names the output file
	Args    []string      `json:"args"`    // argv; Args[0] is looked up in PATH
	Dir     string        `json:"dir"`     // working directory
	Env     []string      `json:"env"`     // added to the guest's base environment
	Timeout time.Duration `json:"timeout"` // the step is killed after this long
	Output  string        `json:"output"`  // file (in the shared directory) that gets stderr, and stdout unless Stdout is set
	Stdout  string        `json:"stdout"`  // file (in the shared directory) that gets stdout alone, if set
}

// Result is what the guest reports.
type Result struct {
	Kernel string       `json:"kernel"` // uname -r
	Steps  []StepResult `json:"steps"`
	Done   bool         `json:"done"` // every step ran (whatever its exit code)
}

// StepResult is the outcome of one step.
type StepResult struct {
	Name     string        `json:"name"`
	ExitCode int           `json:"exit_code"` // -1: killed at its timeout; 127: could not start
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Write writes v as JSON to dir/name, through a temporary file so that a reader never sees half of it.
func Write(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Read decodes the JSON file dir/name into v.
func Read(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Run runs s with its outputs in dir and env as the base environment, killing it (and every process it started)
// at its timeout.
func Run(ctx context.Context, dir string, env []string, s Step) (r StepResult) {
	r.Name = s.Name
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	out, err := os.Create(filepath.Join(dir, s.Output))
	if err != nil {
		r.ExitCode, r.Error = 127, err.Error()
		return r
	}
	defer out.Close()
	stdout := out
	if s.Stdout != "" {
		if stdout, err = os.Create(filepath.Join(dir, s.Stdout)); err != nil {
			r.ExitCode, r.Error = 127, err.Error()
			return r
		}
		defer stdout.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Args[0], s.Args[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = append(append([]string{}, env...), s.Env...)
	cmd.Stdout, cmd.Stderr = stdout, out
	// A process group of its own, so that the timeout kills what the step started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.ExitCode, r.Error = -1, fmt.Sprintf("killed after its timeout of %v", s.Timeout)
		fmt.Fprintf(out, "\nstep %s killed after its timeout of %v\n", s.Name, s.Timeout)
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		r.ExitCode, r.Error = 127, err.Error()
	}
	return r
}
