package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/mcp"
	"github.com/mcpscope/mcpscope/internal/output/storesink"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/store"
)

// run executes the command line with the given args and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "mcpscope ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

func TestStrayArgumentsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"npx", "server"}, {"watch", "npx"}} {
		_, _, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "put it after --") {
			t.Errorf("%v: error %v, want a hint to use --", args, err)
		}
	}
}

func TestUnknownPidIsAnError(t *testing.T) {
	_, _, err := run(t, "watch", "--pid", "999999999")
	if err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Fatalf("error %v, want no such process", err)
	}
}

// testDB records a small capture into a database in t.TempDir with the real sink and store: an echo call
// answered with a footprint, a tool error, a cancelled call, and a resources/read with a JSON-RPC error.
func testDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC)
	sink := storesink.New(st, storesink.Options{Version: "test", Now: func() time.Time { return t0 }})
	client, server := record.Endpoint{Pid: 4242, Comm: "claude"}, record.Endpoint{Pid: 4250, Comm: "node"}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	msg := func(ms int, typ, id, method, tool, body string, fromClient bool) *record.Message {
		m := &record.Message{Kind: "message", Time: at(ms), Transport: "stdio", Session: "stdio:4242-4250", Type: typ, Method: method,
			Tool: tool, Message: json.RawMessage(body), Size: len(body), From: client, To: server, Direction: record.ClientToServer}
		if !fromClient {
			m.From, m.To, m.Direction = server, client, record.ServerToClient
		}
		if id != "" {
			m.ID = json.RawMessage(id)
		}
		if ps, err := mcp.Parse(m.Message); err == nil {
			m.Arguments = ps[0].Arguments // as the pipeline labels it
		}
		return m
	}
	lat := func(v float64) *float64 { return &v }
	yes := true
	msgs := []*record.Message{
		msg(0, "request", "1", "tools/call", "echo", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi\u001b[31m"}}}`, true),
		msg(3, "response", "1", "tools/call", "echo", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}`, false),
		msg(10, "request", "2", "tools/call", "fail\x1b[2J", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fail","arguments":{}}}`, true),
		msg(12, "response", "2", "tools/call", "fail\x1b[2J", `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"disk full"}],"isError":true}}`, false),
		msg(20, "request", "3", "tools/call", "slow", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{"seconds":60}}}`, true),
		msg(25, "notification", "", "notifications/cancelled", "", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`, true),
		msg(30, "request", "4", "resources/read", "", `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"file:///nope"}}`, true),
		msg(31, "response", "4", "resources/read", "", `{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Resource not found"}}`, false),
	}
	msgs[1].LatencyMs, msgs[3].LatencyMs, msgs[7].LatencyMs = lat(3), lat(2), lat(1)
	msgs[3].IsError = &yes
	msgs[5].RelatedID = json.RawMessage("3")
	msgs[6].Resource, msgs[7].Resource = "file:///nope", "file:///nope"
	msgs[7].Error = &record.RPCError{Code: -32602, Message: "Resource not found"}
	for _, m := range msgs {
		if err := sink.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	sink.AddFootprint(store.Footprint{CallID: 1, UserCPUMs: lat(12), SysCPUMs: lat(3),
		Syscalls:    []store.Syscall{{Pid: 4250, Name: "openat", Count: 7, Errors: 2, Errnos: map[string]uint64{"ENOENT": 2}, TotalNs: 2_000_000}},
		Files:       []store.File{{Pid: 4251, Path: "/etc/hosts", Flags: "O_RDONLY", Result: "ok"}},
		Execs:       []store.Exec{{Pid: 4251, Ppid: 4250, Filename: "/bin/sh", Argv: []string{"sh", "-c", "echo hi"}, ExitCode: new(int)}},
		Connections: []store.Connection{{Pid: 4250, Op: "connect", Family: "ipv4", RemoteAddr: "127.0.0.1", RemotePort: ptrInt(8080), Result: "ok"}},
	})
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func ptrInt(v int) *int { return &v }

func TestDefaultDBPath(t *testing.T) {
	home := func() (string, error) { return "/home/ann", nil }
	for _, tc := range []struct {
		name   string
		euid   int
		xdg    string
		exists []string
		flag   string
		write  string // where watch records
		read   string // what query reads
	}{
		{name: "root", euid: 0, write: "/var/lib/mcpscope/mcpscope.db", read: "/var/lib/mcpscope/mcpscope.db"},
		{name: "user", euid: 1000, write: "/home/ann/.local/state/mcpscope/mcpscope.db", read: "/home/ann/.local/state/mcpscope/mcpscope.db"},
		{name: "xdg", euid: 1000, xdg: "/xdg", write: "/xdg/mcpscope/mcpscope.db", read: "/xdg/mcpscope/mcpscope.db"},
		{name: "relative xdg is ignored", euid: 1000, xdg: "state", write: "/home/ann/.local/state/mcpscope/mcpscope.db", read: "/home/ann/.local/state/mcpscope/mcpscope.db"},
		{name: "user reads root's when it has none", euid: 1000, exists: []string{rootDBPath}, write: "/home/ann/.local/state/mcpscope/mcpscope.db", read: rootDBPath},
		{name: "user's own first", euid: 1000, exists: []string{rootDBPath, "/home/ann/.local/state/mcpscope/mcpscope.db"}, write: "/home/ann/.local/state/mcpscope/mcpscope.db", read: "/home/ann/.local/state/mcpscope/mcpscope.db"},
		{name: "flag", euid: 1000, flag: "x.db", exists: []string{rootDBPath}, write: "/home/ann/.local/state/mcpscope/mcpscope.db", read: "x.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env{euid: tc.euid, getenv: func(k string) string {
				if k == "XDG_STATE_HOME" {
					return tc.xdg
				}
				return ""
			}, home: home, exists: func(p string) bool { return slices.Contains(tc.exists, p) }}
			if got, err := e.defaultDBPath(); err != nil || got != tc.write {
				t.Errorf("defaultDBPath = %q, %v; want %q", got, err, tc.write)
			}
			if got, err := e.readDBPath(tc.flag); err != nil || got != tc.read {
				t.Errorf("readDBPath = %q, %v; want %q", got, err, tc.read)
			}
		})
	}
}

func TestQuerySchema(t *testing.T) {
	out, _, err := run(t, "query", "--schema")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := store.WriteText(&want); err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("query --schema is not store.WriteText")
	}
	if !strings.Contains(out, "table tool_calls: ") || !strings.Contains(out, "\n  duration_ms          REAL     Milliseconds from the request") {
		t.Errorf("query --schema:\n%s", out)
	}
}

func TestQueryFormats(t *testing.T) {
	db := testDB(t)
	const q = "SELECT id, tool, status, duration_ms, cancelled, arguments FROM tool_calls ORDER BY id"
	for _, tc := range []struct{ format, want string }{
		// The table escapes what could drive a terminal (the ESC in a tool name); CSV and JSON carry it exactly.
		{"table", `id  tool         status      duration_ms  cancelled  arguments
--  -----------  ----------  -----------  ---------  --------------------------
 1  echo         ok                    3          0  {"message":"hi\u001b[31m"}
 2  fail\x1b[2J  tool_error            2          0  {}
 3  slow         cancelled          NULL          1  {"seconds":60}
 4  NULL         error                 1          0  NULL
(4 rows)
`},
		{"csv", "id,tool,status,duration_ms,cancelled,arguments\n1,echo,ok,3,0,\"{\"\"message\"\":\"\"hi\\u001b[31m\"\"}\"\n2,fail\x1b[2J,tool_error,2,0,{}\n3,slow,cancelled,,1,\"{\"\"seconds\"\":60}\"\n4,,error,1,0,\n"},
		{"json", `[
  {"id": 1, "tool": "echo", "status": "ok", "duration_ms": 3, "cancelled": 0, "arguments": "{\"message\":\"hi\\u001b[31m\"}"},
  {"id": 2, "tool": "fail\u001b[2J", "status": "tool_error", "duration_ms": 2, "cancelled": 0, "arguments": "{}"},
  {"id": 3, "tool": "slow", "status": "cancelled", "duration_ms": null, "cancelled": 1, "arguments": "{\"seconds\":60}"},
  {"id": 4, "tool": null, "status": "error", "duration_ms": 1, "cancelled": 0, "arguments": null}
]
`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			out, _, err := run(t, "query", "--db", db, "--format", tc.format, q)
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tc.want)
			}
		})
	}
	// JSON output decodes with the right types.
	out, _, err := run(t, "query", "--db", db, "--format", "json", "SELECT count(*) AS n, avg(duration_ms) AS avg, max(tool) AS t FROM tool_calls")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0]["n"] != 4.0 || rows[0]["avg"] != 2.0 || rows[0]["t"] != "slow" {
		t.Errorf("json: %v %v: %s", rows, err, out)
	}
	out, _, err = run(t, "query", "--db", db, "SELECT 1 WHERE 0")
	if err != nil || out != "1\n-\n(0 rows)\n" {
		t.Errorf("empty result: %q, %v", out, err)
	}
}

func TestQueryErrors(t *testing.T) {
	db := testDB(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"write", []string{"query", "--db", db, "DELETE FROM messages"}, "query: refused: the statement would change the database, and queries are read-only"},
		{"attach", []string{"query", "--db", db, "ATTACH 'x.db' AS x"}, "query: refused: ATTACH and VACUUM are not allowed"},
		{"syntax", []string{"query", "--db", db, "SELEC 1"}, `query: near "SELEC": syntax error`},
		{"column", []string{"query", "--db", db, "SELECT nme FROM tool_calls"}, "query: no such column: nme"},
		{"no sql", []string{"query", "--db", db}, "give one SQL statement"},
		{"two args", []string{"query", "--db", db, "SELECT", "1"}, "give one SQL statement"},
		{"format", []string{"query", "--db", db, "--format", "xml", "SELECT 1"}, `--format "xml": use table, csv or json`},
		{"schema and sql", []string{"query", "--schema", "SELECT 1"}, "--schema takes no SQL"},
		{"missing db", []string{"query", "--db", filepath.Join(t.TempDir(), "none.db"), "SELECT 1"}, "no database at"},
		{"show missing", []string{"show", "--db", db, "99"}, "call 99: no such call in"},
		{"show bad id", []string{"show", "--db", db, "abc"}, `"abc" is not a call id`},
		{"calls limit", []string{"calls", "--db", db, "--limit", "0"}, "--limit 0: give a positive number"},
		{"db and no-db", []string{"watch", "--db", "x.db", "--no-db"}, "none of the others can be"},
		{"db cap", []string{"watch", "--db-max-mb", "-1"}, "--db-max-mb -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Nothing was changed by the refused statements.
	out, _, err := run(t, "query", "--db", db, "--format", "csv", "SELECT count(*) FROM messages")
	if err != nil || out != "count(*)\n8\n" {
		t.Errorf("messages after refused writes: %q %v", out, err)
	}
}

func TestCalls(t *testing.T) {
	db := testDB(t)
	out, _, err := run(t, "calls", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want a header, a rule and 4 calls:\n%s", len(lines), out)
	}
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "id started server call status duration cpu footprint" {
		t.Errorf("header %q", lines[0])
	}
	local := func(ms int) string {
		return time.Date(2026, 11, 22, 7, 18, 12, ms*1e6, time.UTC).Local().Format("2006-01-02 15:04:05.000")
	}
	for i, want := range []string{
		" 4  " + local(30) + "  node[4250]  resources/read file:///nope  error       1.0 ms    -        none recorded",
		" 3  " + local(20) + "  node[4250]  slow                         cancelled   -         -        none recorded",
		" 2  " + local(10) + "  node[4250]  fail\\x1b[2J                  tool_error  2.0 ms    -        none recorded",
		" 1  " + local(0) + "  node[4250]  echo                         ok          3.0 ms    12+3 ms  7 syscalls, 1 file, 1 program, 1 connection",
	} {
		if got := strings.TrimRight(lines[i+2], " "); got != want {
			t.Errorf("line %d:\n got %q\nwant %q", i+2, got, want)
		}
	}
	out, _, err = run(t, "calls", "--db", db, "--limit", "1")
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Errorf("--limit 1: %q %v", out, err)
	}
}

func TestShow(t *testing.T) {
	db := testDB(t)
	out, _, err := run(t, "show", "--db", db, "1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC).Local().Format("2006-01-02 15:04:05.000")
	end := time.Date(2026, 11, 22, 7, 18, 12, 3e6, time.UTC).Local().Format("2006-01-02 15:04:05.000")
	want := `call 1: echo

session     stdio:4242-4250, client claude[4242] → server node[4250]
request     id 1 at ` + start + `
arguments   {"message":"hi\u001b[31m"}
status      ok
ended       ` + end + `, after 3.0 ms
result      1 content item, text: "Echo: hi" (81 bytes)

footprint
  CPU       12.0 ms user, 3.0 ms kernel (the server's process tree)
  syscalls  openat                7 calls  2.0 ms  2 failed (ENOENT×2)
  files     /etc/hosts  O_RDONLY  (pid 4251)
  programs  sh -c "echo hi"  pid 4251, parent 4250, exit 0
  network   connect ipv4  127.0.0.1:8080  ok
  libraries none recorded
  GPU       none recorded
`
	if out != want {
		t.Errorf("show 1:\n%s\nwant:\n%s", out, want)
	}
	for id, parts := range map[string][]string{
		"2": {"call 2: fail\\x1b[2J\n", "status      tool_error", "result      ✗ tool error: 1 content item, text: \"disk full\""},
		"3": {"status      cancelled by the client, never answered", "  CPU       none recorded", "  syscalls  none recorded", "  programs  none recorded", "  network   none recorded"},
		"4": {"call 4: resources/read file:///nope", "result      ✗ JSON-RPC error -32602: Resource not found"},
	} {
		out, _, err := run(t, "show", "--db", db, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Errorf("show %s: no %q in\n%s", id, p, out)
			}
		}
	}
}

func TestNearestRoots(t *testing.T) {
	// 1 ─ 10 (root) ─ 11 ─ 12 (root) ─ 13
	//                    └ 14
	procs := []procfs.Proc{{Pid: 10, PPid: 1}, {Pid: 11, PPid: 10}, {Pid: 12, PPid: 11}, {Pid: 13, PPid: 12}, {Pid: 14, PPid: 11}, {Pid: 20, PPid: 1}}
	got := nearestRoots(procs, map[int]bool{10: true, 12: true})
	slices.Sort(got[10])
	if !slices.Equal(got[10], []int{11, 14}) || !slices.Equal(got[12], []int{13}) || len(got) != 2 {
		t.Errorf("nearestRoots = %v, want 10: [11 14], 12: [13]", got)
	}
}

// TestLimitMemory: --memory-limit-mb sets the runtime's soft limit, unless GOMEMLIMIT set one already; 0 sets none
// and a negative size is refused.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	const unset = math.MaxInt64 // the runtime's "no limit"
	for _, c := range []struct {
		mb         int
		gomemlimit string
		want       int64
	}{{16, "", 16 << 20}, {0, "", unset}, {16, "1GiB", unset}} {
		debug.SetMemoryLimit(unset)
		t.Setenv("GOMEMLIMIT", c.gomemlimit)
		if err := (&watchOptions{memLimitMB: c.mb}).limitMemory(); err != nil {
			t.Fatalf("--memory-limit-mb %d: %v", c.mb, err)
		}
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("--memory-limit-mb %d, GOMEMLIMIT=%q: limit %d, want %d", c.mb, c.gomemlimit, got, c.want)
		}
	}
	if err := (&watchOptions{memLimitMB: -1}).limitMemory(); err == nil || !strings.Contains(err.Error(), "--memory-limit-mb -1") {
		t.Errorf("--memory-limit-mb -1: %v", err)
	}
}
