package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Config selects what the kernel programs capture.
type Config struct {
	// Filter limits capture to traced processes (see AddPid, AddComm) and their descendants, plus the streams they
	// read. Without it every process on the host is watched.
	Filter bool
	// RingBufferBytes is the size of the ring buffer shared by all CPUs: a power of two, at least one page.
	// Zero means 16 MiB. A large write to a pipe is copied while it waits for its reader, so the ring need not hold
	// it whole (early_copy in c/stdio.c); a large single write to a TCP or TLS stream is copied at once at its end.
	RingBufferBytes int
	// QueueLen is how many records the reader may hand over before it blocks (default 256). The ring buffer is the
	// real buffer; a long queue of 32 KiB records would only add to the monitor's memory.
	QueueLen int
	// TCP also captures TCP sockets that carry HTTP with MCP, both directions (c/tcp.h). Off, the programs for the
	// exits of reads are not even loaded.
	TCP bool
	// TLS (with TCP) also loads the uprobe programs for TLS plaintext (c/tls.c); AttachTLS attaches them to a
	// library or program. Off, the syscall hooks skip the lookup that joins SSL objects to their sockets.
	TLS bool
	// Hooks selects fentry/fexit or syscall tracepoints for the stdio programs (default: the cheapest that attaches).
	Hooks Hooks
	// Footprint loads the footprint programs (c/footprint.c): the syscalls, files, programs, connections and CPU of
	// the process trees of roots given to AddFootprintRoot, counted per epoch of the root. Off, they are not loaded.
	Footprint bool
	// Portable turns off every optional fast path, so the programs take the code paths of the oldest supported
	// kernel: syscall tracepoints, CO-RE reads, the object without atomic fetch-and-add, and one perf-event uprobe per
	// TLS probe instead of uprobe_multi links. (Copies still run with preemption off where the kernel allows it: that
	// is what keeps the compat object's one scratch slot per CPU whole on a preemptible kernel.) Tests use it to check that all paths capture the same records;
	// benchmarks, to compare their cost.
	Portable bool
	// DebugTLS reports every hit of a TLS probe (KindTLSHit), to trace bytes the kernel never numbered to the call
	// that moved them (watch --debug-events). It costs a record per TLS call: diagnosis only.
	DebugTLS bool
}

// pollInterval is how often the reader looks at the ring buffer when the kernel has not woken it, while records
// come. Each look wakes the reader and hands what it found to the monitor, a few trips through the runtime's
// scheduler whatever the number of records: polling every 20 ms instead of every 5 cost the watch a third less CPU
// per message under a ping-pong session (docs/benchmarks.md). Records carry the kernel's time, so no latency
// changes; a message shows up to 20 ms later on the console.
const pollInterval = 20 * time.Millisecond

// After idlePolls polls in a row found nothing (a second), the reader polls less and less often, down to once per
// idlePollInterval: polling every 5 ms cost an idle watch 2,800 context switches and a tenth of a CPU per second
// here (docs/benchmarks.md, "an idle watch"). The first record after a quiet spell then waits up to that long to be
// read; its time is the kernel's, so no latency it reports changes. A draining reader polls fast again.
const (
	idlePolls        = 50
	idlePollInterval = 100 * time.Millisecond
)

// busyWait is how long the reader waits when the next record in the ring is still being written.
const busyWait = 50 * time.Microsecond

// Capture owns the loaded programs, their links and the ring-buffer reader.
type Capture struct {
	coll   *ebpf.Collection
	maps   captureMaps
	fp     *footprintMaps // nil unless Config.Footprint
	links  []link.Link
	filter bool // Config.Filter
	// tlsLinks are the uprobes of AttachTLS; tlsDetached is closed once they are detached (see detach).
	tlsMu       sync.Mutex // AttachTLS may run beside Run
	tlsLinks    []link.Link
	tlsDetached chan struct{}
	cudaFiles   map[[2]uint64]bool // libraries AttachCUDA probed, by device and inode
	ring        *ring
	events      chan *Event
	free        chan *Event
	execs       chan int // KindExec records' pids, for the TLS prober (see Execs)

	malformed atomic.Uint64 // records the decoder rejected
	fast      FastPaths
}

// Open loads and attaches every program. The returned Capture must be closed.
func Open(cfg Config) (*Capture, error) {
	if _, err := EnsureTracefs(); err != nil {
		return nil, err
	}
	// The kernel's BTF is decoded once for every load below and dropped with the cache when Open returns: each
	// decode (the helper checks, each program set tried) cost 8 MB of heap, more than the monitor keeps at run time.
	kernel := btf.NewCache()
	if _, err := kernel.Kernel(); err != nil {
		return nil, fmt.Errorf("this kernel has no BTF type information (%w): mcpscope needs a kernel built with "+
			"CONFIG_DEBUG_INFO_BTF=y, as every major distribution has shipped since 2021 (Debian 11, Ubuntu 20.10, "+
			"Fedora 33, RHEL 8.2): upgrade the kernel package, or rebuild the kernel with that option", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("lift the memlock limit for BPF maps: %w", err)
	}
	specs := []struct {
		load   func() (*ebpf.CollectionSpec, error)
		compat bool
	}{{bpf.Spec, false}, {bpf.CompatSpec, true}}
	if cfg.Portable || bpf.KernelLacksMain() {
		specs = specs[1:]
	}
	if cfg.RingBufferBytes == 0 {
		cfg.RingBufferBytes = 16 << 20
	}
	if n := cfg.RingBufferBytes; n < os.Getpagesize() || n&(n-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", n, os.Getpagesize())
	}
	c := &Capture{filter: cfg.Filter}
	for i, obj := range specs {
		spec, err := obj.load()
		if err != nil {
			return nil, fmt.Errorf("read the compiled BPF programs: %w", err)
		}
		if err := configure(spec, cfg); err != nil {
			return nil, err
		}
		c.coll, c.links, c.fast, err = loadAndAttach(spec, cfg, kernel)
		if err == nil {
			c.fast.Compat = obj.compat
			break
		}
		if !bpf.NeedsCompat(err) || i == len(specs)-1 {
			return nil, err
		}
	}
	c.fast.UprobeMulti = c.coll.Programs[tlsMultiEnterProg] != nil
	if err := c.coll.Assign(&c.maps); err != nil {
		c.Close()
		return nil, fmt.Errorf("find BPF maps: %w", err)
	}
	if cfg.Footprint {
		c.fp = &footprintMaps{}
		if err := c.coll.Assign(c.fp); err != nil {
			c.fp = nil
			c.Close()
			return nil, fmt.Errorf("find the footprint maps: %w", err)
		}
	}
	var err error
	c.ring, err = openRing(c.maps.Events.FD(), int(c.maps.Events.MaxEntries()))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open the ring buffer: %w", err)
	}
	q := cfg.QueueLen
	if q <= 0 {
		q = 256
	}
	c.events = make(chan *Event, q)
	c.free = make(chan *Event, q+16)
	c.execs = make(chan int, 256)
	return c, nil
}

// configure sets the ring buffer size and the variables the programs read.
func configure(spec *ebpf.CollectionSpec, cfg Config) error {
	spec.Maps["mcps_events"].MaxEntries = uint32(cfg.RingBufferBytes)
	if err := spec.Variables[bpf.VarSelfTgid].Set(uint32(os.Getpid())); err != nil {
		return fmt.Errorf("set self tgid: %w", err)
	}
	if err := spec.Variables[bpf.VarFilterOn].Set(boolByte(cfg.Filter)); err != nil {
		return fmt.Errorf("set filter: %w", err)
	}
	if err := spec.Variables[bpf.VarTCPOn].Set(boolByte(cfg.TCP)); err != nil {
		return fmt.Errorf("set tcp: %w", err)
	}
	if err := spec.Variables[bpf.VarTLSOn].Set(boolByte(cfg.TCP && cfg.TLS)); err != nil {
		return fmt.Errorf("set tls: %w", err)
	}
	if err := spec.Variables[bpf.VarDebugTLS].Set(boolByte(cfg.DebugTLS)); err != nil {
		return fmt.Errorf("set tls diagnosis: %w", err)
	}
	if !cfg.TCP {
		dropTCPOnly(spec)
	}
	if err := spec.Variables[bpf.VarFPOn].Set(boolByte(cfg.Footprint)); err != nil {
		return fmt.Errorf("set footprint: %w", err)
	}
	if !cfg.Footprint {
		dropFootprint(spec)
	} else {
		keepCUDAProbeKind(spec, !cfg.Portable && features.HaveBPFLinkUprobeMulti() == nil)
	}
	if !cfg.TCP || !cfg.TLS {
		dropTLS(spec)
	} else {
		keepTLSProbeKind(spec, !cfg.Portable && features.HaveBPFLinkUprobeMulti() == nil)
	}
	return nil
}

// FastPaths reports which optional fast paths the loaded programs use.
func (c *Capture) FastPaths() FastPaths { return c.fast }

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Run reads the ring buffer until ctx is done, then drains what the kernel had already delivered, closes the channel
// returned by Events and returns. It blocks when the next stage is slow (the kernel then counts what it cannot
// deliver); it never drops a record itself.
func (c *Capture) Run(ctx context.Context) error {
	defer close(c.events)
	// The kernel wakes the reader only when much is waiting (WAKEUP_BYTES in c/mcps.h); otherwise the reader polls,
	// so a busy session costs one wakeup per batch rather than per message. The short wait is that poll.
	// Once ctx is done the programs are detached, so nothing new arrives however busy the host is, and the first
	// wait that times out on an empty ring after that is the drain.
	draining := false
	clock := newMonoClock()
	interval, empty := pollInterval, 0
	for {
		if !draining && ctx.Err() != nil {
			c.detach()
			draining = true
			interval = pollInterval
		}
		first, second, ok, err := c.ring.next()
		if err != nil {
			if errors.Is(err, errRingClosed) {
				return nil
			}
			return fmt.Errorf("read the ring buffer: %w", err)
		}
		if !ok {
			if c.ring.pending() {
				// A record reserved and not committed yet: its program is still copying, perhaps preempted on this
				// CPU by this very thread. Polling would return at once (the ring holds data), so give the CPU
				// back instead of spinning.
				time.Sleep(busyWait)
				continue
			}
			// The watermark's time is read before the wait and the look that follows it: every record the kernel
			// dated before it and committed by then is read first.
			now := time.Now() // one clock read dates the poll and sets its deadline
			began := clock.at(now)
			err := c.ring.wait(now.Add(interval))
			if err == nil || c.ring.pending() {
				continue
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			if draining {
				return nil
			}
			mark := c.get(0)
			*mark = Event{Kind: KindWatermark, Time: began, buf: mark.buf[:0]}
			c.events <- mark
			if empty++; empty >= idlePolls {
				interval = min(2*interval, idlePollInterval)
			}
			continue
		}
		interval, empty = pollInterval, 0
		e := c.get(len(first) + len(second))
		e.buf = append(append(e.buf[:0], first...), second...)
		c.ring.advance()
		if err := decode(e.buf, e); err != nil {
			c.malformed.Add(1)
			c.Release(e)
			continue
		}
		if e.Kind == KindExec {
			select {
			case c.execs <- e.Pid:
			default: // the prober is behind: its periodic rescan finds the process
			}
			c.Release(e)
			continue
		}
		c.events <- e
	}
}

// Events delivers records in ring-buffer order. Hand each back with Release once done with its Data.
func (c *Capture) Events() <-chan *Event { return c.events }

// Release returns an event's buffer for reuse.
func (c *Capture) Release(e *Event) {
	if cap(e.buf) > 1<<16 {
		e.buf = nil // keep the pool small
	}
	select {
	case c.free <- e:
	default:
	}
}

func (c *Capture) get(n int) *Event {
	select {
	case e := <-c.free:
		if cap(e.buf) < n {
			e.buf = make([]byte, 0, n)
		}
		return e
	default:
		return &Event{buf: make([]byte, 0, max(n, 512))}
	}
}

// detach closes every link: the programs stop firing.
//
// The links are closed concurrently: detaching a syscall tracepoint waits for an RCU grace period (on recent kernels
// a tasks-trace one, since those tracepoints may fault), and one after another 22 of them took 1.7 s on a loaded
// 2-CPU machine, most of the 5 s watch has to exit.
//
// The TLS uprobes are switched off (mcps_tls_stopped) rather than waited for: detaching a uprobe waits for the
// kernel's slowest grace periods, over a second on a loaded machine. They are detached in the background; Close
// waits for that.
func (c *Capture) detach() {
	if stopped := c.coll.Maps["mcps_tls_stopped"]; stopped != nil {
		_ = stopped.Update(uint32(0), uint32(1), ebpf.UpdateAny)
	}
	var wg sync.WaitGroup
	for _, l := range c.links {
		wg.Go(func() { l.Close() })
	}
	wg.Wait()
	c.links = nil
	// Only now: a uprobe detaching holds locks that detaching a tracepoint needs too, for its whole grace period.
	c.tlsMu.Lock()
	defer c.tlsMu.Unlock()
	if c.tlsDetached == nil {
		tls := c.tlsLinks
		c.tlsLinks = nil
		c.tlsDetached = make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			for _, l := range tls {
				wg.Go(func() { l.Close() })
			}
			wg.Wait()
			close(c.tlsDetached)
		}()
	}
}

// Close detaches every program and frees the maps.
func (c *Capture) Close() error {
	var errs []error
	if c.ring != nil {
		errs = append(errs, c.ring.close())
	}
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.tlsMu.Lock()
	for _, l := range c.tlsLinks {
		errs = append(errs, l.Close())
	}
	c.tlsLinks = nil
	detached := c.tlsDetached
	c.tlsMu.Unlock()
	if detached != nil {
		<-detached
	}
	errs = append(errs, c.maps.close(), c.fp.close())
	if c.coll != nil {
		c.coll.Close()
	}
	return errors.Join(errs...)
}

// AddPid traces a process and, from now on, its descendants (filter mode).
func (c *Capture) AddPid(pid int) error {
	if err := c.maps.Traced.Update(uint32(pid), uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, err)
	}
	return nil
}

// Execs reports the pids of processes of interest that exec'd, with TLS on: a new program may have TLS of its own to
// probe. It is never closed; a pid is dropped when nobody has taken the last 256.
func (c *Capture) Execs() <-chan int { return c.execs }

// Traces reports whether capture follows the process: every process, or in filter mode the traced ones (and those
// whose command name AddComm gave once they exec).
func (c *Capture) Traces(pid int) bool {
	if !c.filter {
		return true
	}
	var v uint8
	return c.maps.Traced.Lookup(uint32(pid), &v) == nil
}

// AddComm traces processes that exec with this command name (filter mode). Names longer than 15 bytes are cut, as
// the kernel cuts them.
func (c *Capture) AddComm(comm string) error {
	var key [16]byte
	copy(key[:15], comm)
	if err := c.maps.TracedComms.Update(key, uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("trace command %q: %w", comm, err)
	}
	return nil
}

// AddCandidate marks a stream that a traced process reads, so writes to it by untraced processes are captured too
// (used for processes that were already running when the monitor started). stdin says that it is the reader's fd 0:
// a reader whose stdin opens a session is a server, made a footprint root when the first message comes.
func (c *Capture) AddCandidate(k stream.Key, reader int, stdin bool) error {
	st := bpf.Stream{State: bpf.StateCandidate, Reader: uint32(reader)}
	if stdin {
		st.Stdin = 1
	}
	err := c.maps.Streams.Update(streamKey(k), st, ebpf.UpdateNoExist)
	if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("watch stream %v: %w", k, err)
	}
	return nil
}

// Quarantine stops copying a stream that carried only junk; it is not classified again until evicted.
func (c *Capture) Quarantine(k stream.Key) error {
	if err := c.maps.Quarantine.Update(streamKey(k), uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("quarantine stream %v: %w", k, err)
	}
	return c.Forget(k)
}

// Forget drops the kernel's entry for a stream whose writer is gone.
func (c *Capture) Forget(k stream.Key) error {
	err := c.maps.Streams.Delete(streamKey(k))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("forget stream %v: %w", k, err)
	}
	return nil
}

func streamKey(k stream.Key) bpf.StreamKey { return bpf.StreamKey{Ino: k.Ino, Kind: uint32(k.Kind)} }

// captureMaps are the maps user space touches. Assign moves them out of the collection, so Close closes them.
type captureMaps struct {
	Events      *ebpf.Map `ebpf:"mcps_events"`
	Streams     *ebpf.Map `ebpf:"mcps_streams"`
	Traced      *ebpf.Map `ebpf:"mcps_traced"`
	TracedComms *ebpf.Map `ebpf:"mcps_traced_comms"`
	Quarantine  *ebpf.Map `ebpf:"mcps_quarantine"`
	Stats       *ebpf.Map `ebpf:"mcps_stats"`
}

func (m *captureMaps) close() error {
	var errs []error
	for _, mp := range []*ebpf.Map{m.Events, m.Streams, m.Traced, m.TracedComms, m.Quarantine, m.Stats} {
		if mp != nil {
			errs = append(errs, mp.Close())
		}
	}
	return errors.Join(errs...)
}
