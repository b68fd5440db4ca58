package capture

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The record header of a BPF ring buffer (kernel/bpf/ringbuf.c): a 32-bit length whose two top bits say the record
// is still being written or was discarded, then 32 bits the kernel keeps for itself. Records start 8-byte aligned.
const (
	ringHeaderBytes = 8
	ringBusyBit     = 1 << 31
	ringDiscardBit  = 1 << 30
)

// errRingClosed is what ring methods return once close has run.
var errRingClosed = errors.New("the ring buffer is closed")

// ring reads a BPF_MAP_TYPE_RINGBUF map from a single mapping of its data pages.
//
// cilium/ebpf's ringbuf.Reader maps the data pages twice, back to back, as the kernel allows, so that a record
// wrapping past the end reads as one slice. Each mapping counts in the monitor's RSS, because the kernel maps every
// page at mmap time: with the default 32 MiB ring the monitor showed 64 MiB of ring in its RSS before it read a
// byte, half its 95 MiB at rest (docs/benchmarks.md). Here the pages are mapped once and a wrapping record is handed
// over in two pieces, which the caller copies anyway: the records are copied once, from the ring into the event's
// buffer, where ringbuf.Reader copied them into its own buffer first.
//
// Only the reader goroutine calls next, advance, pending and wait. close may run beside it (the watch gives up on a
// reader stuck behind a full queue and closes the capture): the mutex keeps it from unmapping pages the reader is
// copying from.
type ring struct {
	fd int
	// The ring's fd, duplicated and made non-blocking, in the Go runtime's poller, which wait uses when the kernel
	// allows it (nil otherwise: wait falls back to ppoll). A goroutine blocked in ppoll holds its thread in a
	// syscall, and the runtime's monitor thread (sysmon) then wakes every 20 µs to see whether to take the thread's P
	// away: a third of the watch's CPU under a ping-pong session (docs/benchmarks.md). Parked in the poller, the
	// goroutine holds nothing.
	poll     *os.File
	pollConn syscall.RawConn
	mu       sync.Mutex
	consumer []byte // the consumer page, read-write: the reader's position
	mapped   []byte // the producer page and the data pages, read-only
	data     []byte // mapped[page:]
	prodPos  *uintptr
	consPos  *uintptr
	mask     uintptr
	// next's view: the record found, and the consumer position after it.
	after uintptr
}

// openRing maps the ring buffer map behind fd, of size bytes of data (a power of two).
func openRing(fd, size int) (*ring, error) {
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return nil, fmt.Errorf("a ring buffer of %d bytes: the kernel makes them a power of two of at least a page", size)
	}
	consumer, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the ring buffer's consumer page: %w", err)
	}
	mapped, err := unix.Mmap(fd, int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(consumer)
		return nil, fmt.Errorf("map the ring buffer's data pages: %w", err)
	}
	r := &ring{
		fd:       fd,
		consumer: consumer,
		mapped:   mapped,
		data:     mapped[page:],
		prodPos:  (*uintptr)(unsafe.Pointer(&mapped[0])),
		consPos:  (*uintptr)(unsafe.Pointer(&consumer[0])),
		mask:     uintptr(size - 1),
	}
	r.poll, r.pollConn = pollable(fd)
	return r, nil
}

// pollable returns a non-blocking duplicate of fd registered in the runtime's poller, or nils when that cannot be
// had (wait then uses ppoll on fd itself). The duplicate shares fd's open file, whose O_NONBLOCK only poll and read
// look at: the bpf(2) calls and the mappings on fd do not.
func pollable(fd int) (*os.File, syscall.RawConn) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		_ = unix.Close(dup)
		return nil, nil
	}
	f := os.NewFile(uintptr(dup), "ring buffer")
	conn, err := f.SyscallConn()
	// Deadlines work only on files in the poller: that is the test that it took this one.
	if err != nil || f.SetReadDeadline(time.Time{}) != nil {
		_ = f.Close()
		return nil, nil
	}
	return f, conn
}

// next returns the next committed record's bytes, in one piece or, when it wraps past the end of the ring, two; ok
// is false when there is none yet (the ring is empty, or its next record is still being written). Discarded records
// are skipped. The bytes stay valid until advance, which the caller must call, under the ring's lock, which next
// takes and advance releases (copy the bytes between the two).
func (r *ring) next() (first, second []byte, ok bool, err error) {
	r.mu.Lock()
	if r.data == nil {
		r.mu.Unlock()
		return nil, nil, false, errRingClosed
	}
	cons := atomic.LoadUintptr(r.consPos)
	for {
		prod := atomic.LoadUintptr(r.prodPos)
		if prod == cons {
			r.mu.Unlock()
			return nil, nil, false, nil
		}
		if prod-cons < ringHeaderBytes {
			r.mu.Unlock()
			return nil, nil, false, fmt.Errorf("the ring buffer holds %d bytes, less than a record header", prod-cons)
		}
		// The atomic load of the length orders it after the kernel's commit (an xchg): the data it covers is then
		// visible too.
		header := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[cons&r.mask])))
		if header&ringBusyBit != 0 {
			r.mu.Unlock()
			return nil, nil, false, nil
		}
		n := uintptr(header &^ (ringBusyBit | ringDiscardBit))
		start := cons + ringHeaderBytes
		end := start + (n+7)&^7
		if prod-start < end-start {
			r.mu.Unlock()
			return nil, nil, false, fmt.Errorf("a %d-byte record runs past the %d bytes the kernel committed", n, prod-start)
		}
		if header&ringDiscardBit != 0 {
			cons = end
			atomic.StoreUintptr(r.consPos, cons)
			continue
		}
		r.after = end
		at := start & r.mask
		if tail := uintptr(len(r.data)) - at; n > tail {
			return r.data[at:], r.data[:n-tail], true, nil
		}
		return r.data[at : at+n], nil, true, nil
	}
}

// advance frees the record next returned, for the kernel to write over, and releases the lock next took.
func (r *ring) advance() {
	atomic.StoreUintptr(r.consPos, r.after)
	r.mu.Unlock()
}

// pending reports whether the kernel has reserved records the reader has not consumed, committed or not.
func (r *ring) pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data != nil && atomic.LoadUintptr(r.prodPos) != atomic.LoadUintptr(r.consPos)
}

// wait blocks until the kernel signals records or deadline passes (os.ErrDeadlineExceeded). It may return early
// with nothing to read.
func (r *ring) wait(deadline time.Time) error {
	if r.closed() {
		return nil // the reader's next look says so
	}
	if r.poll == nil {
		return r.ppoll(deadline)
	}
	err := r.poll.SetReadDeadline(deadline)
	if err == nil {
		// The poller's readiness is edge-triggered, and the wait resets it before the first call of the function: a
		// record committed before that is seen by the look at the ring, one committed after wakes the wait.
		looked := false
		err = r.pollConn.Read(func(uintptr) bool {
			if looked {
				return true
			}
			looked = true
			return r.pending()
		})
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if r.closed() {
		return nil // close ran beside the wait (the file says "file already closed" or "use of closed file")
	}
	return fmt.Errorf("wait for the ring buffer: %w", err)
}

// closed reports whether close has run.
func (r *ring) closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data == nil
}

// ppoll is wait for a ring the runtime's poller did not take.
func (r *ring) ppoll(deadline time.Time) error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		ts := unix.NsecToTimespec(left.Nanoseconds())
		n, err := unix.Ppoll(fds, &ts, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("wait for the ring buffer: %w", err)
		case n == 0:
			return os.ErrDeadlineExceeded
		case fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
			return fmt.Errorf("wait for the ring buffer: poll reports %#x", fds[0].Revents)
		}
		return nil
	}
}

// close unmaps the ring. The map and its fd belong to the caller.
func (r *ring) close() error {
	r.mu.Lock()
	if r.data == nil {
		r.mu.Unlock()
		return nil
	}
	err := errors.Join(unix.Munmap(r.mapped), unix.Munmap(r.consumer))
	r.data, r.mapped, r.consumer = nil, nil, nil
	poll := r.poll
	r.mu.Unlock()
	// Outside the lock: closing waits for a wait in progress to leave, and that wait may be looking at the ring.
	if poll != nil {
		err = errors.Join(err, poll.Close())
	}
	return err
}
