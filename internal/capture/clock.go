package capture

import (
	"time"

	"golang.org/x/sys/unix"
)

// MonotonicNow is CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns, and so of Event.Time. It is a real
// clock_gettime syscall (golang.org/x/sys/unix has no vDSO path); what reads the clock often uses a monoClock.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}

// monoClock reads CLOCK_MONOTONIC through Go's monotonic clock, which is CLOCK_MONOTONIC read through the vDSO: the
// reader takes the time before every read of the ring, and as a syscall that was 10 % of the monitor's CPU under a
// stdio ping-pong on a VM with slow syscalls.
type monoClock struct {
	base time.Time // holds Go's monotonic reading
	mono uint64    // CLOCK_MONOTONIC, read just before base
}

// newMonoClock reads CLOCK_MONOTONIC before Go's clock, so that at never runs ahead of the kernel's clock (by the
// syscall's latency, it lags): a watermark must not claim a time whose records may not have been read yet.
func newMonoClock() monoClock {
	mono := MonotonicNow()
	return monoClock{base: time.Now(), mono: mono}
}

// at returns CLOCK_MONOTONIC at t, a time.Time read after newMonoClock (it carries Go's monotonic reading).
func (c monoClock) at(t time.Time) uint64 { return c.mono + uint64(t.Sub(c.base)) }
