// Package stream reassembles the byte streams that the kernel programs copy out of MCP stdio channels and splits
// them into newline-delimited messages.
//
// It is the second stage of the pipeline: kernel programs (internal/bpf) → capture (internal/capture) → [stream]
// → MCP parsing and correlation → sinks (internal/output).
//
// # Input
//
// A [Chunk] is a contiguous run of bytes written to one direction of a pipe or Unix socketpair, identified by a
// [Key], a generation and the stream offset of its first byte. The kernel reserves the offsets of a write when the
// syscall returns and then copies the bytes in chunks of at most 32 KiB, so the chunks of one stream are almost
// always delivered in offset order; only two writes racing on different CPUs can arrive swapped. Each chunk also
// carries the cumulative number of bytes of its stream generation that the kernel could not deliver (ring buffer
// full, unreadable user memory): offsets stay exact across a loss, so a loss shows up here as a gap.
//
// # Output
//
// A [Frame] is one message: the bytes between two newlines, with one trailing '\r' removed. Empty lines are counted
// and skipped. A frame never contains a '\n'. Frames of one stream are emitted in stream order; frames of different
// streams are interleaved as their chunks arrive.
//
// # Reordering, loss and resynchronisation
//
// A chunk that starts beyond the next expected offset is held (at most [Config.MaxPending] bytes per stream) until
// the gap in front of it fills. The gap is instead declared lost when
//
//   - the kernel's loss counter (Chunk.LostTotal) has grown, beyond the losses already attributed to earlier gaps of
//     the generation, by at least the size of the gap;
//   - it stays open for [Config.GapTimeout], as [Reassembler.Flush] measures it: from when the Reassembler first saw
//     a chunk beyond the gap (by the latest Chunk.Time pushed or Flush time), not from when that chunk was written,
//     so that a consumer running behind does not give up on a chunk that is merely queued behind it;
//   - holding the chunks beyond it would exceed Config.MaxPending; or
//   - the stream ends: [Reassembler.Close], a new generation, or eviction past [Config.MaxStreams].
//
// The lost bytes are charged to the message being assembled when the gap opened (Frame.LostBytes, Frame.Size and
// Frame.Truncated). Where message boundaries fell inside the gap cannot be known, so the stream resynchronises on the
// next newline: the bytes that arrive after the gap are not parsed as a message of their own but end the truncated
// frame, whose Data then holds the bytes before and after the hole. One exception: MCP writers write a whole message
// per write, and a kernel chunk starts at a write boundary or a multiple of the chunk size into one, so when the
// bytes right after a gap open a JSON-RPC object (an optional '[' and blank, then `{"` followed by one of the member
// names jsonrpc, id, method, result, error or params and a closing `"` — the kernel's own test for a message start)
// they are taken as a new message. The message before the gap is then emitted as Truncated and Incomplete (with no
// Data at all if the gap began at a message boundary), and the new message is parsed normally. The test can be
// fooled by a message that contains such bytes exactly at a 32 KiB boundary after a loss; the price is one wrongly
// split, already truncated message, against gluing the first whole message after every such gap onto the truncated
// one.
//
// Bytes at offsets already delivered (duplicates, or a chunk that arrives after its gap was declared lost) are
// trimmed and counted, never emitted twice. Chunks of an older generation than the stream's current one are
// dropped and counted.
//
// # Limits
//
// A message longer than [Config.MaxMessage] does not grow memory beyond that bound: once it is exceeded only the
// first [Config.OversizePrefix] bytes are kept, Size keeps counting, and one Oversize frame is emitted when the
// newline arrives (or at Close). A stream's line buffer is reused from message to message; a buffer grown beyond
// 1 MiB by a large message is dropped once that message is emitted, and Flush releases the buffers of streams idle
// for [Config.IdleTimeout].
//
// State is forgotten when its stream is closed or evicted. A chunk that later arrives for such a stream starts a new
// stream at offset 0 and, unless its offset is 0, waits as reordered data until its gap is declared lost; the bytes
// delivered before the eviction are then reported as lost once more.
//
// A [Reassembler] is not safe for concurrent use: one goroutine owns it and calls Push, Close, Flush and Stats.
package stream
