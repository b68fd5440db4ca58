package app

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpscope/mcpscope/internal/store"
	"github.com/mcpscope/mcpscope/internal/store/format"
)

type callsOptions struct {
	io    IO
	env   env
	db    string
	limit int
}

func newCallsCmd(streams IO) *cobra.Command {
	o := &callsOptions{io: streams, env: hostEnv()}
	cmd := &cobra.Command{
		Use:   "calls [--db PATH] [--limit N]",
		Short: "List recent tool calls with their footprint",
		Long: `List the most recent tools/call, resources/read and prompts/get calls recorded by watch, newest first: when,
which server, what was called, how it ended, how long it took, the CPU its server used and the size of its
footprint (system calls, files, programs, connections). mcpscope show ID prints one in full.`,
		Example: `  mcpscope calls
  mcpscope calls --limit 100 --db ./capture.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.limit <= 0 {
				return fmt.Errorf("--limit %d: give a positive number", o.limit)
			}
			path, err := o.env.readDBPath(o.db)
			if err != nil {
				return err
			}
			db, err := store.OpenReadOnly(cmd.Context(), path)
			if err != nil {
				return err
			}
			defer db.Close()
			calls, err := db.RecentCalls(cmd.Context(), o.limit)
			if err != nil {
				return err
			}
			return writeCalls(o.io, calls)
		},
	}
	cmd.Flags().StringVar(&o.db, "db", "", "the database `PATH` (default: where watch records)")
	cmd.Flags().IntVar(&o.limit, "limit", 20, "how many calls to list")
	return cmd
}

func writeCalls(streams IO, calls []store.CallSummary) error {
	if len(calls) == 0 {
		_, err := fmt.Fprintln(streams.Out, "no tool calls recorded yet")
		return err
	}
	res := &store.Result{Columns: []string{"id", "started", "server", "call", "status", "duration", "cpu", "footprint"}}
	for _, c := range calls {
		res.Rows = append(res.Rows, []any{
			c.ID, shortTime(c.StartedAt), serverName(&c), callName(c.Method, c.Name),
			c.Status, duration(c.DurationMs), cpu(c.UserCPUMs, c.SysCPUMs), footprintSummary(&c),
		})
	}
	var b bytes.Buffer
	if err := format.Write(&b, res, format.Table); err != nil {
		return err
	}
	out := b.String()
	out = out[:strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1] // drop the "(N rows)" line
	_, err := fmt.Fprint(streams.Out, out)
	return err
}

// serverName names a call's server: comm[pid], or its address when it is on another host (HTTP, pid 0).
func serverName(c *store.CallSummary) string {
	if c.ServerPid == 0 && c.ServerAddr != "" {
		return c.ServerAddr
	}
	return fmt.Sprintf("%s[%d]", c.ServerComm, c.ServerPid)
}

// callName is how a call is named for people: the tool, prompt or resource, with the method unless it is tools/call.
func callName(method, name string) string {
	if method == "tools/call" {
		return name
	}
	return method + " " + name
}

// shortTime turns a stored time into local time to the millisecond.
func shortTime(stored string) string {
	t, err := time.Parse(time.RFC3339Nano, stored)
	if err != nil {
		return stored
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

func duration(ms *float64) string {
	if ms == nil {
		return "-"
	}
	switch {
	case *ms < 1:
		return strconv.FormatFloat(*ms*1000, 'f', 0, 64) + " µs"
	case *ms < 1000:
		return strconv.FormatFloat(*ms, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(*ms/1000, 'f', 2, 64) + " s"
	}
}

func cpu(user, sys *float64) string {
	if user == nil && sys == nil {
		return "-"
	}
	var u, s float64
	if user != nil {
		u = *user
	}
	if sys != nil {
		s = *sys
	}
	return fmt.Sprintf("%.0f+%.0f ms", u, s)
}

// footprintSummary names the non-empty parts of a call's footprint, or says none was recorded.
func footprintSummary(c *store.CallSummary) string {
	var parts []string
	add := func(n int64, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.Syscalls, "syscall", "syscalls")
	add(c.Files, "file", "files")
	add(c.Programs, "program", "programs")
	add(c.Connections, "connection", "connections")
	add(c.Libraries, "library", "libraries")
	add(c.GPU, "GPU use", "GPU uses")
	if len(parts) == 0 {
		return "none recorded"
	}
	return strings.Join(parts, ", ")
}
