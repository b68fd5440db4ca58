package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcpscope/mcpscope/internal/demo"
)

// Hidden first arguments with which `mcpscope demo` re-executes itself as the demo's MCP client and server.
const (
	demoClientHelper = "__mcpscope-demo-client"
	demoServerHelper = "__mcpscope-demo-server"
)

func newDemoCmd(streams IO) *cobra.Command {
	opts := &watchOptions{io: streams}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch a small MCP session between a demo client and server (no MCP host needed)",
		Long: `Run a small MCP client and server, built on the official Go SDK, under the monitor, so you can see what
mcpscope shows in a few seconds on a machine with no MCP host installed. Needs the same privileges as watch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find mcpscope's own executable: %w", err)
			}
			// The client and server run as links named demo-client and demo-server, so that the kernel's command
			// names (and so the console lines) tell them apart.
			dir, err := os.MkdirTemp("", "mcpscope-demo-")
			if err != nil {
				return fmt.Errorf("create a directory for the demo: %w", err)
			}
			defer os.RemoveAll(dir)
			client, server := filepath.Join(dir, "demo-client"), filepath.Join(dir, "demo-server")
			for _, link := range []string{client, server} {
				if err := os.Symlink(self, link); err != nil {
					return fmt.Errorf("link the demo programs: %w", err)
				}
			}
			return runWatch(cmd.Context(), opts, []string{client, demoClientHelper, server})
		},
	}
	bindWatchFlags(cmd, opts)
	return cmd
}

func runDemoClient() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mcpscope demo: %v\n", err)
		return 1
	}
	if len(os.Args) > 2 {
		server = os.Args[2] // the demo-server link
	}
	if err := demo.RunClient(ctx, exec.Command(server, demoServerHelper), os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mcpscope demo: %v\n", err)
		return 1
	}
	return 0
}

func runDemoServer() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.RunServer(ctx, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mcpscope demo server: %v\n", err)
		return 1
	}
	return 0
}
