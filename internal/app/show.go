package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpscope/mcpscope/internal/output/storesink"
	"github.com/mcpscope/mcpscope/internal/store"
	"github.com/mcpscope/mcpscope/internal/store/format"
)

type showOptions struct {
	io  IO
	env env
	db  string
}

func newShowCmd(streams IO) *cobra.Command {
	o := &showOptions{io: streams, env: hostEnv()}
	cmd := &cobra.Command{
		Use:   "show [--db PATH] CALL_ID",
		Short: "Show one tool call and its footprint",
		Long: `Show one recorded call (an id from mcpscope calls): who called what with which arguments, how and when it
ended (on the HTTP transports: the HTTP request that carried it and the status it got), and its footprint on the
host: CPU, system calls, files, programs, connections, libraries and GPU.`,
		Example: `  mcpscope calls
  mcpscope show 42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a call id: give the number `mcpscope calls` lists", args[0])
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
			c, err := db.Call(cmd.Context(), id)
			if err != nil {
				return err
			}
			_, err = o.io.Out.Write(renderCall(c))
			return err
		},
	}
	cmd.Flags().StringVar(&o.db, "db", "", "the database `PATH` (default: where watch records)")
	return cmd
}

// maxShown bounds the lines of each footprint section and the characters of free text.
const (
	maxShown   = 15
	maxText    = 300
	labelWidth = 11
)

// renderCall prints a call for people. Every string from the traced processes is escaped (format.Escape).
func renderCall(c *store.CallDetail) []byte {
	var b bytes.Buffer
	s := &c.Summary
	line := func(label, text string) { fmt.Fprintf(&b, "%-*s %s\n", labelWidth, label, text) }
	fmt.Fprintf(&b, "call %d: %s\n\n", s.ID, format.Escape(callName(s.Method, s.Name), maxText))
	if s.Method == storesink.MethodTrace { // mcpscope trace: a process tree, no MCP session
		line("traced", fmt.Sprintf("%s and its descendants, from %s", peer(s.ServerComm, s.ServerPid, ""), shortTime(s.StartedAt)))
	} else {
		line("session", fmt.Sprintf("%s, client %s → server %s", format.Escape(s.Session, maxText),
			peer(c.ClientComm, c.ClientPid, c.ClientAddr), peer(s.ServerComm, s.ServerPid, s.ServerAddr)))
		line("request", fmt.Sprintf("id %s at %s", format.Escape(c.RPCID, 40), shortTime(s.StartedAt)))
	}
	if h := httpSummary(c); h != "" {
		line("http", h)
	}
	if c.Arguments != "" {
		line("arguments", oneLine(c.Arguments, maxText))
	}
	status := s.Status
	switch s.Status {
	case store.StatusRunning:
		status = "running: no response recorded yet"
	case store.StatusUnanswered:
		status = "unanswered: the capture (or the session) ended first"
	case store.StatusCancelled:
		status = "cancelled by the client, never answered"
	}
	line("status", status)
	if c.EndedAt != "" {
		late := ""
		if c.Cancelled {
			late = " (after the client cancelled it)"
		}
		line("ended", fmt.Sprintf("%s, after %s%s", shortTime(c.EndedAt), duration(s.DurationMs), late))
	}
	if c.Response != nil {
		line("result", resultSummary(c))
	}
	progress := 0
	for _, n := range c.Notifications {
		if n.Method == "notifications/progress" {
			progress++
		}
	}
	if progress > 0 {
		line("progress", fmt.Sprintf("%d notifications", progress))
	}

	b.WriteString("\nfootprint")
	if c.FootprintShare {
		b.WriteString(" (some rows are shared with calls that ran at the same time on the same server)")
	}
	b.WriteString("\n")
	if s.UserCPUMs == nil && s.SysCPUMs == nil {
		line("  CPU", "none recorded")
	} else {
		line("  CPU", cpuDetail(s.UserCPUMs, s.SysCPUMs))
	}
	section(&b, "  syscalls", len(c.Syscalls), func(i int) string {
		r := c.Syscalls[i]
		text := fmt.Sprintf("%-16s %6d calls  %s", format.Escape(r.Name, 16), r.Count, duration(ptr(float64(r.TotalNs)/1e6)))
		if r.Errors > 0 {
			text += fmt.Sprintf("  %d failed%s", r.Errors, errnos(r.Errnos))
		}
		return text + pidSuffix(r.Pid, s.ServerPid)
	})
	section(&b, "  files", len(c.Files), func(i int) string {
		r := c.Files[i]
		text := format.Escape(r.Path, maxText)
		if r.Flags != "" {
			text += "  " + format.Escape(r.Flags, 60)
		}
		if r.Result != "ok" {
			text += "  ✗ " + format.Escape(r.Result, 20)
		}
		if r.Count > 1 {
			text += fmt.Sprintf("  ×%d", r.Count)
		}
		return text + pidSuffix(r.Pid, s.ServerPid)
	})
	section(&b, "  programs", len(c.Execs), func(i int) string {
		r := c.Execs[i]
		argv := make([]string, len(r.Argv))
		for j, a := range r.Argv {
			argv[j] = a
			if strings.ContainsAny(a, " \t\"'") || a == "" {
				argv[j] = strconv.Quote(a)
			}
		}
		text := fmt.Sprintf("%s  pid %d, parent %d", format.Escape(strings.Join(argv, " "), maxText), r.Pid, r.Ppid)
		if r.ExitCode != nil {
			text += fmt.Sprintf(", exit %d", *r.ExitCode)
		} else {
			text += ", still running when the call ended"
		}
		if r.DurationMs != nil {
			text += ", " + duration(r.DurationMs)
		}
		return text
	})
	section(&b, "  network", len(c.Connections), func(i int) string {
		r := c.Connections[i]
		addr := format.Escape(r.RemoteAddr, 80)
		if r.RemotePort != nil {
			if strings.Contains(addr, ":") {
				addr = "[" + addr + "]"
			}
			addr += ":" + strconv.Itoa(*r.RemotePort)
		}
		text := fmt.Sprintf("%-7s %-5s %s  %s", format.Escape(r.Op, 10), format.Escape(r.Family, 5), addr, format.Escape(r.Result, 20))
		if r.Count > 1 {
			text += fmt.Sprintf("  ×%d", r.Count)
		}
		return text + pidSuffix(r.Pid, s.ServerPid)
	})
	section(&b, "  libraries", len(c.Libraries), func(i int) string {
		r := c.Libraries[i]
		return format.Escape(r.Path, maxText) + pidSuffix(r.Pid, s.ServerPid)
	})
	section(&b, "  GPU", len(c.GPU), func(i int) string {
		r := c.GPU[i]
		text := fmt.Sprintf("%-11s %s", format.Escape(r.Kind, 12), format.Escape(r.Detail, maxText))
		if r.Count > 1 {
			text += fmt.Sprintf("  ×%d", r.Count)
		}
		return text + pidSuffix(r.Pid, s.ServerPid)
	})
	return b.Bytes()
}

// peer names one side of a call: comm[pid], with the socket's address on HTTP; a peer on another host (pid 0) by
// its address alone.
func peer(comm string, pid int64, addr string) string {
	switch {
	case addr == "":
		return fmt.Sprintf("%s[%d]", format.Escape(comm, 32), pid)
	case pid == 0:
		return format.Escape(addr, 64)
	default:
		return fmt.Sprintf("%s[%d] at %s", format.Escape(comm, 32), pid, format.Escape(addr, 64))
	}
}

// httpSummary describes the HTTP exchange of a call on the HTTP transports, "" on stdio: the transport, the
// request's method and path, the status and media type of the response that carried the final answer, and the
// MCP session id (a fingerprint unless watch ran with --no-redact).
func httpSummary(c *store.CallDetail) string {
	req := c.Request
	if req == nil || req.HTTP.Method == "" && req.HTTP.Path == "" {
		return ""
	}
	text := format.Escape(strings.TrimSpace(req.HTTP.Method+" "+req.HTTP.Path), 80)
	if resp := c.Response; resp != nil && resp.HTTP.Status != 0 {
		text += " → " + strconv.FormatInt(resp.HTTP.Status, 10)
		if reason := http.StatusText(int(resp.HTTP.Status)); reason != "" {
			text += " " + reason
		}
		if resp.HTTP.ContentType != "" {
			text += " (" + format.Escape(resp.HTTP.ContentType, 40) + ")"
		}
	}
	if req.Transport != "" {
		text += " over " + format.Escape(req.Transport, 8)
	}
	if req.HTTP.SessionID != "" {
		text += ", session id " + format.Escape(req.HTTP.SessionID, 80)
	}
	return text
}

// section prints a footprint section: its rows (at most maxShown), or "none recorded".
func section(b *bytes.Buffer, label string, n int, row func(int) string) {
	if n == 0 {
		fmt.Fprintf(b, "%-*s none recorded\n", labelWidth, label)
		return
	}
	for i := range min(n, maxShown) {
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(b, "%-*s %s\n", labelWidth, label, row(i))
	}
	if n > maxShown {
		fmt.Fprintf(b, "%-*s … and %d more (mcpscope query has them all)\n", labelWidth, "", n-maxShown)
	}
}

func pidSuffix(pid int, server int64) string {
	if int64(pid) == server {
		return ""
	}
	return fmt.Sprintf("  (pid %d)", pid)
}

func errnos(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return m[names[i]] > m[names[j]] || m[names[i]] == m[names[j]] && names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s×%d", format.Escape(k, 20), m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func cpuDetail(user, sys *float64) string {
	v := func(p *float64) string {
		if p == nil {
			return "?"
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	return fmt.Sprintf("%s ms user, %s ms kernel (the server's process tree)", v(user), v(sys))
}

func ptr[T any](v T) *T { return &v }

// resultSummary describes a call's response: the JSON-RPC error, or what the result holds.
func resultSummary(c *store.CallDetail) string {
	if c.ErrorCode != nil {
		return fmt.Sprintf("✗ JSON-RPC error %d: %s", *c.ErrorCode, oneLine(c.ErrorMessage, maxText))
	}
	resp := c.Response
	if resp.Message == "" {
		return fmt.Sprintf("%d bytes (not recorded: bytes were lost)", resp.Size)
	}
	var r struct {
		Result struct {
			Content  []json.RawMessage `json:"content"`
			Contents []json.RawMessage `json:"contents"`
			Messages []json.RawMessage `json:"messages"`
			IsError  bool              `json:"isError"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(resp.Message), &r); err != nil {
		return fmt.Sprintf("%d bytes (not valid JSON: %v)", resp.Size, err)
	}
	var parts []string
	prefix := ""
	if r.Result.IsError {
		prefix = "✗ tool error: "
	}
	items := r.Result.Content
	what := "content item"
	switch {
	case c.Summary.Method == "resources/read":
		items, what = r.Result.Contents, "resource content"
	case c.Summary.Method == "prompts/get":
		items, what = r.Result.Messages, "prompt message"
	}
	plural := "s"
	if len(items) == 1 {
		plural = ""
	}
	parts = append(parts, fmt.Sprintf("%d %s%s", len(items), what, plural))
	if len(items) > 0 {
		var first struct {
			Type    string          `json:"type"`
			Text    string          `json:"text"`
			URI     string          `json:"uri"`
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(items[0], &first) == nil {
			switch {
			case first.Text != "":
				parts = append(parts, fmt.Sprintf("%s: %q", first.Type, first.Text))
			case first.URI != "":
				parts = append(parts, "uri "+first.URI)
			case first.Role != "":
				parts = append(parts, "role "+first.Role)
			case first.Type != "":
				parts = append(parts, first.Type)
			}
		}
	}
	return prefix + oneLine(strings.Join(parts, ", "), maxText) + fmt.Sprintf(" (%d bytes)", resp.Size)
}
