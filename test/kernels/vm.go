package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// vm is one boot of a kernel under qemu.
type vm struct {
	kernel  unpacked
	initrd  string
	share   string // host directory shared writable at the same path in the guest
	memMiB  int
	cpus    int
	timeout time.Duration
}

// errNoResult says the guest ended without reporting: it did not boot, crashed, or hit the timeout.
var errNoResult = errors.New("the guest ended without reporting a result")

// run boots the guest and waits until it powers off or the timeout kills it. The serial console goes to
// share/console.log.
//
// Acceleration is qemu's software emulation (TCG) on one host thread, whatever the host offers: /dev/kvm on our
// machines is a nested hypervisor that cannot run stock kernels, and multi-threaded TCG crashed about one boot in
// eight on 6.12 while BPF attach patched kernel text (single-threaded TCG had no failure in 38 boots and was not
// slower). The guest still has two vCPUs, so per-CPU maps and concurrent writers are exercised.
func (v vm) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	console := filepath.Join(v.share, "console.log")
	args := []string{
		"-accel", "tcg,thread=single", "-cpu", "max",
		"-m", fmt.Sprint(v.memMiB), "-smp", fmt.Sprint(v.cpus),
		"-nic", "none", "-no-reboot", "-nodefaults",
		"-display", "none", "-monitor", "none", "-serial", "file:" + console,
		"-kernel", v.kernel.vmlinuz(), "-initrd", v.initrd,
		"-append", "console=ttyS0 panic=-1 oops=panic mcpscope.share=" + v.share,
		"-device", "virtio-rng-pci",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + v.share + ",mount_tag=share,security_model=none,multidevs=remap",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: killed after the timeout of %v (raise it with -timeout)", errNoResult, v.timeout)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("qemu: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// consoleTail returns the last n lines of the guest's console, for error messages.
func consoleTail(share string, n int) string {
	b, err := os.ReadFile(filepath.Join(share, "console.log"))
	if err != nil {
		return "(no console output: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
