package capture

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ringRecordBytes is the size of the records ringWriter writes: with its header, 208 bytes, which does not divide
// a page, so records land at every offset modulo 208 and some wrap past the end of the ring.
const ringRecordBytes = 200

// ringWriter opens a ring on a real BPF ring buffer of size bytes, and loads programs that write to it when run with
// BPF_PROG_TEST_RUN: output copies the
// first ringRecordBytes of the packet into a record; discard reserves a record and discards it. Run output with
// packet(b): a socket filter sees the packet after its Ethernet header.
func ringWriter(t *testing.T, size int) (r *ring, output, discard *ebpf.Program) {
	t.Helper()
	requireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(size)})
	if err != nil {
		t.Fatalf("create a ring buffer map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	load := func(insns asm.Instructions) *ebpf.Program {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: insns})
		if err != nil {
			t.Fatalf("load a ring buffer writer: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	output = load(asm.Instructions{
		// bpf_skb_load_bytes(skb, 0, fp-200, 200)
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -ringRecordBytes),
		asm.Mov.Imm(asm.R4, ringRecordBytes),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		// bpf_ringbuf_output(map, fp-200, 200, 0)
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -ringRecordBytes),
		asm.Mov.Imm(asm.R3, ringRecordBytes),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	})
	discard = load(asm.Instructions{
		// bpf_ringbuf_discard(bpf_ringbuf_reserve(map, 64, 0), 0)
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Imm(asm.R2, 64),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufDiscard.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	})
	r, err = openRing(m.FD(), size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.close() })
	return r, output, discard
}

// packet is the test run's input for output to write a record of b.
func packet(b []byte) []byte { return append(make([]byte, 14), b...) }

// TestRingReadsEveryOffset writes records through the kernel into a one-page ring, with discarded records between
// them, and reads each back byte-exact: at every offset the ring's size allows, including the records that wrap past
// its end and arrive in two pieces.
func TestRingReadsEveryOffset(t *testing.T) {
	size := os.Getpagesize()
	r, output, discard := ringWriter(t, size)

	wrapped := 0
	for i := range 3 * size / (ringRecordBytes + ringHeaderBytes) {
		want := bytes.Repeat([]byte{byte(i)}, ringRecordBytes)
		if i%3 == 0 {
			if _, err := discard.Run(&ebpf.RunOptions{Data: want}); err != nil {
				t.Fatalf("run the discarding program: %v", err)
			}
		}
		if ret, err := output.Run(&ebpf.RunOptions{Data: packet(want)}); err != nil || ret != 0 {
			t.Fatalf("run the writing program: %d, %v", ret, err)
		}
		if !r.pending() {
			t.Fatalf("record %d: the ring reports nothing pending", i)
		}
		first, second, ok, err := r.next()
		if err != nil || !ok {
			t.Fatalf("record %d: next = %v, %v", i, ok, err)
		}
		got := append(append([]byte(nil), first...), second...)
		if second != nil {
			wrapped++
		}
		r.advance()
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: read %d bytes %x..., want %d bytes of %#x", i, len(got), got[:min(len(got), 8)], len(want), i)
		}
		if _, _, ok, err := r.next(); ok || err != nil {
			t.Fatalf("after record %d: next = %v, %v; want an empty ring", i, ok, err)
		}
		if r.pending() {
			t.Fatalf("after record %d: the ring reports records pending", i)
		}
	}
	if wrapped == 0 {
		t.Fatal("no record wrapped past the end of the ring: the two-piece path went untested")
	}
}

// TestRingWaitAndClose checks that wait times out on an empty ring, returns at once once a record is committed, and
// that a closed ring says so instead of touching the unmapped pages; through the runtime's poller and through the
// ppoll fallback.
func TestRingWaitAndClose(t *testing.T) {
	for _, poller := range []bool{true, false} {
		t.Run(map[bool]string{true: "poller", false: "ppoll"}[poller], func(t *testing.T) {
			r, output, _ := ringWriter(t, os.Getpagesize())
			if r.poll == nil {
				t.Fatal("the ring buffer's fd did not go into the runtime's poller")
			}
			if !poller {
				r.poll.Close()
				r.poll, r.pollConn = nil, nil
			}
			if err := r.wait(time.Now().Add(10 * time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("wait on an empty ring = %v, want a deadline error", err)
			}
			if _, err := output.Run(&ebpf.RunOptions{Data: packet(make([]byte, ringRecordBytes))}); err != nil {
				t.Fatal(err)
			}
			if !r.pending() {
				t.Fatal("the writing program wrote no record")
			}
			// A record written with default flags wakes the reader (the programs of c/mcps.h choose when to), so the
			// wait returns before its deadline however slow the machine.
			if err := r.wait(time.Now().Add(time.Hour)); err != nil {
				t.Fatalf("wait with a record committed = %v", err)
			}
			first, _, ok, err := r.next()
			if err != nil || !ok || len(first) != ringRecordBytes {
				t.Fatalf("next = %d bytes, %v, %v", len(first), ok, err)
			}
			r.advance()
			// A record committed while the reader waits wakes it.
			waited := make(chan error, 1)
			go func() { waited <- r.wait(time.Now().Add(time.Hour)) }()
			time.Sleep(10 * time.Millisecond)
			if _, err := output.Run(&ebpf.RunOptions{Data: packet(make([]byte, ringRecordBytes))}); err != nil {
				t.Fatal(err)
			}
			if err := <-waited; err != nil {
				t.Fatalf("wait woken by a record = %v", err)
			}
			r.next()
			r.advance()
			// A close beside a wait ends the wait, without an error: the reader's next look finds the ring closed.
			if r.poll != nil {
				go func() { waited <- r.wait(time.Now().Add(time.Hour)) }()
				time.Sleep(10 * time.Millisecond)
			}
			if err := r.close(); err != nil {
				t.Fatal(err)
			}
			if r.poll != nil {
				if err := <-waited; err != nil {
					t.Fatalf("wait ended by close = %v", err)
				}
			}
			if _, _, _, err := r.next(); !errors.Is(err, errRingClosed) {
				t.Fatalf("next on a closed ring = %v, want errRingClosed", err)
			}
			// A wait that begins after close (the reader looked just before) says nothing either.
			if err := r.wait(time.Now().Add(time.Hour)); err != nil {
				t.Fatalf("wait on a closed ring = %v", err)
			}
			if r.pending() {
				t.Fatal("a closed ring reports records pending")
			}
			if err := r.close(); err != nil {
				t.Fatalf("a second close = %v", err)
			}
		})
	}
}
