// Package capture loads mcpscope's kernel programs, attaches them, and reads their ring buffer.
//
// It is the first stage of the pipeline: kernel programs (internal/bpf) → [capture] → stream reassembly
// (internal/stream) → MCP parsing and correlation (internal/mcp) → sinks (internal/output).
//
// The reader goroutine does nothing but copy records out of the ring buffer into pooled buffers and hand them to the
// next stage through a bounded channel. When that stage falls behind, the reader blocks, the ring buffer fills, and
// the kernel counts every record it could not deliver, per stream (so the affected messages are marked truncated) and
// in total (Stats). Nothing is dropped in user space.
package capture
