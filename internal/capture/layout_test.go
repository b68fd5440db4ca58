package capture

import (
	"testing"
	"unsafe"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// TestHeaderLayout keeps decode's hand-written offsets in step with struct mcps_event_hdr.
func TestHeaderLayout(t *testing.T) {
	var h bpf.EventHdr
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(h), hdrSize},
		{"kind", unsafe.Offsetof(h.Kind), 0},
		{"stream_kind", unsafe.Offsetof(h.StreamKind), 1},
		{"len", unsafe.Offsetof(h.Len), 4},
		{"tgid", unsafe.Offsetof(h.Tgid), 8},
		{"tid", unsafe.Offsetof(h.Tid), 12},
		{"ts", unsafe.Offsetof(h.Ts), 16},
		{"ino", unsafe.Offsetof(h.Ino), 24},
		{"gen", unsafe.Offsetof(h.Gen), 32},
		{"offset", unsafe.Offsetof(h.Offset), 40},
		{"lost", unsafe.Offsetof(h.Lost), 48},
		{"comm", unsafe.Offsetof(h.Comm), 56},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: offset %d in the generated type, %d in decode", c.name, c.got, c.want)
		}
	}
}

// TestTCPConnLayout keeps decodeConn's offsets in step with struct mcps_tcp_conn.
func TestTCPConnLayout(t *testing.T) {
	var c bpf.TCPConn
	for _, ck := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(c), tcpConnSize},
		{"family", unsafe.Offsetof(c.Family), 0},
		{"sport", unsafe.Offsetof(c.Sport), 2},
		{"dport", unsafe.Offsetof(c.Dport), 4},
		{"saddr", unsafe.Offsetof(c.Saddr), 8},
		{"daddr", unsafe.Offsetof(c.Daddr), 24},
	} {
		if ck.got != ck.want {
			t.Errorf("%s: offset %d in the generated type, %d in decodeConn", ck.name, ck.got, ck.want)
		}
	}
}

// TestFootprintLayout keeps decodeFootprint's offsets in step with struct mcps_fp_rec.
func TestFootprintLayout(t *testing.T) {
	var r bpf.FPRec
	for _, ck := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(r), fpFixed + bpf.FPData},
		{"epoch", unsafe.Offsetof(r.Epoch), hdrSize},
		{"root", unsafe.Offsetof(r.Root), hdrSize + 8},
		{"ppid", unsafe.Offsetof(r.Ppid), hdrSize + 12},
		{"result", unsafe.Offsetof(r.Result), hdrSize + 16},
		{"nr", unsafe.Offsetof(r.Nr), hdrSize + 24},
		{"flags", unsafe.Offsetof(r.Flags), hdrSize + 28},
		{"len", unsafe.Offsetof(r.Len), hdrSize + 32},
		{"owner", unsafe.Offsetof(r.Owner), hdrSize + 36},
		{"data", unsafe.Offsetof(r.Data), fpFixed},
	} {
		if ck.got != ck.want {
			t.Errorf("%s: offset %d in the generated type, %d in decodeFootprint", ck.name, ck.got, ck.want)
		}
	}
}

func TestDecodeRejectsShortAndOverlong(t *testing.T) {
	var e Event
	if err := decode(make([]byte, 10), &e); err == nil {
		t.Fatal("short record decoded without error")
	}
	raw := make([]byte, hdrSize+4)
	raw[0] = KindData
	raw[4] = 9 // announces 9 bytes, carries 4
	if err := decode(raw, &e); err == nil {
		t.Fatal("record with overlong length decoded without error")
	}
	raw[4] = 4
	if err := decode(raw, &e); err != nil || len(e.Data) != 4 {
		t.Fatalf("decode = %v, %d data bytes; want nil, 4", err, len(e.Data))
	}
}

// TestStreamKinds keeps package stream's kinds equal to the kernel's enum mcps_stream_kind.
func TestStreamKinds(t *testing.T) {
	for _, c := range []struct {
		name           string
		stream, kernel uint8
	}{
		{"pipe", stream.KindPipe, bpf.StreamPipe},
		{"unix", stream.KindUnix, bpf.StreamUnix},
		{"tcp-tx", stream.KindTCPTx, bpf.StreamTCPTx},
		{"tcp-rx", stream.KindTCPRx, bpf.StreamTCPRx},
		{"tls-tx", stream.KindTLSTx, bpf.StreamTLSTx},
		{"tls-rx", stream.KindTLSRx, bpf.StreamTLSRx},
	} {
		if c.stream != c.kernel {
			t.Errorf("%s: stream kind %d, kernel %d", c.name, c.stream, c.kernel)
		}
	}
}

// TestDirPath puts the components the kernel walked, innermost first, in order.
func TestDirPath(t *testing.T) {
	for in, want := range map[string]string{"": "/", "etc\x00": "/etc", "kernel\x00sys\x00proc\x00": "/proc/sys/kernel"} {
		if got := dirPath([]byte(in)); got != want {
			t.Errorf("dirPath(%q) = %q, want %q", in, got, want)
		}
	}
}
