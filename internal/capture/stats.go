package capture

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpscope/mcpscope/internal/bpf"
)

// Stats are the kernel's counters, summed over CPUs, and the reader's own.
type Stats struct {
	LostRecords  uint64 // data records the ring buffer had no room for
	LostBytes    uint64 // their payload bytes
	FaultBytes   uint64 // payload bytes that could not be read from the writer's memory
	TooLongBytes uint64 // bytes of single syscalls larger than one copy can reach
	IovLostBytes uint64 // bytes in iovecs past the vector limit
	// UncopiedBytes counts bytes that splice, tee, sendfile or sendmmsg moved into MCP streams: no hook can copy
	// them, so they are lost, and the messages they fall in are marked truncated.
	UncopiedBytes uint64
	BusyBytes     uint64 // TLS plaintext a uprobe_multi copy dropped: every scratch slot of its CPU was taken
	LostEvents    uint64 // reader/close/exit and footprint records the ring buffer had no room for
	FPLost        uint64 // footprint counter updates that found their map full
	// TLSUnreturned counts TLS calls whose return probe never ran (a skipped run): their bytes are lost, how many is
	// unknown, and their stream restarted (user space counts a restart and parses past the gap).
	TLSUnreturned uint64
	// TLSUnentered counts Go TLS calls of traced processes that moved bytes but whose entry was never seen (they
	// began before the probes were attached, or the entry's program did not run): lost. Where the thread's last
	// socket syscall names the connection (a call under way when the probes were attached does not), its stream
	// restarted, and user space marks the message they were part of truncated.
	TLSUnentered      uint64
	TLSUnenteredBytes uint64 // the bytes those calls moved
	// MapRefused counts calls (writes, reads, TLS calls) whose state the kernel refused to store at their entry: a
	// hash map update failed (on kernels with resilient spinlocks, 6.15+, a bucket lock held too long times out).
	// Their bytes are lost; a TLS stream restarts.
	MapRefused uint64
	Streams    uint64 // streams classified as MCP
	// EarlyBytes counts bytes of large pipe writes copied while the write waited for its reader, rather than at its
	// exit: the ring buffer then need not hold a whole write.
	EarlyBytes uint64
	Malformed  uint64 // records user space could not decode
	// SkippedRuns counts runs of mcpscope's programs the kernel skipped because a BPF program was already running
	// on that CPU (its recursion guard; Linux 5.12+ counts them). A skipped run may hide a read or write of an MCP
	// stream, so it is reported, never ignored.
	SkippedRuns uint64
	// SkippedBy is SkippedRuns by program name (only those with skips), to tell which hook lost what.
	SkippedBy map[string]uint64
}

// Undelivered is every payload byte the kernel saw written to an MCP stream but could not hand over.
func (s Stats) Undelivered() uint64 {
	return s.LostBytes + s.FaultBytes + s.TooLongBytes + s.IovLostBytes + s.BusyBytes + s.UncopiedBytes
}

// Stats reads the kernel's counters.
func (c *Capture) Stats() (Stats, error) {
	var s Stats
	vals := map[uint32]*uint64{
		bpf.StatLostRecords:       &s.LostRecords,
		bpf.StatLostBytes:         &s.LostBytes,
		bpf.StatFaultBytes:        &s.FaultBytes,
		bpf.StatTooLongBytes:      &s.TooLongBytes,
		bpf.StatIovLostBytes:      &s.IovLostBytes,
		bpf.StatBusyBytes:         &s.BusyBytes,
		bpf.StatLostEvents:        &s.LostEvents,
		bpf.StatFPLost:            &s.FPLost,
		bpf.StatTLSUnreturned:     &s.TLSUnreturned,
		bpf.StatTLSUnentered:      &s.TLSUnentered,
		bpf.StatTLSUnenteredBytes: &s.TLSUnenteredBytes,
		bpf.StatMapRefused:        &s.MapRefused,
		bpf.StatStreams:           &s.Streams,
		bpf.StatEarlyBytes:        &s.EarlyBytes,
		bpf.StatUncopiedBytes:     &s.UncopiedBytes,
	}
	for idx, dst := range vals {
		var perCPU []uint64
		if err := c.maps.Stats.Lookup(idx, &perCPU); err != nil {
			return s, fmt.Errorf("read kernel counter %d: %w", idx, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	s.Malformed = c.malformed.Load()
	for name, p := range c.coll.Programs {
		ps, err := p.Stats()
		if err != nil {
			return s, fmt.Errorf("read the run counters of %s: %w", name, err)
		}
		s.SkippedRuns += ps.RecursionMisses
		if ps.RecursionMisses > 0 {
			if s.SkippedBy == nil {
				s.SkippedBy = map[string]uint64{}
			}
			s.SkippedBy[name] = ps.RecursionMisses
		}
	}
	return s, nil
}

// SkippedLine is the line that reports the skipped runs (empty when none), as watch prints it and the capture tests
// repeat it when they fail: the kernel matrix's runner looks for its words to run a failed test again in a second
// boot (docs/kernel.md, "Skipped runs on preemptible kernels"). Worded without "already": watch's stderr has exactly
// one line with the word ready in it, and users grep for it.
func (s Stats) SkippedLine() string {
	if s.SkippedRuns == 0 {
		return ""
	}
	by := make([]string, 0, len(s.SkippedBy))
	for name, n := range s.SkippedBy {
		by = append(by, fmt.Sprintf("%s %d", name, n))
	}
	slices.Sort(by)
	return fmt.Sprintf("mcpscope: the kernel SKIPPED %d runs of mcpscope's programs (a preempted run of the program had not finished on that CPU: %s); records may be missing",
		s.SkippedRuns, strings.Join(by, ", "))
}

// Counters returns the counters by the names used in JSONL stats records (docs/jsonl.md).
func (s Stats) Counters() map[string]uint64 {
	return map[string]uint64{
		"kernel_lost_records":        s.LostRecords,
		"kernel_lost_bytes":          s.LostBytes,
		"kernel_fault_bytes":         s.FaultBytes,
		"kernel_too_long_bytes":      s.TooLongBytes,
		"kernel_iov_lost_bytes":      s.IovLostBytes,
		"kernel_uncopied_bytes":      s.UncopiedBytes,
		"kernel_busy_bytes":          s.BusyBytes,
		"kernel_lost_events":         s.LostEvents,
		"kernel_footprint_lost":      s.FPLost,
		"kernel_tls_unreturned":      s.TLSUnreturned,
		"kernel_tls_unentered":       s.TLSUnentered,
		"kernel_tls_unentered_bytes": s.TLSUnenteredBytes,
		"kernel_map_refused":         s.MapRefused,
		"kernel_streams":             s.Streams,
		"kernel_early_bytes":         s.EarlyBytes,
		"malformed_records":          s.Malformed,
		"kernel_skipped_runs":        s.SkippedRuns,
		"kernel_undelivered_bytes":   s.Undelivered(),
	}
}
