package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// Event kinds.
const (
	KindData   = bpf.EventData   // bytes written to an MCP stream
	KindReader = bpf.EventReader // a process started reading an MCP stream
	KindClose  = bpf.EventClose  // a process closed the writing end of an MCP stream
	KindExit   = bpf.EventExit   // a process that took part in MCP streams exited
)

// Event is one record from the kernel. Data is valid until the Event is handed back with Release.
type Event struct {
	Kind     uint8
	Stream   stream.Key
	Gen      uint64
	Offset   uint64 // data: stream offset of Data[0]
	Lost     uint64 // data: cumulative bytes of the stream generation the kernel could not deliver
	ExitCode int    // exit: the wait(2) status word
	Time     uint64 // CLOCK_MONOTONIC ns
	Pid, Tid int
	Comm     [16]byte
	Data     []byte

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
	switch e.Kind {
	case KindData:
		if n > len(raw)-hdrSize {
			return fmt.Errorf("data record announces %d bytes but carries %d", n, len(raw)-hdrSize)
		}
		e.Data = raw[hdrSize : hdrSize+n]
	case KindExit:
		e.ExitCode = int(e.Offset)
		e.Offset = 0
	case KindReader, KindClose:
	default:
		return fmt.Errorf("unknown record kind %d", e.Kind)
	}
	return nil
}
