package http1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

// benchExchange is one Streamable HTTP tools/call: a 300-byte JSON POST answered by an SSE stream with a progress
// notification and the result, chunked, as the TypeScript and Go SDKs send it.
func benchExchange() (req, resp string) {
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"weather","arguments":{"city":"Paris"},"_meta":{"progressToken":7}}}` + strings.Repeat(" ", 170)
	req = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" +
		"Mcp-Session-Id: 3f1c6d2e-0b7a-4a53-9f7e-2d1a5c8e9b10\r\nMcp-Protocol-Version: 2025-11-25\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	ev1 := "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":7,\"progress\":1}}\n\n"
	ev2 := "event: message\nid: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Sunny, 21 C\"}]}}\n\n"
	resp = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nMcp-Session-Id: 3f1c6d2e-0b7a-4a53-9f7e-2d1a5c8e9b10\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(ev1), ev1, len(ev2), ev2)
	return req, resp
}

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

// BenchmarkConn measures whole connections fed in 1500-byte chunks (or 64 KiB for the large body):
//
//   - streamable: 100 keep-alive tools/call exchanges as benchExchange describes;
//   - large: one 16 MiB Content-Length request body and a 204;
//   - chunked: one 1 MiB response in 4 KiB chunks.
//
// Results on the development VM (2 vCPU, go1.26.8, amd64), recorded in doc.go.
func BenchmarkConn(b *testing.B) {
	b.Run("streamable", func(b *testing.B) {
		req, resp := benchExchange()
		var script []any
		for range 100 {
			script = append(script, C, req, S, resp)
		}
		benchFeed(b, rechunk(scriptChunks(script), 1500), 100*5)
	})
	b.Run("large", func(b *testing.B) {
		body := strings.Repeat("x", 16<<20)
		chunks := script(C, "POST /mcp HTTP/1.1\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\n\r\n"+body, S, "HTTP/1.1 204 No Content\r\n\r\n")
		benchFeed(b, rechunk(chunks, 64<<10), 2)
	})
	b.Run("chunked", func(b *testing.B) {
		var sb strings.Builder
		sb.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		part := strings.Repeat("y", 4096)
		for range 256 {
			fmt.Fprintf(&sb, "1000\r\n%s\r\n", part)
		}
		sb.WriteString("0\r\n\r\n")
		benchFeed(b, rechunk(script(C, "GET / HTTP/1.1\r\n\r\n", S, sb.String()), 1500), 2)
	})
}

func scriptChunks(parts []any) []httpmsgtest.Chunk { return script(parts...) }

func BenchmarkLooksLikeHTTP(b *testing.B) {
	in := [][]byte{[]byte("POST /mcp HTTP/1.1\r\n"), []byte("HTTP/1.1 200 OK\r\n"), []byte(`{"jsonrpc":"2.0"}`), []byte("\x16\x03\x01\x02\x00")}
	for b.Loop() {
		for _, x := range in {
			LooksLikeHTTP(x)
		}
	}
}
