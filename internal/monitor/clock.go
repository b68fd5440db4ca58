package monitor

import (
	"time"

	"github.com/mcpscope/mcpscope/internal/capture"
)

// ClockOffset returns what to add to a kernel timestamp to get Unix nanoseconds.
func ClockOffset() int64 {
	mono := capture.MonotonicNow()
	wall := time.Now().UnixNano()
	return wall - int64(mono)
}
