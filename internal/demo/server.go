package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The demo server's identity, as reported in its initialize (or
// server/discover) result.
const (
	ServerName    = "mcpscope-demo-server"
	ServerVersion = "0.1.0"
)

// countdownTick is the time between two countdown steps (and progress
// notifications).
const countdownTick = 200 * time.Millisecond

// RunServer serves the demo MCP server over the stdio transport, reading
// client messages from in and writing server messages to out (normally
// os.Stdin and os.Stdout). It returns when the client closes in, or when ctx
// is cancelled. Nothing but MCP messages is ever written to out.
func RunServer(ctx context.Context, in io.Reader, out io.Writer) error {
	t := &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}}
	err := newServer().Run(ctx, t)
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type weatherIn struct {
	City string `json:"city" jsonschema:"the city to get the (made-up) weather for"`
}

type numbersIn struct {
	A float64 `json:"a" jsonschema:"the first number"`
	B float64 `json:"b" jsonschema:"the second number"`
}

type addOut struct {
	Sum float64 `json:"sum"`
}

type divideOut struct {
	Quotient float64 `json:"quotient"`
}

type countdownIn struct {
	From int `json:"from" jsonschema:"the number to count down from (1 to 10)"`
}

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: ServerName, Title: "mcpscope demo server", Version: ServerVersion}, &mcp.ServerOptions{
		Instructions: "A demo server for mcpscope. Its data is made up.",
		// Only tools: no logging capability.
		Capabilities: &mcp.ServerCapabilities{},
	})
	closedWorld := false
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &closedWorld}

	mcp.AddTool(s, &mcp.Tool{
		Name:        "weather",
		Description: "Returns a made-up weather report for a city (demo data, nothing is fetched).",
		Annotations: readOnly,
	}, func(_ context.Context, _ *mcp.CallToolRequest, in weatherIn) (*mcp.CallToolResult, any, error) {
		city := strings.TrimSpace(in.City)
		if city == "" {
			return nil, nil, errors.New("city is required")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: cannedWeather(city)}}}, nil, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        "add",
		Description: "Adds two numbers.",
		Annotations: readOnly,
	}, func(_ context.Context, _ *mcp.CallToolRequest, in numbersIn) (*mcp.CallToolResult, addOut, error) {
		sum := in.A + in.B
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%g + %g = %g", in.A, in.B, sum)}}},
			addOut{Sum: sum}, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        "divide",
		Description: "Divides a by b. Dividing by zero returns a tool error (isError), which is how MCP tools report failures.",
		Annotations: readOnly,
	}, func(_ context.Context, _ *mcp.CallToolRequest, in numbersIn) (*mcp.CallToolResult, divideOut, error) {
		if in.B == 0 {
			// A plain error becomes a CallToolResult with isError: true.
			return nil, divideOut{}, fmt.Errorf("cannot divide %g by zero", in.A)
		}
		q := in.A / in.B
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%g / %g = %g", in.A, in.B, q)}}},
			divideOut{Quotient: q}, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        "countdown",
		Description: "Counts down from a number, one step every 200 ms, reporting progress (notifications/progress) if the request has a progress token.",
		Annotations: readOnly,
	}, func(ctx context.Context, req *mcp.CallToolRequest, in countdownIn) (*mcp.CallToolResult, any, error) {
		if in.From < 1 || in.From > 10 {
			return nil, nil, fmt.Errorf("from must be between 1 and 10, not %d", in.From)
		}
		token := req.Params.GetProgressToken()
		for i := 1; i <= in.From; i++ {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(countdownTick):
			}
			if token != nil {
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token,
					Progress:      float64(i),
					Total:         float64(in.From),
					Message:       fmt.Sprintf("%d...", in.From-i),
				})
				if err != nil {
					return nil, nil, err
				}
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Liftoff!"}}}, nil, nil
	})
	return s
}

// cannedWeather returns a made-up but stable forecast for city.
func cannedWeather(city string) string {
	skies := []string{"sunny", "partly cloudy", "overcast", "light rain", "windy", "foggy"}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(city)))
	v := h.Sum32()
	return fmt.Sprintf("[demo data, not a real forecast] %s: %s, %d °C.", city, skies[v%uint32(len(skies))], 5+int(v/7%25))
}
