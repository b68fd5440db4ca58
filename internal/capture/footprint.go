package capture

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/mcpscope/mcpscope/internal/bpf"
)

// Footprints (c/footprint.c): the kernel counts what the process trees of footprint roots (MCP servers) do, per
// epoch of the root, and reports epoch boundaries and notable syscalls as KindFP* records. The counters stay in maps
// until DrainFootprint takes those of ended epochs.

// fpPrefix names the footprint programs, dropped when Config.Footprint is off.
const fpPrefix = "mcps_fp_"

// dropFootprint removes the footprint programs from spec: off, they cost nothing. Their maps stay (the stdio
// programs refer to them in code the verifier skips when mcps_fp_on is 0); empty, they are not allocated.
func dropFootprint(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, fpPrefix) {
			delete(spec.Programs, name)
		}
	}
}

// footprintMaps are the footprint maps user space reads and writes; nil when Config.Footprint is off.
type footprintMaps struct {
	Roots    *ebpf.Map `ebpf:"mcps_fp_roots"`
	Tasks    *ebpf.Map `ebpf:"mcps_fp_tasks"`
	Syscalls *ebpf.Map `ebpf:"mcps_fp_syscalls"`
	CPUs     *ebpf.Map `ebpf:"mcps_fp_cpus"`
}

func (m *footprintMaps) close() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, mp := range []*ebpf.Map{m.Roots, m.Tasks, m.Syscalls, m.CPUs} {
		if mp != nil {
			errs = append(errs, mp.Close())
		}
	}
	return errors.Join(errs...)
}

// errNoFootprint is returned by the footprint methods of a Capture opened without Config.Footprint.
var errNoFootprint = errors.New("footprints are off (capture opened without Config.Footprint)")

// AddFootprintRoot starts recording the footprint of pid's process tree: pid, the given members (its descendants
// that already run, found by the caller) that are in no tree yet, and from now on every process forked under them.
// Its epoch starts at 0. A pid that is a root already is left as it is.
func (c *Capture) AddFootprintRoot(pid int, members ...int) error {
	if c.fp == nil {
		return errNoFootprint
	}
	err := c.fp.Roots.Update(uint32(pid), bpf.FPRoot{}, ebpf.UpdateNoExist)
	if errors.Is(err, ebpf.ErrKeyExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record the footprint of pid %d: %w", pid, err)
	}
	// The root leaves any tree it was in (a server started by another root); its members join only if they are in
	// none, so that no root is ever taken into another's tree.
	if err := c.fp.Tasks.Update(uint32(pid), bpf.FPTask{Root: uint32(pid)}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("record the footprint of pid %d: %w", pid, err)
	}
	for _, p := range members {
		err := c.fp.Tasks.Update(uint32(p), bpf.FPTask{Root: uint32(pid)}, ebpf.UpdateNoExist)
		if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("record the footprint of pid %d (tree of %d): %w", p, pid, err)
		}
	}
	return nil
}

// RemoveFootprintRoot stops recording pid's tree as a tree of its own: its epochs all count as ended, so that
// DrainFootprint takes their counters. Its processes stay members until they exit (their counts then go to an
// ended epoch, drained too).
func (c *Capture) RemoveFootprintRoot(pid int) error {
	if c.fp == nil {
		return errNoFootprint
	}
	if err := c.fp.Roots.Delete(uint32(pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("stop the footprint of pid %d: %w", pid, err)
	}
	return nil
}

// ForgetFootprintRoot undoes a root made by mistake (the kernel makes the reader of an HTTP/2 preface a root, and the
// connection may turn out not to be MCP): pid is no longer a root, nor a member of any tree. Processes it started
// since stay members until they exit, their counts going to ended epochs.
func (c *Capture) ForgetFootprintRoot(pid int) error {
	if err := c.RemoveFootprintRoot(pid); err != nil {
		return err
	}
	var task bpf.FPTask
	if err := c.fp.Tasks.Lookup(uint32(pid), &task); err != nil || task.Root != uint32(pid) {
		return nil
	}
	if err := c.fp.Tasks.Delete(uint32(pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("stop the footprint of pid %d: %w", pid, err)
	}
	return nil
}

// SyscallCount is what the kernel counted of one syscall (by number) of one process in one epoch of its tree,
// split by result: Errno 0 for successes, else the errno of the failures counted, and by Owner (Footprint.Owner).
type SyscallCount struct {
	Root, Pid int
	Owner     int
	Epoch     uint64
	Nr        int
	Errno     int
	Count, Ns uint64 // calls, and nanoseconds spent inside them
}

// CPUCount is the CPU time one process of a tree used in one epoch for one Owner (Footprint.Owner): utime and stime
// as the kernel samples them (at the tick) and its exact run time.
type CPUCount struct {
	Root, Pid                int
	Owner                    int
	Epoch                    uint64
	UserNs, SysNs, RuntimeNs uint64
}

// DrainFootprint takes the counters of every epoch that has ended (the root's current epoch is greater, or the
// root is gone) out of the kernel's maps. Counters of current epochs stay until they end, so a call's counters are
// complete once its epochs have ended.
func (c *Capture) DrainFootprint() ([]SyscallCount, []CPUCount, error) {
	if c.fp == nil {
		return nil, nil, errNoFootprint
	}
	current := map[uint32]uint64{}
	ended := func(root uint32, epoch uint64) bool {
		cur, ok := current[root]
		if !ok {
			var r bpf.FPRoot
			if err := c.fp.Roots.Lookup(root, &r); err != nil {
				cur = ^uint64(0) // the root is gone: every epoch has ended
			} else {
				cur = r.Epoch
			}
			current[root] = cur
		}
		return epoch < cur
	}
	var sys []SyscallCount
	var sk bpf.FPSysKey
	var sv bpf.FPCount
	var sysDone []bpf.FPSysKey
	it := c.fp.Syscalls.Iterate()
	for it.Next(&sk, &sv) {
		if !ended(sk.Root, sk.Epoch) {
			continue
		}
		sys = append(sys, SyscallCount{Root: int(sk.Root), Pid: int(sk.Tgid), Owner: int(sk.Owner), Epoch: sk.Epoch, Nr: int(sk.Nr),
			Errno: int(sk.Err), Count: sv.Count, Ns: sv.Ns})
		sysDone = append(sysDone, sk)
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the footprint syscall counters: %w", err)
	}
	var cpu []CPUCount
	var ck bpf.FPCPUKey
	var cv bpf.FPCPU
	var cpuDone []bpf.FPCPUKey
	it = c.fp.CPUs.Iterate()
	for it.Next(&ck, &cv) {
		if !ended(ck.Root, ck.Epoch) {
			continue
		}
		cpu = append(cpu, CPUCount{Root: int(ck.Root), Pid: int(ck.Tgid), Owner: int(ck.Owner), Epoch: ck.Epoch, UserNs: cv.UserNs,
			SysNs: cv.SysNs, RuntimeNs: cv.RuntimeNs})
		cpuDone = append(cpuDone, ck)
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the footprint CPU counters: %w", err)
	}
	// Deleted after the walks: deleting while iterating a hash map can make the walk restart or skip.
	for _, k := range sysDone {
		_ = c.fp.Syscalls.Delete(k)
	}
	for _, k := range cpuDone {
		_ = c.fp.CPUs.Delete(k)
	}
	return sys, cpu, nil
}

// Footprints reports whether the capture records footprints (Config.Footprint).
func (c *Capture) Footprints() bool { return c.fp != nil }
