// Package bpf holds mcpscope's kernel programs (c/*.c) and their bpf2go-generated loaders: two objects (mcps, and
// mcpscompat for kernels before 5.13; see Spec), each per architecture (*_x86_bpfel.go/.o for amd64,
// *_arm64_bpfel.go/.o for arm64, chosen by build tags; the C differs only by __TARGET_ARCH_* and
// headers/vmlinux_<arch>.h, made from real kernels' BTF by headers/gen-vmlinux.sh). The generated files are committed
// so that `go build` needs only Go; `make generate` rebuilds them with clang. This file gives the generated,
// unexported names the exported spelling the rest of mcpscope uses.
package bpf

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

//go:generate go tool bpf2go -cc ${BPF_CLANG} -cflags ${BPF_CFLAGS} -target amd64,arm64 -type mcps_event_hdr -type mcps_stream_key -type mcps_stream -type mcps_stat -type mcps_event_kind -type mcps_stream_kind -type mcps_stream_state -type mcps_tcp_conn -type mcps_fp_rec -type mcps_fp_mark_dir -type mcps_fp_nr_space -type mcps_fp_sys_key -type mcps_fp_count -type mcps_fp_cpu_key -type mcps_fp_cpu -type mcps_fp_root -type mcps_fp_task mcps c/mcpscope.c -- -I./headers
//go:generate go tool bpf2go -cc ${BPF_CLANG} -cflags "${BPF_CFLAGS} -DMCPS_NO_ATOMIC_FETCH" -target amd64,arm64 mcpscompat c/mcpscope.c -- -I./headers

// Types shared with the kernel programs; see c/mcps.h for their meaning.
type (
	EventHdr  = mcpsMcpsEventHdr
	StreamKey = mcpsMcpsStreamKey
	Stream    = mcpsMcpsStream
	WriteArgs = mcpsMcpsWriteArgs
	TCPConn   = mcpsMcpsTcpConn
	FPRec     = mcpsMcpsFpRec
	FPSysKey  = mcpsMcpsFpSysKey
	FPCount   = mcpsMcpsFpCount
	FPCPUKey  = mcpsMcpsFpCpuKey
	FPCPU     = mcpsMcpsFpCpu
	FPRoot    = mcpsMcpsFpRoot
	FPTask    = mcpsMcpsFpTask
	TLSCall   = mcpsMcpsTlsCall
	GoCallKey = mcpsMcpsGoCallKey
	Objects   = mcpsObjects
	Programs  = mcpsPrograms
	Maps      = mcpsMaps
)

// Record kinds (enum mcps_event_kind).
const (
	EventData   = uint8(mcpsMcpsEventKindMCPS_EV_DATA)
	EventReader = uint8(mcpsMcpsEventKindMCPS_EV_READER)
	EventClose  = uint8(mcpsMcpsEventKindMCPS_EV_CLOSE)
	EventExit   = uint8(mcpsMcpsEventKindMCPS_EV_EXIT)
	EventTCP    = uint8(mcpsMcpsEventKindMCPS_EV_TCP)
	EventExec   = uint8(mcpsMcpsEventKindMCPS_EV_EXEC)
	// Footprint records (c/footprint.c), a struct mcps_fp_rec each.
	EventFPMark    = uint8(mcpsMcpsEventKindMCPS_EV_FP_MARK)
	EventFPFile    = uint8(mcpsMcpsEventKindMCPS_EV_FP_FILE)
	EventFPExec    = uint8(mcpsMcpsEventKindMCPS_EV_FP_EXEC)
	EventFPExit    = uint8(mcpsMcpsEventKindMCPS_EV_FP_EXIT)
	EventFPConnect = uint8(mcpsMcpsEventKindMCPS_EV_FP_CONNECT)
	EventFPListen  = uint8(mcpsMcpsEventKindMCPS_EV_FP_LISTEN)
	// A TLS probe hit (diagnosis only, VarDebugTLS): struct mcps_tls_hit in c/tls.c.
	EventTLSHit = uint8(mcpsMcpsEventKindMCPS_EV_TLS_HIT)
)

// Directions of footprint marks (enum mcps_fp_mark_dir).
const (
	FPMarkRead  = int64(mcpsMcpsFpMarkDirMCPS_FP_READ)
	FPMarkWrite = int64(mcpsMcpsFpMarkDirMCPS_FP_WRITE)
)

// FPNrCUDA is where the CUDA driver calls start among the footprint's syscall numbers (enum mcps_fp_nr_space).
const FPNrCUDA = int(mcpsMcpsFpNrSpaceMCPS_FP_NR_CUDA)

// FPData is the most path, argv or address bytes a footprint record carries (MCPS_FP_DATA in c/footprint.c).
const FPData = 512

// Stream kinds (enum mcps_stream_kind).
const (
	StreamPipe  = uint8(mcpsMcpsStreamKindMCPS_STREAM_PIPE)
	StreamUnix  = uint8(mcpsMcpsStreamKindMCPS_STREAM_UNIX)
	StreamTCPTx = uint8(mcpsMcpsStreamKindMCPS_STREAM_TCP_TX)
	StreamTCPRx = uint8(mcpsMcpsStreamKindMCPS_STREAM_TCP_RX)
	StreamTLSTx = uint8(mcpsMcpsStreamKindMCPS_STREAM_TLS_TX)
	StreamTLSRx = uint8(mcpsMcpsStreamKindMCPS_STREAM_TLS_RX)
)

// Stream states (enum mcps_stream_state).
const (
	StateCandidate  = uint32(mcpsMcpsStreamStateMCPS_STATE_CANDIDATE)
	StateMCP        = uint32(mcpsMcpsStreamStateMCPS_STATE_MCP)
	StateQuarantine = uint32(mcpsMcpsStreamStateMCPS_STATE_QUARANTINE)
)

// Counters of the mcps_stats map (enum mcps_stat), by index.
const (
	StatLostRecords       = uint32(mcpsMcpsStatMCPS_STAT_LOST_RECORDS)
	StatLostBytes         = uint32(mcpsMcpsStatMCPS_STAT_LOST_BYTES)
	StatFaultBytes        = uint32(mcpsMcpsStatMCPS_STAT_FAULT_BYTES)
	StatTooLongBytes      = uint32(mcpsMcpsStatMCPS_STAT_TOO_LONG_BYTES)
	StatLostEvents        = uint32(mcpsMcpsStatMCPS_STAT_LOST_EVENTS)
	StatStreams           = uint32(mcpsMcpsStatMCPS_STAT_STREAMS)
	StatIovLostBytes      = uint32(mcpsMcpsStatMCPS_STAT_IOV_LOST_BYTES)
	StatBusyBytes         = uint32(mcpsMcpsStatMCPS_STAT_BUSY_BYTES)
	StatFPLost            = uint32(mcpsMcpsStatMCPS_STAT_FP_LOST)
	StatTLSUnreturned     = uint32(mcpsMcpsStatMCPS_STAT_TLS_UNRETURNED)
	StatTLSUnentered      = uint32(mcpsMcpsStatMCPS_STAT_TLS_UNENTERED)
	StatMapRefused        = uint32(mcpsMcpsStatMCPS_STAT_MAP_REFUSED)
	StatTLSUnenteredBytes = uint32(mcpsMcpsStatMCPS_STAT_TLS_UNENTERED_BYTES)
	StatEarlyBytes        = uint32(mcpsMcpsStatMCPS_STAT_EARLY_BYTES)
	StatUncopiedBytes     = uint32(mcpsMcpsStatMCPS_STAT_UNCOPIED_BYTES)
	StatCount             = uint32(mcpsMcpsStatMCPS_STAT_MAX)
)

// tracepointSlots is MCPS_TP_SLOTS in c/mcps.h: scratch slots per CPU of the syscall tracepoint programs.
const tracepointSlots = 16

// tlsMultiSlots is MCPS_TLSM_SLOTS in c/mcps.h: scratch slots per CPU of the uprobe_multi TLS programs.
const tlsMultiSlots = 4

// ChunkSize is the most payload one data record carries (CHUNK_SIZE in c/mcps.h).
const ChunkSize = 32768

// Variables set before load (const volatile in c/mcps.h).
const (
	VarSelfTgid   = mcpsVarMcpsSelfTgid
	VarFilterOn   = mcpsVarMcpsFilterOn
	VarTaskBTF    = mcpsVarMcpsTaskBtf
	VarRdonlyCast = mcpsVarMcpsRdonlyCast
	VarPreempt    = mcpsVarMcpsPreemptKfuncs
	VarTCPOn      = mcpsVarMcpsTcpOn
	VarTLSOn      = mcpsVarMcpsTlsOn
	VarFPOn       = mcpsVarMcpsFpOn
	VarDebugTLS   = mcpsVarMcpsDebugTls
)

// Spec returns the main object, not yet loaded, with the per-CPU scratch maps sized for this machine. Kernels before
// 5.13 refuse it (it uses atomic fetch-and-add, 5.12, see reserve in c/mcps.h, and a bpf_for_each_map_elem callback,
// 5.13, in the --debug-events walk); they load CompatSpec.
func Spec() (*ebpf.CollectionSpec, error) { return specFrom(loadMcps) }

// CompatSpec returns the object for kernels without atomic fetch-and-add or callbacks. It loads on every supported
// kernel.
func CompatSpec() (*ebpf.CollectionSpec, error) { return specFrom(loadMcpscompat) }

// NeedsCompat tells whether err is a kernel's refusal of the main object for a feature it lacks and CompatSpec does
// without: atomic fetch-and-add ("BPF_STX uses reserved fields", Linux < 5.12) or a callback subprogram, which an
// older verifier does not count ("number of funcs in func_info doesn't match number of subprogs", < 5.13). Which of
// the two a kernel reports depends on the program it verifies first (a collection loads its programs in no set
// order), so both must send the load to CompatSpec. (A probe program with the instruction is no guide: Debian's
// 5.10 accepts atomic fetch-and-add in a socket filter and refuses it in mcpscope's programs.)
//
// KernelLacksMain answers before any load where the kernel can be asked: it is the usual way in, NeedsCompat the
// fallback for a kernel that has the helper and still refuses the object.
func NeedsCompat(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "BPF_STX uses reserved fields") ||
		strings.Contains(msg, "number of funcs in func_info doesn't match number of subprogs")
}

// KernelLacksMain tells whether the kernel lacks bpf_for_each_map_elem (Linux 5.13), which the main object calls
// and which came after atomic fetch-and-add (5.12), its other need: such a kernel refuses the main object, so
// CompatSpec is loaded without spending a second on verifying the main one first. It asks the kernel with
// cilium/ebpf's helper probe (a program that calls the helper), not an instruction probe, which a kernel can
// accept in one program type and refuse in mcpscope's (see NeedsCompat). A probe that cannot decide says false.
func KernelLacksMain() bool {
	return errors.Is(features.HaveProgramHelper(ebpf.TracePoint, asm.FnForEachMapElem), ebpf.ErrNotSupported)
}

func specFrom(load func() (*ebpf.CollectionSpec, error)) (*ebpf.CollectionSpec, error) {
	spec, err := load()
	if err != nil {
		return nil, err
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count possible CPUs: %w", err)
	}
	for name, m := range spec.Maps {
		switch {
		case name == mcpsMapMcpsScratch: // the syscall tracepoints' slots, one per program and CPU
			m.MaxEntries = uint32(cpus * tracepointSlots)
		case name == mcpsMapMcpsScratchTlsm || name == mcpsMapMcpsScratchTls: // the TLS programs' slots, taken by CAS
			m.MaxEntries = uint32(cpus * tlsMultiSlots)
		case name == mcpsMapMcpsTlsmBusy: // which of them are taken, by CPU
			m.MaxEntries = uint32(cpus)
		case strings.HasPrefix(name, mcpsMapMcpsScratch):
			m.MaxEntries = uint32(cpus)
		}
	}
	if err := spec.Variables[mcpsVarMcpsNcpu].Set(uint32(cpus)); err != nil {
		return nil, fmt.Errorf("set the CPU count: %w", err)
	}
	if err := spec.Variables[mcpsVarMcpsPageSize].Set(uint32(os.Getpagesize())); err != nil {
		return nil, fmt.Errorf("set the page size: %w", err)
	}
	return spec, nil
}
