package stream

import (
	"strconv"
	"time"
)

// Kinds of stream, as the kernel programs report them in Key.Kind.
const (
	KindPipe uint8 = 1 // one pipe: both ends share the pipe's inode
	KindUnix uint8 = 2 // one direction of a connected Unix socket pair: the writing socket's inode
	// TCP (HTTP capture, capture.Config.TCP): the bytes a local TCP socket sent, and those it received; both keyed
	// by that socket's inode.
	KindTCPTx uint8 = 3
	KindTCPRx uint8 = 4
	// TLS plaintext (from the TLS library's uprobes), sent and received, keyed by a number naming the SSL object
	// (top bit set: never a socket inode); a KindTCP event gives its connection's addresses.
	KindTLSTx uint8 = 5
	KindTLSRx uint8 = 6
)

// Key identifies a kernel stream: one direction of a pipe (both ends share the pipe inode) or of a Unix socketpair
// (the writing socket's inode).
type Key struct {
	Kind uint8  // KindPipe or KindUnix
	Ino  uint64 // inode number
}

// String returns the key as "pipe:INO" or "unix:INO", for logs.
func (k Key) String() string {
	var kind string
	switch k.Kind {
	case KindPipe:
		kind = "pipe"
	case KindUnix:
		kind = "unix"
	case KindTCPTx:
		kind = "tcp-tx"
	case KindTCPRx:
		kind = "tcp-rx"
	case KindTLSTx:
		kind = "tls-tx"
	case KindTLSRx:
		kind = "tls-rx"
	default:
		kind = "kind" + strconv.Itoa(int(k.Kind))
	}
	return kind + ":" + strconv.FormatUint(k.Ino, 10)
}

// Writer is the process and thread that wrote a chunk.
type Writer struct {
	Pid, Tid int
	Comm     string
}

// Chunk is a contiguous run of bytes written to a stream, as delivered by the kernel.
type Chunk struct {
	Key Key
	// Gen is the generation of the kernel's stream entry. A new (larger) Gen restarts Offset at 0: the entry was
	// evicted and re-created, always at a write boundary that starts a message.
	Gen uint64
	// Offset is the offset of Data[0] in the stream generation.
	Offset uint64
	// Data is valid only during Push; the Reassembler copies what it keeps.
	Data []byte
	// LostTotal is the cumulative number of bytes of this stream generation that the kernel could not deliver (ring
	// buffer full, fault), as of when this chunk was emitted.
	LostTotal uint64
	// Time is when the chunk was written, in CLOCK_MONOTONIC nanoseconds.
	Time   uint64
	Writer Writer
}

// Frame is one newline-delimited message: the line without its '\n' and without one trailing '\r'.
type Frame struct {
	Key Key
	Gen uint64
	// Offset is the stream offset of the message's first byte (of its first lost byte, if the message starts in a
	// gap). For a message ended by a newline, Offset+Size is the offset of its "\r\n" or "\n".
	Offset uint64
	// Data holds the message bytes that arrived. It is valid only during the emit callback: it may alias the pushed
	// chunk or a buffer that is reused for the next message, so copy it to keep it. For an Oversize frame it is only
	// a prefix; for a Truncated frame the lost bytes are missing from it.
	Data []byte
	// Size is the number of bytes the writer wrote for this message (without the line terminator), lost bytes
	// included. It may exceed len(Data).
	Size int
	// Start is the Time of the chunk that held the first byte that arrived; End that of the last byte that arrived.
	// Frames without any Data carry the Time of the stream's latest chunk in both.
	Start, End uint64
	// Writer is the writer of the last byte that arrived.
	Writer Writer
	// Truncated reports that the message is not whole: bytes of it were lost (LostBytes > 0) or it was cut at the end
	// of the stream (Incomplete).
	Truncated bool
	// LostBytes counts the bytes of the message (or of the gap the message was cut by) that never arrived.
	LostBytes uint64
	// Oversize reports that the message exceeded Config.MaxMessage: Data keeps its first Config.OversizePrefix bytes
	// only.
	Oversize bool
	// Incomplete reports that no newline ended the message: the stream ended (Close, eviction), was reset (new Gen),
	// or a gap was followed by the start of a new message.
	Incomplete bool
}

// Config bounds the memory and patience of a Reassembler. Zero fields take their defaults.
type Config struct {
	// MaxMessage is the largest message kept whole; default 64 MiB.
	MaxMessage int
	// OversizePrefix is how many bytes of a larger message are kept; default 64 KiB, at most MaxMessage.
	OversizePrefix int
	// MaxPending is how many bytes of out-of-order chunks are held per stream while waiting for a gap to fill;
	// default 4 MiB.
	MaxPending int
	// MaxStreams is how many streams are tracked at once; beyond it the least recently used stream is flushed (its
	// partial message as Incomplete) and forgotten. Default 16384.
	MaxStreams int
	// GapTimeout is how long a gap may stay open, as measured by Flush, before it is declared lost; default 1 s.
	GapTimeout time.Duration
	// IdleTimeout is how long a stream may stay unused before Flush releases its buffers; default 10 s.
	IdleTimeout time.Duration
}

// Defaults for the zero Config fields.
const (
	DefaultMaxMessage     = 64 << 20
	DefaultOversizePrefix = 64 << 10
	DefaultMaxPending     = 4 << 20
	DefaultMaxStreams     = 16384
	DefaultGapTimeout     = time.Second
	DefaultIdleTimeout    = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.MaxMessage <= 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.OversizePrefix <= 0 {
		c.OversizePrefix = DefaultOversizePrefix
	}
	c.OversizePrefix = min(c.OversizePrefix, c.MaxMessage)
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.GapTimeout <= 0 {
		c.GapTimeout = DefaultGapTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Stats are the Reassembler's counters. All are cumulative except Streams and HeldBytes, which are current values.
type Stats struct {
	Chunks           uint64 `json:"chunks"`            // chunks pushed
	BytesIn          uint64 `json:"bytes_in"`          // bytes pushed
	Frames           uint64 `json:"frames"`            // frames emitted
	EmptyLines       uint64 `json:"empty_lines"`       // empty lines skipped
	TruncatedFrames  uint64 `json:"truncated_frames"`  // frames emitted with Truncated
	IncompleteFrames uint64 `json:"incomplete_frames"` // frames emitted with Incomplete
	OversizeFrames   uint64 `json:"oversize_frames"`   // frames emitted with Oversize
	LostBytes        uint64 `json:"lost_bytes"`        // bytes declared lost; the sum of the frames' LostBytes
	GapsLost         uint64 `json:"gaps_lost"`         // gaps declared lost, for any reason
	GapsTimedOut     uint64 `json:"gaps_timed_out"`    // of which: open longer than GapTimeout
	GapsOverflowed   uint64 `json:"gaps_overflowed"`   // of which: MaxPending exceeded
	Resyncs          uint64 `json:"resyncs"`           // gaps followed by a message start
	ReorderedChunks  uint64 `json:"reordered_chunks"`  // chunks held because they arrived ahead of a gap
	DuplicateBytes   uint64 `json:"duplicate_bytes"`   // bytes at offsets already delivered, dropped
	StaleBytes       uint64 `json:"stale_bytes"`       // bytes of an older generation, dropped
	InvalidBytes     uint64 `json:"invalid_bytes"`     // bytes claimed past stream offset 2^64-1, dropped
	Generations      uint64 `json:"generations"`       // generation changes of a tracked stream
	StreamsOpened    uint64 `json:"streams_opened"`    // streams started tracking
	StreamsEvicted   uint64 `json:"streams_evicted"`   // streams dropped beyond MaxStreams
	Streams          int    `json:"streams"`           // streams tracked now
	HeldBytes        int    `json:"held_bytes"`        // bytes of out-of-order chunks held now
}
