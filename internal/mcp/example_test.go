package mcp_test

import (
	"fmt"
	"time"

	"github.com/mcpscope/mcpscope/internal/mcp"
	"github.com/mcpscope/mcpscope/internal/record"
)

// A client (pid 4242) calls a tool on a server (pid 4250) over stdio; the server answers 35 ms later.
func Example() {
	c := mcp.NewCorrelator(mcp.Limits{})
	start := time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC)
	frames := []struct {
		pid   int
		after time.Duration
		line  string
	}{
		{4242, 0, `{"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}},"jsonrpc":"2.0","id":1}`},
		{4250, 35 * time.Millisecond, `{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":1}`},
		{4250, 36 * time.Millisecond, `Server running on stdio`},
	}
	for _, f := range frames {
		msgs, err := mcp.Parse([]byte(f.line))
		if err != nil {
			fmt.Println("skipped:", err)
			continue
		}
		for i := range msgs {
			var rec record.Message
			c.Annotate("stdio:4242-4250", f.pid, &msgs[i], start.Add(f.after), &rec)
			fmt.Printf("%s %s %s tool=%s id=%s", rec.Direction, rec.Type, rec.Method, rec.Tool, rec.ID)
			if rec.LatencyMs != nil {
				fmt.Printf(" latency=%gms", *rec.LatencyMs)
			}
			fmt.Println()
		}
	}
	fmt.Println("matched:", c.Stats().Matched)
	// Output:
	// client_to_server request tools/call tool=echo id=1
	// server_to_client response tools/call tool=echo id=1 latency=35ms
	// skipped: not valid JSON at byte 0: unexpected 'S' where a value should follow
	// matched: 1
}
