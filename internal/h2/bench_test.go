package h2

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

func benchFeed(b *testing.B, chunks []httpmsgtest.Chunk, wantEvents int) {
	var total int64
	for _, c := range chunks {
		total += int64(len(c.Data))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	t := time.Unix(0, 0)
	for b.Loop() {
		n := 0
		c := NewConn(Config{}, func(httpmsg.Event) { n++ })
		for _, ch := range chunks {
			c.Feed(ch.Dir, ch.Off, ch.Data, t)
		}
		c.Close(t)
		if n != wantEvents {
			b.Fatalf("%d events, want %d", n, wantEvents)
		}
	}
}

// BenchmarkConn: "streamable" is 100 tools/call exchanges on one connection (HEADERS + 300-byte DATA, answered by
// an SSE stream of two events), fed in 1500-byte chunks; "large" is one 16 MiB request body in 16 KiB DATA frames
// fed in 64 KiB chunks. Results are recorded in doc.go.
func BenchmarkConn(b *testing.B) {
	b.Run("streamable", func(b *testing.B) {
		w := newWire(true)
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"weather","arguments":{"city":"Paris"}}}` + strings.Repeat(" ", 200)
		ev := "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":7,\"progress\":1}}\n\n"
		for i := range 100 {
			id := uint32(2*i + 1)
			w.headers(0, id, false, ":method", "POST", ":scheme", "https", ":authority", "127.0.0.1:3001", ":path", "/mcp",
				"content-type", "application/json", "accept", "application/json, text/event-stream", "mcp-protocol-version", "2025-11-25")
			w.data(0, id, true, body)
			w.headers(1, id, false, ":status", "200", "content-type", "text/event-stream", "cache-control", "no-cache")
			w.data(1, id, false, ev)
			w.data(1, id, true, ev)
		}
		benchFeed(b, rechunk(w.chunks, 1500), 100*5)
	})
	b.Run("large", func(b *testing.B) {
		w := newWire(true)
		w.headers(0, 1, false, ":method", "POST", ":scheme", "https", ":path", "/mcp", "content-length", "16777216")
		chunk := strings.Repeat("x", 16384)
		for i := range 1024 {
			w.fr[0].WriteData(1, i == 1023, []byte(chunk))
		}
		w.flush()
		w.headers(1, 1, true, ":status", "202")
		benchFeed(b, rechunk(w.chunks, 64<<10), 2)
	})
}
