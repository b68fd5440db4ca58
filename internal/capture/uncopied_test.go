package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uncopiedMessages are written by helperWriteUncopied: an opening message by write(2), then messages moved by
// syscalls no hook can copy, then one by vmsplice (a pipe; captured with the tracepoint hook set, not with fentry) or sendmmsg (a socket; not),
// then a last one by
// write(2).
func uncopiedMessages() (first, spliced, sent, vm, last []byte) {
	return []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"spliced"}}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sendfile"}}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"vmsplice or sendmmsg"}}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"last"}}` + "\n")
}

// helperWriteUncopied writes uncopiedMessages to its stdout, a pipe or a Unix socket.
func helperWriteUncopied() int {
	first, spliced, sent, vm, last := uncopiedMessages()
	var st unix.Stat_t
	if err := unix.Fstat(1, &st); err != nil {
		return fail(err)
	}
	pipe := st.Mode&unix.S_IFMT == unix.S_IFIFO
	f, err := os.CreateTemp("", "mcpscope-uncopied")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(append([]byte(nil), spliced...), sent...)); err != nil {
		return fail(err)
	}
	if err := writeAll(1, first); err != nil {
		return fail(err)
	}
	off := int64(0)
	if pipe { // splice needs a pipe at one end
		if _, err := unix.Splice(int(f.Fd()), &off, 1, nil, len(spliced), 0); err != nil {
			return fail(err)
		}
	} else if _, err := unix.Sendfile(1, int(f.Fd()), &off, len(spliced)); err != nil {
		return fail(err)
	}
	if _, err := unix.Sendfile(1, int(f.Fd()), &off, len(sent)); err != nil {
		return fail(err)
	}
	if pipe {
		iov := make([]unix.Iovec, 2)
		iov[0].Base, iov[1].Base = &vm[0], &vm[10]
		iov[0].SetLen(10)
		iov[1].SetLen(len(vm) - 10)
		if _, err := unix.Vmsplice(1, iov, 0); err != nil {
			return fail(err)
		}
	} else if err := sendmmsg(1, vm[:10], vm[10:]); err != nil {
		return fail(err)
	}
	if err := writeAll(1, last); err != nil {
		return fail(err)
	}
	return 0
}

// sendmmsg sends each buffer as one message with sendmmsg(2) (golang.org/x/sys/unix has no wrapper).
func sendmmsg(fd int, bufs ...[]byte) error {
	type mmsghdr struct {
		hdr unix.Msghdr
		len uint32
		_   [4]byte
	}
	msgs := make([]mmsghdr, len(bufs))
	iovs := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	if int(n) != len(bufs) {
		return fmt.Errorf("sendmmsg sent %d of %d messages", n, len(bufs))
	}
	return nil
}

// TestUncopiedBytesLeaveAHole: bytes moved into an MCP stream by splice, sendfile and sendmmsg, which no hook can
// copy, leave a hole of their exact size in the stream's offsets, so that nothing around them is glued together, and
// are counted: in the stream's lost bytes, which its records carry, and in Stats.UncopiedBytes. vmsplice's bytes
// are user memory, and captured where the hook set sees vmsplice (tracepoints).
func TestUncopiedBytesLeaveAHole(t *testing.T) {
	requireRoot(t)
	first, spliced, sent, vm, last := uncopiedMessages()
	for _, socketpair := range []bool{false, true} {
		name := "pipe"
		if socketpair {
			name = "socketpair"
		}
		t.Run(name, func(t *testing.T) {
			c, err := Open(Config{RingBufferBytes: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, w := stdioPair(t, socketpair)
			reader, writer := helperCommand("read-stdin"), helperCommand("write-uncopied")
			reader.Stdin, writer.Stdout = r, w
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- c.Run(ctx) }()
			if err := reader.Start(); err != nil {
				t.Fatal(err)
			}
			if err := writer.Run(); err != nil {
				t.Fatalf("writer: %v", err)
			}
			r.Close()
			w.Close()
			if err := reader.Wait(); err != nil {
				t.Fatalf("reader: %v", err)
			}
			cancel()
			// The writer's records only: another capture.test on the host may be writing the same messages.
			chunks := map[uint64][]byte{}
			var lost uint64 // the stream's lost bytes, as its last record carries them
			drainEvents(t, c, func(e *Event) {
				if e.Kind == KindData && e.Pid == writer.Process.Pid {
					chunks[e.Offset] = append([]byte(nil), e.Data...)
					lost = max(lost, e.Lost)
				}
			})
			if err := <-runDone; err != nil {
				t.Fatal(err)
			}
			explainSkips(t, c)

			// What the stream must hold, byte by byte: the hole has no record.
			hole := len(spliced) + len(sent)
			tail := append(append([]byte(nil), vm...), last...)
			if socketpair || c.FastPaths().Fentry { // sendmmsg; vmsplice, which fentry on vfs_write does not see
				hole += len(vm)
				tail = last
			}
			want := append(append(append([]byte(nil), first...), make([]byte, hole)...), tail...)
			seen := make([]byte, len(want))
			covered := make([]bool, len(want))
			for off, b := range chunks {
				if int(off)+len(b) > len(want) {
					t.Fatalf("a record at %d of %d bytes, past the end of what was written, %d", off, len(b), len(want))
				}
				copy(seen[off:], b)
				for i := range b {
					covered[int(off)+i] = true
				}
			}
			for i := range want {
				if inHole := i >= len(first) && i < len(first)+hole; covered[i] == inHole {
					t.Fatalf("byte %d covered %v, want %v (the hole is [%d, %d))", i, covered[i], !inHole, len(first), len(first)+hole)
				}
			}
			if !bytes.Equal(seen, want) {
				t.Errorf("the stream holds %q, want %q", seen, want)
			}
			if lost != uint64(hole) {
				t.Errorf("the stream's records count %d bytes lost, want %d", lost, hole)
			}
			st, err := c.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.UncopiedBytes < uint64(hole) { // the host's: other processes may move bytes so too
				t.Errorf("%d uncopied bytes counted, want at least %d", st.UncopiedBytes, hole)
			}
		})
	}
}
