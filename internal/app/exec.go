package app

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// execHelper is the hidden first argument with which mcpscope re-executes itself to start `watch -- COMMAND`: the
// helper waits until the monitor has put its pid under watch, then becomes COMMAND.
const execHelper = "__mcpscope-exec"

func runExecHelper(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "mcpscope: internal exec helper called without a command")
		return 127
	}
	gate := os.NewFile(3, "gate")
	if ready := os.NewFile(4, "ready"); ready != nil {
		_, _ = ready.Write([]byte{1})
		ready.Close()
	}
	var b [1]byte
	if n, _ := gate.Read(b[:]); n != 1 {
		return 127 // the monitor gave up before releasing us
	}
	gate.Close()
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mcpscope: cannot run %s: %v\n", args[0], err)
		return 127
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintf(os.Stderr, "mcpscope: exec %s: %v\n", path, err)
	return 126
}
