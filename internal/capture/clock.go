package capture

import "golang.org/x/sys/unix"

// MonotonicNow is CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns, and so of Event.Time.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}
