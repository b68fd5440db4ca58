package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
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
			return runWatch(cmd.Context(), opts, []string{self, demoClientHelper})
		},
	}
	bindWatchFlags(cmd, opts)
	return cmd
}

func runDemoClient() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mcpscope demo: %v\n", err)
		return 1
	}
	if err := demo.RunClient(ctx, exec.Command(self, demoServerHelper), os.Stderr); err != nil {
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
