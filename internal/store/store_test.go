package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

var t0 = time.Date(2026, 11, 22, 7, 18, 12, 123456789, time.UTC)

func ptr[T any](v T) *T { return &v }

func openStore(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	st, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return st
}

func closeStore(t *testing.T, st *Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func openRO(t *testing.T, path string) *DB {
	t.Helper()
	db, err := OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// query returns the rows of q as text, one line per row, values separated by "|" (NULL as "NULL").
func query(t *testing.T, db *DB, q string) string {
	t.Helper()
	res, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var b strings.Builder
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteString("|")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprint(&b, v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// sampleBatch is one capture, two processes, a session, a call with its request and response, and a footprint
// with a row of every kind.
func sampleBatch(st *Store) *Batch {
	client := record.Endpoint{Pid: 4242, Comm: "claude"}
	server := record.Endpoint{Pid: 4250, Comm: "node"}
	capID, sessID, callID := st.NextID(IDCapture), st.NextID(IDSession), st.NextID(IDCall)
	reqID, respID := st.NextID(IDMessage), st.NextID(IDMessage)
	req := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`)
	resp := []byte(`{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":3}`)
	return &Batch{
		Captures:  []Capture{{ID: capID, StartedAt: t0, Version: "test", Hostname: "host", Pid: 1}},
		Processes: []Process{{ID: st.NextID(IDProcess), CaptureID: capID, Pid: 4242, Comm: "claude", FirstSeen: t0, LastSeen: t0.Add(time.Second)}, {ID: st.NextID(IDProcess), CaptureID: capID, Pid: 4250, Comm: "node", FirstSeen: t0, LastSeen: t0.Add(time.Second)}},
		Sessions: []Session{{ID: sessID, CaptureID: capID, Name: "stdio:4242-4250", Transport: "stdio", Client: client, Server: server,
			Era: "legacy", ProtocolVersion: "2025-11-25", FirstSeen: t0, LastSeen: t0.Add(time.Second), Messages: 2}},
		Calls: []Call{{ID: callID, SessionID: sessID, Method: "tools/call", Tool: "echo", RPCID: "3", Client: client, Server: server,
			Arguments: []byte(`{"message":"hi"}`), StartedAt: t0, EndedAt: t0.Add(1500 * time.Microsecond), DurationMs: ptr(1.5),
			Status: StatusOK, IsError: ptr(false), RequestMessageID: reqID, ResponseMessageID: respID}},
		Messages: []Message{
			{ID: reqID, SessionID: sessID, CallID: callID, Record: record.Message{Kind: "message", Time: t0, Transport: "stdio", Session: "stdio:4242-4250",
				Direction: record.ClientToServer, Type: record.TypeRequest, ID: json.RawMessage("3"), Method: "tools/call", Tool: "echo",
				From: client, To: server, Size: len(req), Era: "legacy", ProtocolVersion: "2025-11-25", Message: req}},
			{ID: respID, SessionID: sessID, CallID: callID, Record: record.Message{Kind: "message", Time: t0.Add(1500 * time.Microsecond), Transport: "stdio",
				Session: "stdio:4242-4250", Direction: record.ServerToClient, Type: record.TypeResponse, ID: json.RawMessage("3"), Method: "tools/call",
				Tool: "echo", From: server, To: client, Size: len(resp), LatencyMs: ptr(1.5), IsError: ptr(false), Message: resp}},
		},
		Footprints: []Footprint{{
			CallID: callID, UserCPUMs: ptr(12.5), SysCPUMs: ptr(3.25),
			Syscalls:    []Syscall{{Pid: 4250, Name: "openat", Count: 7, Errors: 2, Errnos: map[string]uint64{"ENOENT": 2}, TotalNs: 9000}},
			Files:       []File{{Pid: 4251, Path: "/etc/hosts", Flags: "O_RDONLY|O_CLOEXEC", Result: "ok"}},
			Execs:       []Exec{{Pid: 4251, Ppid: 4250, Filename: "/bin/sh", Argv: []string{"sh", "-c", "echo hi"}, ExitCode: ptr(0), StartedAt: t0, DurationMs: ptr(0.75)}},
			Connections: []Connection{{Pid: 4250, Op: "connect", Family: "ipv4", RemoteAddr: "127.0.0.1", RemotePort: ptr(8080), Result: "ok"}},
			Libraries:   []Library{{Pid: 4251, Path: "/lib/x86_64-linux-gnu/libc.so.6", Kind: "library"}},
			GPU:         []GPUUse{{Pid: 4250, Shared: true, Kind: "device", Detail: "/dev/nvidia0", Count: 2}},
		}},
	}
}

// TestDatabaseMatchesSchema checks a new database against the schema table: every table and view with its
// columns (names and declared types, in order) and indexes, the description tables, the version and the file
// settings (WAL, incremental auto-vacuum).
func TestDatabaseMatchesSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	closeStore(t, openStore(t, path, Options{}))
	// Opening again must leave it as it is (migrations are idempotent, descriptions refreshed).
	closeStore(t, openStore(t, path, Options{}))
	checkMatchesSchema(t, path)
}

// checkMatchesSchema checks the database at path against the schema table.
func checkMatchesSchema(t *testing.T, path string) {
	t.Helper()
	db := openRO(t, path)
	ctx := context.Background()
	var have []string
	for _, row := range mustRows(t, db, "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name") {
		have = append(have, row[1].(string)+" "+row[0].(string))
	}
	var want []string
	for _, tb := range schema {
		want = append(want, tb.Kind()+" "+tb.Name)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("database objects\n got %v\nwant %v", have, want)
	}
	for _, tb := range schema {
		rows := mustRows(t, db, fmt.Sprintf("SELECT name, type FROM pragma_table_info('%s') ORDER BY cid", tb.Name))
		var got, exp []string
		for _, r := range rows {
			got = append(got, r[0].(string)+" "+r[1].(string))
		}
		for i, c := range tb.Columns {
			if tb.View && i < len(got) { // a view column's type is its expression's
				got[i], _, _ = strings.Cut(got[i], " ")
				exp = append(exp, c.Name)
				continue
			}
			exp = append(exp, c.Name+" "+c.Type)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: columns\n got %v\nwant %v", tb.Name, got, exp)
		}
		for _, ix := range tb.Indexes {
			name := indexName(tb.Name, ix)
			if len(mustRows(t, db, fmt.Sprintf("SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = '%s' AND tbl_name = '%s'", name, tb.Name))) != 1 {
				t.Errorf("%s: no index %s", tb.Name, name)
			}
		}
		// The description tables say the same.
		d := mustRows(t, db, fmt.Sprintf("SELECT kind, description FROM schema_tables WHERE name = '%s'", tb.Name))
		if len(d) != 1 || d[0][0] != tb.Kind() || d[0][1] != tb.Doc {
			t.Errorf("schema_tables row for %s: %v", tb.Name, d)
		}
		cols := mustRows(t, db, fmt.Sprintf("SELECT position, name, type, description FROM schema_columns WHERE table_name = '%s' ORDER BY position", tb.Name))
		if len(cols) != len(tb.Columns) {
			t.Errorf("schema_columns: %d rows for %s, want %d", len(cols), tb.Name, len(tb.Columns))
			continue
		}
		for i, c := range tb.Columns {
			if cols[i][0] != int64(i) || cols[i][1] != c.Name || cols[i][2] != c.Type || cols[i][3] != c.Doc {
				t.Errorf("schema_columns row %v, want %d %s %s %q", cols[i], i, c.Name, c.Type, c.Doc)
			}
		}
	}
	for q, want := range map[string]any{
		"PRAGMA user_version": int64(SchemaVersion),
		"PRAGMA journal_mode": "wal",
		"PRAGMA auto_vacuum":  int64(2), // incremental
		"PRAGMA query_only":   int64(1), // the read-only connection
	} {
		var got any
		if err := db.conn.QueryRowContext(ctx, q).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", q, got, err, want)
		}
	}
}

func mustRows(t *testing.T, db *DB, q string) [][]any {
	t.Helper()
	res, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

// TestWriteBatch writes one batch of every kind of row and reads it back, through SQL and through Call.
func TestWriteBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	st := openStore(t, path, Options{})
	if !st.Submit(sampleBatch(st)) {
		t.Fatal("Submit refused the batch")
	}
	closeStore(t, st)
	if s := st.Stats(); s.RowsWritten != 13 || s.RowsDropped != 0 || s.Commits != 1 {
		t.Errorf("stats %+v, want 13 rows in 1 commit", s)
	}
	db := openRO(t, path)
	for q, want := range map[string]string{
		"SELECT id, started_at, ended_at, version, hostname, pid, counters, rows_dropped FROM captures":                                           "1|2026-11-22T07:18:12.123456789Z|NULL|test|host|1|NULL|0\n",
		"SELECT pid, comm FROM processes ORDER BY id":                                                                                             "4242|claude\n4250|node\n",
		"SELECT id, capture_id, name, transport, client_pid, client_comm, server_pid, server_comm, era, protocol_version, messages FROM sessions": "1|1|stdio:4242-4250|stdio|4242|claude|4250|node|legacy|2025-11-25|2\n",
		"SELECT id, session_id, method, tool, rpc_id, arguments, started_at, ended_at, duration_ms, status, is_error, error_code, cancelled, request_message_id, response_message_id, user_cpu_ms, sys_cpu_ms FROM tool_calls": "1|1|tools/call|echo|3|{\"message\":\"hi\"}|2026-11-22T07:18:12.123456789Z|2026-11-22T07:18:12.124956789Z|1.5|ok|0|NULL|0|1|2|12.5|3.25\n",
		"SELECT id, call_id, type, rpc_id, method, tool, from_comm, to_comm, latency_ms, is_error, late, truncated, json_extract(message, '$.params.arguments.message') FROM messages ORDER BY id":                             "1|1|request|3|tools/call|echo|claude|node|NULL|NULL|0|0|hi\n2|1|response|3|tools/call|echo|node|claude|1.5|0|0|0|NULL\n",
		"SELECT call_id, pid, shared, name, count, errors, errnos, total_ns FROM syscalls":                                                                                                                                     "1|4250|0|openat|7|2|{\"ENOENT\":2}|9000\n",
		"SELECT call_id, pid, path, flags, result, count FROM files":                                                                                                                                                           "1|4251|/etc/hosts|O_RDONLY|O_CLOEXEC|ok|1\n",
		"SELECT call_id, pid, ppid, filename, argv, exit_code, duration_ms FROM execs":                                                                                                                                         "1|4251|4250|/bin/sh|[\"sh\",\"-c\",\"echo hi\"]|0|0.75\n",
		"SELECT call_id, op, family, remote_addr, remote_port, result FROM connections":                                                                                                                                        "1|connect|ipv4|127.0.0.1|8080|ok\n",
		"SELECT call_id, path, kind FROM libraries":                                                                                                                                                                            "1|/lib/x86_64-linux-gnu/libc.so.6|library\n",
		"SELECT call_id, shared, kind, detail, count FROM gpu":                                                                                                                                                                 "1|1|device|/dev/nvidia0|2\n",
		"SELECT call_id, name, filename, exit_code FROM calls_with_programs":                                                                                                                                                   "1|echo|/bin/sh|0\n",
		"SELECT call_id, name, op, remote_addr, remote_port FROM calls_with_network":                                                                                                                                           "1|echo|connect|127.0.0.1|8080\n",
		"SELECT call_id, name, path FROM calls_with_files":                                                                                                                                                                     "1|echo|/etc/hosts\n",
		"SELECT call_id, name, duration_ms, status FROM slowest_calls":                                                                                                                                                         "1|echo|1.5|ok\n",
		"SELECT method, name, server_comm, calls, answered, failed, avg_ms, max_ms FROM tool_stats":                                                                                                                            "tools/call|echo|node|1|1|0|1.5|1.5\n",
		"SELECT call_id, session, syscalls, files, programs, connections, libraries, gpu FROM call_footprints":                                                                                                                 "1|stdio:4242-4250|7|1|1|1|1|1\n",
		"SELECT julianday(ended_at) > julianday(started_at) FROM tool_calls":                                                                                                                                                   "1\n",
	} {
		if got := query(t, db, q); got != want {
			t.Errorf("%s\n got %q\nwant %q", q, got, want)
		}
	}
	c, err := db.Call(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Request == nil || c.Response == nil || c.Arguments != `{"message":"hi"}` || len(c.Syscalls) != 1 || len(c.Files) != 1 ||
		len(c.Execs) != 1 || *c.Execs[0].ExitCode != 0 || !c.Execs[0].StartedAt.Equal(t0) || len(c.Connections) != 1 ||
		len(c.Libraries) != 1 || len(c.GPU) != 1 || !c.FootprintShare || *c.Summary.UserCPUMs != 12.5 {
		t.Errorf("Call(1) = %+v", c)
	}
	if _, err := db.Call(context.Background(), 99); err == nil || !strings.Contains(err.Error(), "no such call") {
		t.Errorf("Call(99): %v", err)
	}
}

// TestFootprintOfMissingCall: footprint rows for a call that is not in the database are skipped and counted,
// and do not cost the batch they came with.
func TestFootprintOfMissingCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	st := openStore(t, path, Options{})
	b := sampleBatch(st)
	b.Footprints = append(b.Footprints, Footprint{CallID: 999, Files: []File{{Pid: 1, Path: "/x", Result: "ok"}}, UserCPUMs: ptr(1.0)})
	st.Submit(b)
	closeStore(t, st)
	if s := st.Stats(); s.RowsSkipped != 1 || s.RowsWritten != 13 {
		t.Errorf("stats %+v, want 1 skipped and the 13 others written", s)
	}
	if got := query(t, openRO(t, path), "SELECT count(*) FROM files"); got != "1\n" {
		t.Errorf("files: %s", got)
	}
}

// TestReadOnly checks that the engine refuses every way of writing, with an error that says so, and that a
// malformed query gets an error naming the problem.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ro.db")
	st := openStore(t, path, Options{})
	st.Submit(sampleBatch(st))
	closeStore(t, st)
	before, _ := os.ReadDir(dir)
	db := openRO(t, path)
	for _, tc := range []struct{ name, sql, want string }{
		{"insert", "INSERT INTO processes(capture_id, pid, comm, first_seen, last_seen) VALUES(1, 1, 'x', 'a', 'b')", "refused: the statement would change the database"},
		{"update", "UPDATE tool_calls SET status = 'ok'", "refused: the statement would change the database"},
		{"delete", "DELETE FROM messages", "refused: the statement would change the database"},
		{"drop", "DROP TABLE messages", "refused: the statement would change the database"},
		{"create", "CREATE TABLE x(a)", "refused: the statement would change the database"},
		{"attach", "ATTACH '" + filepath.Join(dir, "other.db") + "' AS other", "refused: ATTACH and VACUUM are not allowed"},
		{"vacuum into", "VACUUM INTO '" + filepath.Join(dir, "copy.db") + "'", "refused"},
		{"pragma user_version", "PRAGMA user_version = 7", "refused: the statement would change the database"},
		{"pragma journal_mode", "PRAGMA journal_mode = DELETE", "refused"},
		{"query_only off then write", "PRAGMA query_only = 0; DELETE FROM messages", "refused"},
		{"returning", "DELETE FROM messages RETURNING id", "refused"},
		{"load extension", "SELECT load_extension('/tmp/x.so')", "refused"},
		{"syntax", "SELEC * FROM messages", `near "SELEC": syntax error`},
		{"no such table", "SELECT * FROM nope", "no such table: nope"},
		{"no such column", "SELECT nope FROM messages", "no such column: nope"},
		{"empty", "  ", "no SQL given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Query(context.Background(), tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if got := query(t, db, "SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM tool_calls) || ' ' || (SELECT status FROM tool_calls)"); got != "2 1 ok\n" {
		t.Errorf("database changed: %s", got)
	}
	after, _ := os.ReadDir(dir)
	for _, e := range after {
		if e.Name() == "other.db" || e.Name() == "copy.db" {
			t.Errorf("a query created %s", e.Name())
		}
	}
	if len(after) > len(before)+2 { // the reader may create -wal and -shm
		t.Errorf("files before %v, after %v", before, after)
	}
}

// TestQueryWhileWriting reads the database while a Store writes it (WAL).
func TestQueryWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	st := openStore(t, path, Options{})
	defer closeStore(t, st)
	st.Submit(sampleBatch(st))
	waitFor(t, func() bool { return st.Stats().Commits == 1 })
	db := openRO(t, path)
	if got := query(t, db, "SELECT count(*) FROM messages"); got != "2\n" {
		t.Fatalf("messages: %s", got)
	}
	st.Submit(sampleBatch(st))
	waitFor(t, func() bool { return st.Stats().Commits == 2 })
	if got := query(t, db, "SELECT count(*) FROM messages"); got != "4\n" {
		t.Errorf("messages after the second batch: %s", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

func TestSecondWriterRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.db")
	st := openStore(t, path, Options{})
	defer closeStore(t, st)
	if _, err := Open(context.Background(), path, Options{}); err == nil || !strings.Contains(err.Error(), "being written by another mcpscope") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	closeStore(t, openStore(t, path, Options{}))
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(context.Background(), path, Options{}); err == nil || !strings.Contains(err.Error(), "schema version 99, newer than this mcpscope's") {
		t.Fatalf("Open: %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "text.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not sqlite\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path, Options{}); err == nil || !strings.Contains(err.Error(), "is it an SQLite database?") {
		t.Errorf("Open: %v", err)
	}
	if _, err := OpenReadOnly(context.Background(), path); err == nil || !strings.Contains(err.Error(), "is it an SQLite database?") {
		t.Errorf("OpenReadOnly: %v", err)
	}
	if _, err := OpenReadOnly(context.Background(), filepath.Join(t.TempDir(), "missing.db")); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Errorf("OpenReadOnly of a missing file: %v", err)
	}
}

// TestQueueFull: when batches come faster than the database takes them (here: another connection holds the write
// lock), Submit returns at once and drops, counting every row; nothing is lost silently, and what was queued is
// written once the lock goes.
func TestQueueFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	st := openStore(t, path, Options{QueueBatches: 4})
	blocker, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	blocker.SetMaxOpenConns(1)
	if _, err := blocker.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var submitted, accepted uint64
	start := time.Now()
	for range 50 {
		b := sampleBatch(st)
		rows := uint64(b.Rows())
		submitted += rows
		if st.Submit(b) {
			accepted += rows
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("50 Submits took %v with the database locked; Submit must not wait", took)
	}
	if _, err := blocker.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	closeStore(t, st)
	s := st.Stats()
	if s.RowsDropped == 0 || s.RowsWritten+s.RowsDropped != submitted || s.RowsWritten != accepted {
		t.Errorf("stats %+v: submitted %d rows, %d accepted", s, submitted, accepted)
	}
	db := openRO(t, path)
	if got, want := query(t, db, "SELECT count(*) FROM messages"), fmt.Sprintf("%d\n", accepted/13*2); got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
}

// TestNewBatchRecycles: NewBatch hands back, emptied, a batch the Store has written, and keeps no larger one.
func TestNewBatchRecycles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	st := openStore(t, path, Options{})
	b := sampleBatch(st)
	msgs := b.Messages
	st.Submit(b)
	waitFor(t, func() bool { return st.Stats().Commits == 1 })
	waitFor(t, func() bool { return len(st.free) == 1 })
	got := st.NewBatch()
	if got != b || got.Rows() != 0 || len(got.Messages) != 0 || cap(got.Messages) != cap(msgs) {
		t.Fatalf("NewBatch = %p with %d rows and room for %d messages; want the written batch %p, emptied, its room kept", got, got.Rows(), cap(got.Messages), b)
	}
	if m := msgs[:1][0]; m.Record.Message != nil || m.ID != 0 {
		t.Errorf("a recycled batch still holds its first message: %+v", m)
	}

	big := sampleBatch(st)
	big.Messages = make([]Message, 0, keptRows+1)
	st.Submit(big)
	waitFor(t, func() bool { return st.Stats().Commits == 2 })
	waitFor(t, func() bool { return len(st.free) == 1 })
	if got := st.NewBatch(); got.Messages != nil {
		t.Errorf("NewBatch kept room for %d messages, more than %d", cap(got.Messages), keptRows)
	}
	closeStore(t, st)
}

// TestCommitsGrouped: batches that come within DefaultCommitEvery of a commit go into the next one, a lone batch after a
// quiet spell is committed at once, and nothing is lost either way.
func TestCommitsGrouped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	st := openStore(t, path, Options{})
	st.Submit(sampleBatch(st))
	waitFor(t, func() bool { return st.Stats().Commits == 1 })
	const batches = 20
	for range batches {
		st.Submit(sampleBatch(st))
		time.Sleep(time.Millisecond)
	}
	waitFor(t, func() bool { return st.Stats().RowsWritten == (batches+1)*13 })
	// 20 batches a millisecond apart: all in one or two commits, unless the machine stalled for DefaultCommitEvery
	// between submits, several times over.
	if c := st.Stats().Commits; c > 1+batches/2 {
		t.Errorf("%d commits for %d batches a millisecond apart; want them grouped", c-1, batches)
	}
	time.Sleep(2 * DefaultCommitEvery)
	commits := st.Stats().Commits
	st.Submit(sampleBatch(st))
	waitFor(t, func() bool { return st.Stats().Commits == commits+1 })
	closeStore(t, st)
	db := openRO(t, path)
	if got, want := query(t, db, "SELECT count(*) FROM messages"), fmt.Sprintf("%d\n", (batches+2)*2); got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
}
