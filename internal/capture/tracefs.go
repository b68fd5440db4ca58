package capture

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// TracefsPath is where tracefs is mounted when mcpscope mounts it itself.
const TracefsPath = "/sys/kernel/tracing"

// EnsureTracefs makes sure tracefs is mounted: syscall tracepoints are attached by the ids tracefs lists. Many
// minimal hosts and VMs boot without it mounted although the kernel supports it; then mcpscope mounts it (as perf and
// bpftrace users would by hand) and says so. It returns whether it mounted it.
func EnsureTracefs() (mounted bool, err error) {
	if tracefsMounted() {
		return false, nil
	}
	if err := unix.Mount("nodev", TracefsPath, "tracefs", 0, ""); err != nil {
		if errors.Is(err, unix.EPERM) {
			return false, fmt.Errorf("tracefs is not mounted and mounting it at %s was refused (needs CAP_SYS_ADMIN): mount it with `mount -t tracefs nodev %s`: %w", TracefsPath, TracefsPath, err)
		}
		return false, fmt.Errorf("tracefs is not mounted and mounting it at %s failed: %w", TracefsPath, err)
	}
	return true, nil
}

// tracefsMounted reads the mount table rather than probing the directory, which only root may list.
func tracefsMounted() bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && (f[2] == "tracefs" || f[2] == "debugfs" && f[1] == "/sys/kernel/debug") {
			return true
		}
	}
	return false
}
