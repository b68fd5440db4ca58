package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// init keeps the main goroutine on the leader thread from the start, for helperExecFromThread: locking it later, in
// the helper, is too late when the runtime has already moved it (seen under emulation, where it often does).
func init() {
	if os.Getenv(helperEnv) == "exec-from-thread" {
		runtime.LockOSThread()
	}
}

// helperExecFromThread waits for a byte on stdin, then execs the write-stdout helper from a thread that is not the
// process's group leader, as Go programs may: the kernel then retires the old leader (tid == tgid) in de_thread while
// the process lives on.
func helperExecFromThread() int {
	runtime.LockOSThread() // keep the main goroutine, and so every other one, off the leader thread
	if unix.Gettid() != unix.Getpid() {
		return fail(errors.New("the main goroutine is not on the leader thread"))
	}
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			errc <- errors.New("exec goroutine landed on the leader thread")
			return
		}
		// syscall.Exec keeps duplicate variables and the first wins: replace ours.
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") {
				env = append(env, kv)
			}
		}
		errc <- syscall.Exec(self, []string{self}, append(env, helperEnv+"=write-stdout"))
	}()
	return fail(fmt.Errorf("exec: %w", <-errc))
}

// TestTracedProcessExecsFromThread: in filter mode, a traced process that execs from a non-leader thread stays traced
// (the exit of its old leader is not its end), so what the new program writes is captured.
func TestTracedProcessExecsFromThread(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{Filter: true, RingBufferBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cmd := helperCommand("exec-from-thread")
	gate, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe() // the test reads the messages; the helper (its child image) writes them
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPid(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	if _, err := gate.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	got := runAndCollect(t, c, cmd.Wait)
	want := bytes.Join(testMessages(), nil)
	for k, chunks := range got.data {
		if b := concat(chunks); bytes.Equal(b, want) {
			t.Logf("stream %v carried all %d bytes", k, len(b))
			return
		}
	}
	t.Fatalf("the messages written after the exec were not captured (%d streams seen)", len(got.data))
}
