package monitor

import (
	"time"

	"golang.org/x/sys/unix"
)

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of bpf_ktime_get_ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}

// ClockOffset returns what to add to a kernel timestamp to get Unix nanoseconds.
func ClockOffset() int64 {
	mono := monotonicNow()
	wall := time.Now().UnixNano()
	return wall - int64(mono)
}
