package capture

import (
	"strings"
	"testing"
)

// TestSkippedLine checks the line watch prints about skipped runs: none without skips; with them, the words the
// kernel matrix's runner looks for (skipMarker in test/kernels), the programs in name order, and never the word
// ready, which stderr holds exactly once.
func TestSkippedLine(t *testing.T) {
	if got := (Stats{}).SkippedLine(); got != "" {
		t.Errorf("no skips: %q, want nothing", got)
	}
	got := Stats{SkippedRuns: 5, SkippedBy: map[string]uint64{"mcps_fp_sys_exit": 3, "mcps_fentry_vfs_read": 2}}.SkippedLine()
	want := "mcpscope: the kernel SKIPPED 5 runs of mcpscope's programs (a preempted run of the program had not finished " +
		"on that CPU: mcps_fentry_vfs_read 2, mcps_fp_sys_exit 3); records may be missing"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if strings.Contains(strings.ToLower(got), "ready") {
		t.Errorf("%q has the word ready", got)
	}
}
