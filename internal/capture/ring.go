package capture

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
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
	fd       int
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
	return &ring{
		fd:       fd,
		consumer: consumer,
		mapped:   mapped,
		data:     mapped[page:],
		prodPos:  (*uintptr)(unsafe.Pointer(&mapped[0])),
		consPos:  (*uintptr)(unsafe.Pointer(&consumer[0])),
		mask:     uintptr(size - 1),
	}, nil
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
	defer r.mu.Unlock()
	if r.data == nil {
		return nil
	}
	err := errors.Join(unix.Munmap(r.mapped), unix.Munmap(r.consumer))
	r.data, r.mapped, r.consumer = nil, nil, nil
	return err
}
