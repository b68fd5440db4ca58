package footprint

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

//go:generate go run ./internal/gensysnames

// SyscallName returns the kernel's name of syscall nr ("openat", "read") on the architecture the binary was built
// for, or "syscall_<nr>" for a number without one, so that in-kernel counters, which key syscalls by number, can
// be shown by name. The numbers are those of the native 64-bit ABI: on a 64-bit kernel a 32-bit (compat) task
// calls through another table, and its numbers would be named wrongly here.
func SyscallName(nr int) string {
	if nr >= 0 && nr < len(sysNames) && sysNames[nr] != "" {
		return sysNames[nr]
	}
	return "syscall_" + strconv.Itoa(nr)
}

// ErrnoName returns the symbolic name of a positive errno ("ENOENT" for 2), or "errno_<errno>" for one without a
// name, so that failure counters keyed by errno read as the C headers spell them. Kernel return values are the
// negated errno: negate them first.
func ErrnoName(errno int) string {
	if errno > 0 {
		if name := unix.ErrnoName(syscall.Errno(errno)); name != "" {
			return name
		}
	}
	return "errno_" + strconv.Itoa(errno)
}
