package capture

import (
	"testing"
	"time"
)

// TestMonoClock checks that the vDSO clock reads CLOCK_MONOTONIC, never ahead of it and at most a syscall's latency
// behind, across a sleep.
func TestMonoClock(t *testing.T) {
	c := newMonoClock()
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		before := MonotonicNow()
		got := c.at(time.Now())
		after := MonotonicNow()
		if got > after {
			t.Fatalf("monoClock.at(time.Now()) = %d runs ahead of CLOCK_MONOTONIC (%d)", got, after)
		}
		// The lag is the latency of one clock_gettime at newMonoClock; a millisecond is far above it.
		if got+uint64(time.Millisecond) < before {
			t.Fatalf("monoClock.at(time.Now()) = %d lags CLOCK_MONOTONIC (%d) by %v", got, before, time.Duration(before-got))
		}
	}
}
