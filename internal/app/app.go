// Package app holds mcpscope's command line: one file per command. Main owns the context, signals and exit codes;
// commands bind their flags into an options struct and run from it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// IO are the streams commands write to; tests swap them.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries an exit status out of a command (e.g. the status of the command run under watch).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the command line and returns the process exit status.
func Main() int {
	// Hidden helpers re-executed by mcpscope itself; they must not parse flags or set up signals.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case execHelper:
			return runExecHelper(os.Args[2:])
		case demoServerHelper:
			return runDemoServer()
		case demoClientHelper:
			return runDemoClient()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	root := newRootCmd(streams)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(streams.Err, "mcpscope: %v\n", err)
		return 1
	}
}

func newRootCmd(streams IO) *cobra.Command {
	opts := &watchOptions{io: streams}
	root := &cobra.Command{
		Use:   "mcpscope [flags] [-- COMMAND ARGS...]",
		Short: "Watch Model Context Protocol traffic on this host with eBPF",
		Long: `mcpscope watches every MCP (JSON-RPC) message exchanged over stdio on this host, without touching the
processes: no proxy, no restart, no code change. Without a subcommand it runs "watch".`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			command, err := commandArgs(cmd, args)
			if err != nil {
				return err
			}
			return runWatch(cmd.Context(), opts, command)
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	bindWatchFlags(root, opts)
	root.AddCommand(newWatchCmd(streams), newCheckCmd(streams), newVersionCmd(streams), newDemoCmd(streams),
		newQueryCmd(streams), newCallsCmd(streams), newShowCmd(streams), newTraceCmd(streams))
	return root
}

// commandArgs returns what follows "--" on the command line; anything before it is a mistake worth naming.
func commandArgs(cmd *cobra.Command, args []string) ([]string, error) {
	at := cmd.ArgsLenAtDash()
	if at < 0 {
		at = len(args)
	}
	if at > 0 {
		return nil, fmt.Errorf("unknown command or argument %q: to watch a command, put it after --, e.g. `mcpscope watch -- %s`; see `mcpscope --help`", args[0], strings.Join(args, " "))
	}
	return args[at:], nil
}
