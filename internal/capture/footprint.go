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
// programs refer to them in code the verifier skips when mcps_fp_on is 0); empty, they are not allocated, and the
// preallocated counter maps are cut to one entry.
func dropFootprint(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, fpPrefix) {
			delete(spec.Programs, name)
		}
	}
	for _, name := range fpCounterMaps {
		spec.Maps[name].MaxEntries = 1
	}
}

// fpCounterMaps are the footprint maps the kernel preallocates (c/footprint.h).
var fpCounterMaps = []string{"mcps_fp_syscalls", "mcps_fp_cpus"}

// footprintMaps are the footprint maps user space reads and writes; nil when Config.Footprint is off.
type footprintMaps struct {
	Roots    *ebpf.Map `ebpf:"mcps_fp_roots"`
	Tasks    *ebpf.Map `ebpf:"mcps_fp_tasks"`
	Syscalls *ebpf.Map `ebpf:"mcps_fp_syscalls"`
	CPUs     *ebpf.Map `ebpf:"mcps_fp_cpus"`

	// keyByKey is set once the kernel refused a batch operation on the counter maps: they are then walked and
	// deleted one key at a time (two syscalls per entry instead of one per drainBatch entries).
	keyByKey bool

	// The buffers of DrainFootprint, kept between drains: under a flood of calls the monitor drains every 50 ms,
	// and a drain's fresh batch buffers alone were some 100 KB of garbage.
	sysBuf  drainBuffers[bpf.FPSysKey, bpf.FPCount]
	cpuBuf  drainBuffers[bpf.FPCPUKey, bpf.FPCPU]
	current map[uint32]uint64 // root -> its current epoch, during a drain
}

// drainBuffers hold what one counter map's drain reads (batch) and takes (keys, vals).
type drainBuffers[K, V any] struct {
	batchKeys []K
	batchVals []V
	keys      []K
	vals      []V
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
	if c.fp.current == nil {
		c.fp.current = map[uint32]uint64{}
	}
	current := c.fp.current
	clear(current)
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
	sk, sv, err := drainEnded(c.fp, c.fp.Syscalls, &c.fp.sysBuf, func(k bpf.FPSysKey) bool { return ended(k.Root, k.Epoch) })
	if err != nil {
		return nil, nil, fmt.Errorf("drain the footprint syscall counters: %w", err)
	}
	sys := make([]SyscallCount, len(sk))
	for i, k := range sk {
		sys[i] = SyscallCount{Root: int(k.Root), Pid: int(k.Tgid), Owner: int(k.Owner), Epoch: k.Epoch, Nr: int(k.Nr),
			Errno: int(k.Err), Count: sv[i].Count, Ns: sv[i].Ns}
	}
	ck, cv, err := drainEnded(c.fp, c.fp.CPUs, &c.fp.cpuBuf, func(k bpf.FPCPUKey) bool { return ended(k.Root, k.Epoch) })
	if err != nil {
		return nil, nil, fmt.Errorf("drain the footprint CPU counters: %w", err)
	}
	cpu := make([]CPUCount, len(ck))
	for i, k := range ck {
		cpu[i] = CPUCount{Root: int(k.Root), Pid: int(k.Tgid), Owner: int(k.Owner), Epoch: k.Epoch,
			UserNs: cv[i].UserNs, SysNs: cv[i].SysNs, RuntimeNs: cv[i].RuntimeNs}
	}
	return sys, cpu, nil
}

// drainBatch is how many entries one batch lookup reads. A hash bucket holding more than that would make the
// kernel refuse the batch (ENOSPC); buckets hold a few entries.
const drainBatch = 1024

// drainEnded takes out of counter map m the entries whose key has ended: read in batches of drainBatch (one
// syscall each; hash maps have batch operations since Linux 5.6), else key by key; deleted after the walk, in one
// batch, since deleting while walking a hash map can make the walk restart or skip. A counter incremented between
// the read and the delete loses that increment (the epoch has ended: only a thread still inside a syscall begun in
// it can). The keys and values returned are buf's: valid until the next drain of m.
func drainEnded[K comparable, V any](fp *footprintMaps, m *ebpf.Map, buf *drainBuffers[K, V], ended func(K) bool) ([]K, []V, error) {
	keys, vals := buf.keys[:0], buf.vals[:0]
	defer func() {
		buf.keys, buf.vals = keys[:0], vals[:0]
		if cap(keys) > 4*drainBatch { // a burst's: not kept
			buf.keys, buf.vals = nil, nil
		}
	}()
	batched := !fp.keyByKey
	if batched {
		var cursor ebpf.MapBatchCursor
		if buf.batchKeys == nil {
			buf.batchKeys, buf.batchVals = make([]K, drainBatch), make([]V, drainBatch)
		}
		ks, vs := buf.batchKeys, buf.batchVals
		for {
			n, err := m.BatchLookup(&cursor, ks, vs, nil)
			for i := range n {
				if ended(ks[i]) {
					keys, vals = append(keys, ks[i]), append(vals, vs[i])
				}
			}
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			if errors.Is(err, ebpf.ErrNotSupported) {
				fp.keyByKey, batched = true, false
				keys, vals = keys[:0], vals[:0]
				break
			}
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if !batched {
		var k K
		var v V
		it := m.Iterate()
		for it.Next(&k, &v) {
			if ended(k) {
				keys, vals = append(keys, k), append(vals, v)
			}
		}
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
	}
	done := 0
	if batched && len(keys) > 0 {
		done, _ = m.BatchDelete(keys, nil) // stops at a key gone meanwhile: the rest one by one
	}
	for _, k := range keys[done:] {
		_ = m.Delete(k)
	}
	return keys, vals, nil
}

// Footprints reports whether the capture records footprints (Config.Footprint).
func (c *Capture) Footprints() bool { return c.fp != nil }
