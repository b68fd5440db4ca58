package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultPause is the pause between two steps of the demo client, so that a
// person can follow the session in mcpscope's live view.
const DefaultPause = 200 * time.Millisecond

// DefaultProtocolVersion is the protocol version the demo client asks for by
// default: the latest one with the initialize handshake, which most MCP hosts
// speak today.
const DefaultProtocolVersion = "2025-11-25"

// ClientName is the demo client's name in its clientInfo.
const ClientName = "mcpscope-demo-client"

// ClientOptions configures [RunClientWith]. The zero value gives the behaviour
// of [RunClient].
type ClientOptions struct {
	// ProtocolVersion is the version to ask for; "" means
	// DefaultProtocolVersion. "2026-07-28" makes the client use the stateless
	// protocol (server/discover instead of initialize).
	ProtocolVersion string
	// Pause is the pause between steps: 0 means DefaultPause, a negative
	// value means no pause.
	Pause time.Duration
}

// RunClient runs the demo session against the MCP server started by
// serverCmd over stdio (serverCmd's stdin and stdout must be unset: they
// become the MCP channel). It narrates each step to log, and returns an
// error if any step does not behave as the demo expects. The server is
// stopped before RunClient returns.
func RunClient(ctx context.Context, serverCmd *exec.Cmd, log io.Writer) error {
	return RunClientWith(ctx, serverCmd, log, nil)
}

// RunClientWith is [RunClient] with options; opts may be nil.
func RunClientWith(ctx context.Context, serverCmd *exec.Cmd, log io.Writer, opts *ClientOptions) error {
	if serverCmd == nil {
		return errors.New("demo: nil server command")
	}
	fmt.Fprintf(log, "Starting the demo MCP server: %s\n", strings.Join(serverCmd.Args, " "))
	t := &mcp.CommandTransport{Command: serverCmd, TerminateDuration: 2 * time.Second}
	return runClient(ctx, t, log, opts)
}

// session is one demo client run.
type session struct {
	log   io.Writer
	pause time.Duration

	mu       sync.Mutex // guards log writes and progress
	progress int
}

func (s *session) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.log, format, args...)
}

func (s *session) sleep(ctx context.Context) error {
	if s.pause <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.pause):
		return nil
	}
}

// runClient runs the demo session over transport t.
func runClient(ctx context.Context, t mcp.Transport, log io.Writer, opts *ClientOptions) (err error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.ProtocolVersion == "" {
		o.ProtocolVersion = DefaultProtocolVersion
	}
	if o.Pause == 0 {
		o.Pause = DefaultPause
	}
	s := &session{log: log, pause: o.Pause}

	client := mcp.NewClient(&mcp.Implementation{Name: ClientName, Version: ServerVersion}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{}, // a plain client: no roots, sampling or elicitation
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			p := req.Params
			s.printf("  · notifications/progress %g/%g %s\n", p.Progress, p.Total, p.Message)
			s.mu.Lock()
			s.progress++
			s.mu.Unlock()
		},
	})

	if o.ProtocolVersion >= "2026-07-28" {
		s.printf("→ server/discover (protocol %s, stateless)\n", o.ProtocolVersion)
	} else {
		s.printf("→ initialize (protocol %s)\n", o.ProtocolVersion)
	}
	cs, err := client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: o.ProtocolVersion})
	if err != nil {
		return fmt.Errorf("demo: connect to the demo server: %w", err)
	}
	defer func() {
		s.printf("→ close: closing the server's stdin\n")
		if cerr := cs.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("demo: close: %w", cerr)
		}
		if err == nil {
			s.printf("Demo session finished.\n")
		}
	}()
	ir := cs.InitializeResult()
	name := "?"
	if ir.ServerInfo != nil {
		name = ir.ServerInfo.Name + " " + ir.ServerInfo.Version
	}
	s.printf("  ✓ connected to %s, protocol %s\n", name, ir.ProtocolVersion)
	if err := s.sleep(ctx); err != nil {
		return err
	}

	s.printf("→ tools/list\n")
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("demo: tools/list: %w", err)
	}
	var names []string
	for _, tool := range lt.Tools {
		names = append(names, tool.Name)
	}
	s.printf("  ✓ %d tools: %s\n", len(names), strings.Join(names, ", "))
	if err := s.sleep(ctx); err != nil {
		return err
	}

	calls := []struct {
		name      string
		args      map[string]any
		progress  int  // progress notifications expected (0: no progress token)
		wantError bool // expect a tool error (isError)
	}{
		{name: "weather", args: map[string]any{"city": "Lisbon"}},
		{name: "add", args: map[string]any{"a": 2, "b": 3}},
		{name: "divide", args: map[string]any{"a": 1, "b": 0}, wantError: true},
		{name: "countdown", args: map[string]any{"from": 3}, progress: 3},
	}
	for _, c := range calls {
		argJSON, _ := json.Marshal(c.args)
		note := ""
		if c.wantError {
			note = "  (dividing by zero on purpose, to show a tool error)"
		}
		if c.progress > 0 {
			note = "  (with a progress token)"
		}
		s.printf("→ tools/call %s %s%s\n", c.name, argJSON, note)
		p := &mcp.CallToolParams{Name: c.name, Arguments: c.args}
		if c.progress > 0 {
			p.SetProgressToken("demo-" + c.name)
			s.mu.Lock()
			s.progress = 0
			s.mu.Unlock()
		}
		res, err := cs.CallTool(ctx, p)
		if err != nil {
			return fmt.Errorf("demo: tools/call %s: %w", c.name, err)
		}
		if c.progress > 0 {
			// Progress notifications precede the result on the wire, but the
			// SDK may run their handler a moment after CallTool returns.
			deadline := time.Now().Add(time.Second)
			for {
				s.mu.Lock()
				n := s.progress
				s.mu.Unlock()
				if n >= c.progress || time.Now().After(deadline) {
					if n != c.progress {
						return fmt.Errorf("demo: tools/call %s: got %d progress notifications, want %d", c.name, n, c.progress)
					}
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		text := resultText(res)
		switch {
		case res.IsError && c.wantError:
			s.printf("  ✓ tool error (isError: true), as expected: %s\n", text)
		case res.IsError:
			return fmt.Errorf("demo: tools/call %s: unexpected tool error: %s", c.name, text)
		case c.wantError:
			return fmt.Errorf("demo: tools/call %s: want a tool error, got %q", c.name, text)
		default:
			s.printf("  ✓ %s\n", text)
		}
		if err := s.sleep(ctx); err != nil {
			return err
		}
	}
	return nil
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}
