package http1_test

import (
	"fmt"
	"time"

	"github.com/mcpscope/mcpscope/internal/http1"
	"github.com/mcpscope/mcpscope/internal/httpmsg"
)

// A Streamable HTTP POST answered by an event stream, fed as capture delivers it.
func ExampleConn() {
	conn := http1.NewConn(http1.Config{}, func(e httpmsg.Event) {
		switch e.Kind {
		case httpmsg.EventRequest:
			fmt.Printf("%s %s session=%s body=%s\n", e.Request.Method, e.Request.Path, e.Request.MCP.SessionID, e.Request.Body)
		case httpmsg.EventSSE:
			fmt.Printf("  event %s: %s\n", e.SSE.Name(), e.SSE.Data)
		case httpmsg.EventResponse:
			fmt.Printf("%d %s, %d body bytes\n", e.Response.Status, e.Response.ContentType, e.Response.BodySize)
		}
	})
	now := time.Now()
	req := "POST /mcp HTTP/1.1\r\nMcp-Session-Id: s-1\r\nAuthorization: Bearer t\r\nContent-Length: 46\r\n\r\n" +
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	conn.Feed(http1.ClientToServer, 0, []byte(req), now)
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" +
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}\n\n"
	conn.Feed(http1.ServerToClient, 0, []byte(resp), now)
	conn.Close(now) // the server ends the stream by closing
	// Output:
	// POST /mcp session=s-1 body={"jsonrpc":"2.0","id":1,"method":"tools/list"}
	//   event message: {"jsonrpc":"2.0","id":1,"result":{"tools":[]}}
	// 200 text/event-stream, 69 body bytes
}

func ExampleLooksLikeHTTP() {
	fmt.Println(http1.LooksLikeHTTP([]byte("POST /mcp HTTP/1.1\r\n")), http1.LooksLikeHTTP([]byte(`{"jsonrpc":"2.0"}`)))
	// Output: true false
}
