package sse

import (
	"bytes"
	"strings"
	"testing"
)

func benchStream(eventData, events int) []byte {
	var b bytes.Buffer
	data := strings.Repeat("x", eventData)
	for i := 0; i < events; i++ {
		b.WriteString("event: message\nid: 0123456789abcdef\ndata: ")
		b.WriteString(data)
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

func benchParser(b *testing.B, stream []byte, chunk int) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewParser(Config{})
		n := 0
		for i := 0; i < len(stream); i += chunk {
			p.Feed(stream[i:min(i+chunk, len(stream))], func(*Event) { n++ })
		}
		p.Close()
	}
}

// BenchmarkParser/mcp: 300-byte JSON-RPC messages, as Streamable HTTP sends them, in 1500-byte captures.
// BenchmarkParser/large: 64 KiB events (large tool results) in 32 KiB captures.
func BenchmarkParser(b *testing.B) {
	b.Run("mcp", func(b *testing.B) { benchParser(b, benchStream(300, 1000), 1500) })
	b.Run("large", func(b *testing.B) { benchParser(b, benchStream(64<<10, 64), 32<<10) })
}
