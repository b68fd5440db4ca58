package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Event kinds.
const (
	KindData   = bpf.EventData   // bytes written to an MCP stream
	KindReader = bpf.EventReader // a process started reading an MCP stream
	KindClose  = bpf.EventClose  // a process closed the writing end of an MCP stream
	KindExit   = bpf.EventExit   // a process that took part in MCP streams exited
	KindTCP    = bpf.EventTCP    // a TCP stream was classified: Conn holds its connection
	KindExec   = bpf.EventExec   // a process of interest exec'd (TLS on): Capture.Execs reports it, the monitor never sees it

	// Footprint records (Config.Footprint): FP holds their body.
	KindFPMark    = bpf.EventFPMark    // a footprint root read an MCP stream up to Offset, or is about to write it at Offset
	KindFPFile    = bpf.EventFPFile    // a process of a footprint tree opened a file: FP.Data is the path as passed
	KindFPExec    = bpf.EventFPExec    // a process of a tree exec'd: FP.Data is the filename, NUL, argv
	KindFPExit    = bpf.EventFPExit    // a process of a tree exited: FP.Result is its wait status
	KindFPConnect = bpf.EventFPConnect // a process of a tree called connect: FP.Data is the address passed
	KindFPListen  = bpf.EventFPListen  // a process of a tree listens: FP.Data is a struct mcps_tcp_conn (local end)

	// KindTLSHit is a TLS probe hit (Config.DebugTLS): Stream is the connection's stream (zero for a return with no
	// call pending), Gen the call's key (goroutine or thread), Offset the buffer, Lost the length asked (entries) or
	// the result register (returns), TLSHit the rest. The monitor ignores it.
	KindTLSHit = bpf.EventTLSHit

	// KindWatermark is not a kernel record: Run sends one each time it finds the ring buffer empty, with Time the
	// moment that read began, so every record the kernel committed before Time came before it. Consumers that hold
	// records back for others still to come (the monitor's reorder and late-return holds) measure their waits on
	// it rather than on the wall clock: a reader that fell behind never ends a wait before it has read what the
	// wait was for.
	KindWatermark = 255
)

// TLSHit is the body of a KindTLSHit record.
type TLSHit struct {
	IP, SP uint64 // the probed instruction and the stack pointer there
	Site   uint32 // what the hit did: TLSHitEnter...
	CPU    uint32
}

// What a TLS probe hit did (enum mcps_tls_site in c/tls.c).
const (
	TLSHitEnter      = 1 // an entry, no call of its thread (goroutine) pending
	TLSHitEnterAgain = 2 // an entry with the pending call's arguments: the call re-run from its entry
	TLSHitEnterOther = 3 // an entry with other arguments: the pending call's return was never seen
	TLSHitRet        = 4 // a return that found its call
	TLSHitRetNone    = 5 // a return with no call pending
	TLSHitSaveLost   = 6 // an entry whose call could not be stored or was not found right after (Result: the error)
	// TLSHitRetSearch follows a Go return with no call: Result is 1 if a second lookup found it, plus 2 for each
	// entry of the map holding its goroutine under any key, plus 4 if one of them has its very key.
	TLSHitRetSearch = 7
)

// tlsHitSize is the size of struct mcps_tls_hit after its header.
const tlsHitSize = 24

// Footprint is the body of a footprint record: which tree and epoch it belongs to, and what happened.
type Footprint struct {
	Root  int    // the tree's root (an MCP server)
	Epoch uint64 // the root's epoch when it happened (marks: the epoch that begins)
	Ppid  int    // exec: the parent
	// Result is the syscall's return (file, connect, listen; negative: -errno), the wait status (exit), or the
	// direction (mark: bpf.FPMarkRead or bpf.FPMarkWrite).
	Result int64
	Nr     int    // the syscall number (file, connect, listen)
	Flags  uint32 // file: the open flags
	// Owner is the thread of the root the work was done for: the thread itself in the root (marks: the root's
	// thread that read or wrote), else the thread of the root that started the process's line; 0 when unknown.
	Owner int
	Data  []byte // aliases the record, like Event.Data
	// Dir is, for a file opened by a relative path, the absolute path of the directory it is relative to (the
	// working directory, or the directory of openat's dirfd), resolved by the kernel at the open; "" otherwise.
	Dir string
}

// Read tells whether a mark is a read (else the entry of a write).
func (f *Footprint) Read() bool { return f.Result == bpf.FPMarkRead }

// Conn is the connection of a TCP stream, seen from the local socket the stream belongs to.
type Conn struct {
	Local, Remote netip.AddrPort
}

// Event is one record from the kernel. Data is valid until the Event is handed back with Release.
type Event struct {
	Kind     uint8
	Stream   stream.Key
	Gen      uint64
	Offset   uint64 // data: stream offset of Data[0]
	Lost     uint64 // data: cumulative bytes of the stream generation the kernel could not deliver
	ExitCode int    // exit: the wait(2) status word
	Conn     Conn   // tcp: the connection
	Time     uint64 // CLOCK_MONOTONIC ns
	Pid, Tid int
	Comm     [16]byte
	Data     []byte
	FP       Footprint // footprint records
	TLSHit   TLSHit    // TLS probe hits (Config.DebugTLS)

	buf []byte
}

// CommString returns the command name without its NUL padding.
func (e *Event) CommString() string { return CommString(e.Comm[:]) }

// CommString trims a kernel comm buffer at its first NUL.
func CommString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// hdrSize is sizeof(struct mcps_event_hdr); layout_test.go checks it and every offset below against the generated
// type.
const hdrSize = 72

// decode fills e from a raw ring-buffer sample. Data aliases raw.
func decode(raw []byte, e *Event) error {
	if len(raw) < hdrSize {
		return fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(raw), hdrSize)
	}
	le := binary.LittleEndian
	e.Kind = raw[0]
	e.Stream = stream.Key{Kind: raw[1], Ino: le.Uint64(raw[24:])}
	n := int(le.Uint32(raw[4:]))
	e.Pid = int(le.Uint32(raw[8:]))
	e.Tid = int(le.Uint32(raw[12:]))
	e.Time = le.Uint64(raw[16:])
	e.Gen = le.Uint64(raw[32:])
	e.Offset = le.Uint64(raw[40:])
	e.Lost = le.Uint64(raw[48:])
	copy(e.Comm[:], raw[56:72])
	e.Data = nil
	e.ExitCode = 0
	e.Conn = Conn{}
	e.FP = Footprint{}
	e.TLSHit = TLSHit{}
	switch e.Kind {
	case KindData:
		if n > len(raw)-hdrSize {
			return fmt.Errorf("data record announces %d bytes but carries %d", n, len(raw)-hdrSize)
		}
		e.Data = raw[hdrSize : hdrSize+n]
	case KindExit:
		e.ExitCode = int(e.Offset)
		e.Offset = 0
	case KindTCP:
		if n != tcpConnSize || len(raw) < hdrSize+n {
			return fmt.Errorf("tcp record of %d bytes, want %d", len(raw)-hdrSize, tcpConnSize)
		}
		c, err := decodeConn(raw[hdrSize:])
		if err != nil {
			return err
		}
		e.Conn = c
	case KindReader, KindClose, KindExec:
	case KindTLSHit:
		if n != tlsHitSize || len(raw) < hdrSize+n {
			return fmt.Errorf("TLS probe record of %d bytes, want %d", len(raw)-hdrSize, tlsHitSize)
		}
		b := raw[hdrSize:]
		e.TLSHit = TLSHit{IP: le.Uint64(b), SP: le.Uint64(b[8:]), Site: le.Uint32(b[16:]), CPU: le.Uint32(b[20:])}
	case KindFPMark, KindFPFile, KindFPExec, KindFPExit, KindFPConnect, KindFPListen:
		return decodeFootprint(raw, e)
	default:
		return fmt.Errorf("unknown record kind %d", e.Kind)
	}
	return nil
}

// fpFixed is the size of struct mcps_fp_rec before its data (all a mark carries); layout_test.go checks it and the
// offsets below.
const fpFixed = hdrSize + 40

func decodeFootprint(raw []byte, e *Event) error {
	if len(raw) < fpFixed {
		return fmt.Errorf("footprint record of %d bytes, want at least %d", len(raw), fpFixed)
	}
	le := binary.LittleEndian
	e.FP = Footprint{
		Epoch:  le.Uint64(raw[hdrSize:]),
		Root:   int(le.Uint32(raw[hdrSize+8:])),
		Ppid:   int(le.Uint32(raw[hdrSize+12:])),
		Result: int64(le.Uint64(raw[hdrSize+16:])),
		Nr:     int(le.Uint32(raw[hdrSize+24:])),
		Flags:  le.Uint32(raw[hdrSize+28:]),
		Owner:  int(le.Uint32(raw[hdrSize+36:])),
	}
	if e.Kind == KindFPMark {
		return nil
	}
	n := int(le.Uint32(raw[hdrSize+32:]))
	data := raw[fpFixed:]
	if e.Kind == KindFPFile {
		// The path as passed is in the second half; the components of a relative one's directory in the first.
		half := bpf.FPData / 2
		if len(data) < bpf.FPData || n >= half {
			return fmt.Errorf("file record of %d bytes announces a %d-byte path", len(data), n)
		}
		e.FP.Data = data[half : half+n]
		if dir := e.FP.Ppid; dir > 0 {
			if dir > half {
				return fmt.Errorf("file record announces a %d-byte directory", dir-1)
			}
			e.FP.Dir = dirPath(data[:dir-1])
		}
		e.FP.Ppid = 0
		return nil
	}
	if n > bpf.FPData || n > len(data) {
		return fmt.Errorf("footprint record announces %d bytes but carries %d", n, len(data))
	}
	e.FP.Data = data[:n]
	return nil
}

// dirPath puts the components the kernel walked (innermost first, each NUL-ended) in order: "/home/user".
func dirPath(b []byte) string {
	parts := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if len(b) == 0 {
		return "/"
	}
	slices.Reverse(parts)
	return "/" + strings.Join(parts, "/")
}

// tcpConnSize is sizeof(struct mcps_tcp_conn), checked in layout_test.go.
const tcpConnSize = 40

// decodeConn reads a struct mcps_tcp_conn.
func decodeConn(b []byte) (Conn, error) {
	le := binary.LittleEndian
	family := le.Uint16(b[0:])
	sport, dport := le.Uint16(b[2:]), le.Uint16(b[4:])
	var local, remote netip.Addr
	switch family {
	case unix.AF_INET:
		local = netip.AddrFrom4([4]byte(b[8:12]))
		remote = netip.AddrFrom4([4]byte(b[24:28]))
	case unix.AF_INET6:
		local = netip.AddrFrom16([16]byte(b[8:24]))
		remote = netip.AddrFrom16([16]byte(b[24:40]))
	default:
		return Conn{}, fmt.Errorf("tcp record with address family %d", family)
	}
	return Conn{Local: netip.AddrPortFrom(local, sport), Remote: netip.AddrPortFrom(remote, dport)}, nil
}
